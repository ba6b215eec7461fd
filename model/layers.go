package model

import (
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"

	_ "github.com/swav-go/swav/internal/graphx" // Rsqrt gradient, used by batch norm.
)

// Variable names inside a layer's scope.
const (
	KernelVar      = "kernel"       // conv [kh, kw, in, out] or linear [in, out]
	BiasVar        = "bias"         // linear and batch-norm bias (β)
	WeightVar      = "weight"       // batch-norm scale (γ)
	RunningMeanVar = "running_mean" // batch-norm running mean
	RunningVarVar  = "running_var"  // batch-norm running (unbiased) variance
)

// conv2d is a bias-free 2-D convolution in NHWC with explicit stride, symmetric padding
// and dilation 1, initialised Kaiming-normal with fan-out (std = √(2 / (k·k·out))), as the
// reference. Strides and dilations are always given: GoMLX v0.26.0 turns nil strides into
// stride 0 and crashes on strided-conv gradients with empty kernel dilations.
func conv2d(ctx *context.Context, x *Node, out, k, stride, pad int) *Node {
	in := x.Shape().Dimensions[3]
	std := math.Sqrt(2.0 / float64(k*k*out))
	kernel := ctx.WithInitializer(initializers.RandomNormalFn(ctx, std)).
		VariableWithShape(KernelVar, shapes.Make(x.DType(), k, k, in, out)).ValueGraph(x.Graph())
	return Convolve(x, kernel).
		StridePerAxis(stride, stride).
		DilationPerAxis(1, 1).
		PaddingPerDim([][2]int{{pad, pad}, {pad, pad}}).
		Done()
}

// linear is a dense layer x·W (+ b) with W [in, out], initialised as PyTorch's nn.Linear:
// U(−1/√in, 1/√in) for weights and bias.
func linear(ctx *context.Context, x *Node, out int, bias bool) *Node {
	in := x.Shape().Dimensions[x.Rank()-1]
	w := linearKernel(ctx, in, out, x.DType()).ValueGraph(x.Graph())
	y := matmul(x, w)
	if bias {
		bound := 1 / math.Sqrt(float64(in))
		b := ctx.WithInitializer(initializers.RandomUniformFn(ctx, -bound, bound)).
			VariableWithShape(BiasVar, shapes.Make(x.DType(), out)).ValueGraph(x.Graph())
		y = Add(y, ExpandLeftToRank(b, y.Rank()))
	}
	return y
}

// matmul returns x·w for x [n, in] and w [in, out], computed as a 1×1 convolution of
// x viewed as [n, 1, 1, in]. The values are those of Dot; the point is the gradient:
// GoMLX v0.26.0 differentiates Dot and DotGeneral by broadcasting both operands to
// [n, in, out], multiplying and reducing (for the SwAV head, 25 M elements per
// product and operand), while a convolution's gradients are convolutions, which
// backends run as matrix products.
func matmul(x, w *Node) *Node {
	n, in := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	out := w.Shape().Dimensions[1]
	y := Convolve(Reshape(x, n, 1, 1, in), Reshape(w, 1, 1, in, out)).
		StridePerAxis(1, 1).
		DilationPerAxis(1, 1).
		PaddingPerDim([][2]int{{0, 0}, {0, 0}}).
		Done()
	return Reshape(y, n, out)
}

// linearKernel is a linear layer's weight [in, out], initialised U(−1/√in, 1/√in).
func linearKernel(ctx *context.Context, in, out int, dtype dtypes.DType) *context.Variable {
	bound := 1 / math.Sqrt(float64(in))
	return ctx.WithInitializer(initializers.RandomUniformFn(ctx, -bound, bound)).
		VariableWithShape(KernelVar, shapes.Make(dtype, in, out))
}

// batchNorm normalises over every axis but the last (channels), written from plain ops
// (GoMLX's pure-Go backend has no batch-norm ops). In training it uses the batch's biased
// variance and updates the running estimates with PyTorch's rule
// r ← (1−m)·r + m·stat, the variance estimate being unbiased (n/(n−1)); in evaluation it
// uses the running estimates.
func batchNorm(ctx *context.Context, x *Node, momentum, epsilon float64, train bool) *Node {
	g := x.Graph()
	c := x.Shape().Dimensions[x.Rank()-1]
	dtype := x.DType()
	gamma := ctx.WithInitializer(initializers.One).VariableWithShape(WeightVar, shapes.Make(dtype, c))
	beta := ctx.WithInitializer(initializers.Zero).VariableWithShape(BiasVar, shapes.Make(dtype, c))
	runMean := ctx.WithInitializer(initializers.Zero).VariableWithShape(RunningMeanVar, shapes.Make(dtype, c)).SetTrainable(false)
	runVar := ctx.WithInitializer(initializers.One).VariableWithShape(RunningVarVar, shapes.Make(dtype, c)).SetTrainable(false)

	var y *Node
	if train {
		var mean, variance *Node
		y, mean, variance = normalizeBatch(x, gamma.ValueGraph(g), beta.ValueGraph(g), epsilon)
		n := x.Shape().Size() / c
		unbiased := variance
		if n > 1 {
			unbiased = MulScalar(variance, float64(n)/float64(n-1))
		}
		m := momentum
		runMean.SetValueGraph(Add(MulScalar(runMean.ValueGraph(g), 1-m), MulScalar(StopGradient(mean), m)))
		runVar.SetValueGraph(Add(MulScalar(runVar.ValueGraph(g), 1-m), MulScalar(StopGradient(unbiased), m)))
	} else {
		y = affineNorm(x, runMean.ValueGraph(g), runVar.ValueGraph(g), gamma.ValueGraph(g), beta.ValueGraph(g), epsilon)
	}
	return y
}

// normalizeBatch normalises x with its own statistics over every axis but the last and
// returns the output with the batch mean and biased variance.
func normalizeBatch(x, gamma, beta *Node, epsilon float64) (y, mean, variance *Node) {
	axes := make([]int, x.Rank()-1)
	for i := range axes {
		axes[i] = i
	}
	mean = ReduceMean(x, axes...)
	centred := Sub(x, ExpandLeftToRank(mean, x.Rank()))
	variance = ReduceMean(Square(centred), axes...)
	return affineNorm(x, mean, variance, gamma, beta, epsilon), mean, variance
}

// affineNorm computes (x − mean)·γ/√(var + ε) + β per channel (last axis).
func affineNorm(x, mean, variance, gamma, beta *Node, epsilon float64) *Node {
	scale := Mul(Rsqrt(AddScalar(variance, epsilon)), gamma)
	shift := Sub(beta, Mul(mean, scale))
	return Add(Mul(x, ExpandLeftToRank(scale, x.Rank())), ExpandLeftToRank(shift, x.Rank()))
}

func relu(x *Node) *Node { return Max(x, ZerosLike(x)) }
