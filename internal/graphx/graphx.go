// Package graphx extends GoMLX v0.26.0's graph package with the gradients it lacks, through
// its public extension point graph.VJPRegistration, without forking GoMLX.
//
// Importing the package registers the extensions (GoMLX's registry is process-wide); the
// model package imports it, so every graph built by this project has them. Register may be
// called again; it is idempotent.
//
// Registered:
//   - Rsqrt: d/dx x^(-1/2) = -1/2 · x^(-3/2) = -1/2 · y³, where y = Rsqrt(x).
package graphx

import (
	"sync"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

var registerOnce sync.Once

func init() { Register() }

// Register adds this package's VJPs to graph.VJPRegistration. It is safe to call many
// times and from many goroutines; it does not replace a VJP GoMLX already defines.
func Register() {
	registerOnce.Do(func() {
		if _, ok := graph.VJPRegistration[graph.NodeTypeRsqrt]; !ok {
			graph.VJPRegistration[graph.NodeTypeRsqrt] = singleOutput(rsqrtVJP)
		}
	})
}

func singleOutput(fn func(node, v *graph.Node) *graph.Node) graph.VJP {
	return func(node *graph.Node, vjpOutputs []*graph.Node, _ shapes.Shape) []*graph.Node {
		return []*graph.Node{fn(node, vjpOutputs[0])}
	}
}

// rsqrtVJP: y = x^(-1/2) ⇒ dy/dx = -1/2 · y³.
func rsqrtVJP(node, v *graph.Node) *graph.Node {
	y := node
	return graph.Mul(v, graph.MulScalar(graph.Mul(y, graph.Mul(y, y)), -0.5))
}
