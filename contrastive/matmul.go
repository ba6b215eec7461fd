package contrastive

import "github.com/gomlx/gomlx/pkg/core/graph"

// similarities returns a·bᵀ for a [n, d] and b [k, d] (all pairwise inner products,
// [n, k]), computed as a 1×1 convolution of a viewed as [n, 1, 1, d] with the kernel
// bᵀ, as package model's linear layers: GoMLX v0.26.0 differentiates DotGeneral by
// broadcasting both operands to [n, k, d] (for MoCo's 256 queries against a queue of
// 4096 keys of 128 values, 134 M elements per operand), while a convolution's
// gradients are convolutions, which the backends run as matrix products.
func similarities(a, b *graph.Node) *graph.Node {
	n, d := a.Shape().Dim(0), a.Shape().Dim(1)
	k := b.Shape().Dim(0)
	kernel := graph.Reshape(graph.Transpose(b, 0, 1), 1, 1, d, k)
	y := graph.Convolve(graph.Reshape(a, n, 1, 1, d), kernel).
		StridePerAxis(1, 1).
		DilationPerAxis(1, 1).
		PaddingPerDim([][2]int{{0, 0}, {0, 0}}).
		Done()
	return graph.Reshape(y, n, k)
}
