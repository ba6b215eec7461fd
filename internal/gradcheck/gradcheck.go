// Package gradcheck compares GoMLX's symbolic gradients with central finite differences.
// It is test support for the packages that add ops, gradients or layers.
package gradcheck

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Options tune Check. Zero values take the defaults.
type Options struct {
	Eps     float64 // finite-difference step (default 1e-5)
	Tol     float64 // allowed |analytic − numeric| / max(1, |numeric|) (default 1e-6)
	Samples int     // coordinates checked per input, chosen at random (default 24; all when the input is smaller)
	Seed    uint64  // coordinate sampling seed
}

// Check evaluates the gradient of the scalar f with respect to each float64 input by
// graph.Gradient and by central differences at sampled coordinates, and returns an error
// naming the first coordinate that disagrees.
func Check(backend backends.Backend, f func(inputs []*Node) *Node, inputs [][]float64, dims [][]int, opts Options) error {
	if opts.Eps == 0 {
		opts.Eps = 1e-5
	}
	if opts.Tol == 0 {
		opts.Tol = 1e-6
	}
	if opts.Samples == 0 {
		opts.Samples = 24
	}
	n := len(inputs)
	gradExec, err := NewExec(backend, func(params []*Node) []*Node {
		y := f(params)
		return append([]*Node{y}, Gradient(y, params...)...)
	})
	if err != nil {
		return err
	}
	defer gradExec.Finalize()
	lossExec, err := NewExec(backend, func(params []*Node) *Node { return f(params) })
	if err != nil {
		return err
	}
	defer lossExec.Finalize()

	args := func(vals [][]float64) []any {
		a := make([]any, n)
		for i := range vals {
			a[i] = tensors.FromFlatDataAndDimensions(vals[i], dims[i]...)
		}
		return a
	}
	outs, err := gradExec.Exec(args(inputs)...)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 7))
	work := make([][]float64, n)
	for i := range inputs {
		work[i] = append([]float64(nil), inputs[i]...)
	}
	loss := func() (float64, error) {
		out, err := lossExec.Exec1(args(work)...)
		if err != nil {
			return 0, err
		}
		return tensors.MustCopyFlatData[float64](out)[0], nil
	}
	for i := range inputs {
		analytic := tensors.MustCopyFlatData[float64](outs[1+i])
		coords := rng.Perm(len(inputs[i]))
		if len(coords) > opts.Samples {
			coords = coords[:opts.Samples]
		}
		for _, c := range coords {
			orig := work[i][c]
			work[i][c] = orig + opts.Eps
			up, err := loss()
			if err != nil {
				return err
			}
			work[i][c] = orig - opts.Eps
			down, err := loss()
			if err != nil {
				return err
			}
			work[i][c] = orig
			numeric := (up - down) / (2 * opts.Eps)
			if diff := math.Abs(analytic[c] - numeric); diff > opts.Tol*math.Max(1, math.Abs(numeric)) {
				return fmt.Errorf("gradcheck: input %d coordinate %d: analytic %.10g, numeric %.10g (diff %.3g)", i, c, analytic[c], numeric, diff)
			}
		}
	}
	return nil
}

// Random returns n values uniform in [-1, 1) from a seeded generator.
func Random(seed uint64, n int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 11))
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*rng.Float64() - 1
	}
	return v
}
