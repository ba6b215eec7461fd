package optim

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// LARSConfig configures [LARS].
type LARSConfig struct {
	// TrustCoefficient is η (reference 0.001).
	TrustCoefficient float64
	// Epsilon is added to the denominator of the adaptive rate (apex default 1e-8).
	Epsilon float64
}

// DefaultLARSConfig returns the reference's settings: η = 0.001, ε = 1e-8.
func DefaultLARSConfig() LARSConfig {
	return LARSConfig{TrustCoefficient: 0.001, Epsilon: 1e-8}
}

// LARS wraps [SGD] as the reference wraps torch SGD in apex's LARC with
// trust_coefficient η and clip=False. For every trainable variable w with
// gradient g, taking wd from the inner SGD:
//
//	if ‖w‖ > 0 and ‖g‖ > 0:
//	    adaptive = η·‖w‖ / (‖g‖ + ‖w‖·wd + ε)
//	    d = (g + wd·w)·adaptive
//	else:
//	    d = g                      (no scaling and no weight decay, as apex)
//	v = μ·v + d;  w = w − lr·v     (the inner SGD, with its weight decay set to 0)
//
// Norms are L2 norms over the whole tensor. LARS applies to every trainable
// variable, biases and batch-norm scales/offsets included, as in the reference
// (which passes model.parameters() to LARC); a zero-initialised bias takes a plain
// SGD step until its norm becomes non-zero. Freezing, the learning rate and the
// global step behave as for the inner SGD; a frozen variable is untouched.
//
// LARS implements optimizers.Interface and train.OptimizeWithGradients.
type LARS struct {
	inner *SGD
	cfg   LARSConfig
}

// NewLARS validates cfg and wraps inner.
func NewLARS(inner *SGD, cfg LARSConfig) (*LARS, error) {
	if inner == nil {
		return nil, fmt.Errorf("optim.NewLARS: inner SGD is nil")
	}
	if !finiteNonNegative(cfg.TrustCoefficient) || cfg.TrustCoefficient == 0 {
		return nil, fmt.Errorf("optim.NewLARS: TrustCoefficient (η) must be finite and > 0, got %g", cfg.TrustCoefficient)
	}
	if !finiteNonNegative(cfg.Epsilon) {
		return nil, fmt.Errorf("optim.NewLARS: Epsilon must be finite and >= 0, got %g", cfg.Epsilon)
	}
	return &LARS{inner: inner, cfg: cfg}, nil
}

// Config returns the LARS configuration.
func (o *LARS) Config() LARSConfig { return o.cfg }

// Inner returns the wrapped SGD.
func (o *LARS) Inner() *SGD { return o.inner }

// UpdateGraph builds the update of all trainable variables used by g for the
// scalar loss. It implements optimizers.Interface; it panics on error.
func (o *LARS) UpdateGraph(ctx *context.Context, g *graph.Graph, loss *graph.Node) {
	checkLoss("LARS", g, loss)
	o.UpdateGraphWithGradients(ctx, ctx.BuildTrainableVariablesGradientsGraph(loss), loss.DType())
}

// UpdateGraphWithGradients is UpdateGraph from precomputed gradients, in the
// order of Context.BuildTrainableVariablesGradientsGraph. It implements
// train.OptimizeWithGradients.
func (o *LARS) UpdateGraphWithGradients(ctx *context.Context, grads []*graph.Node, lossDType dtypes.DType) {
	weightDecay := o.inner.cfg.WeightDecay
	o.inner.apply(ctx, grads, lossDType, func(w, grad *graph.Node) *graph.Node {
		return larsDirection(w, grad, weightDecay, o.cfg)
	})
}

// Clear deletes the inner SGD's momentum buffers. It implements optimizers.Interface.
func (o *LARS) Clear(ctx *context.Context) error {
	return o.inner.Clear(ctx)
}

// larsDirection is apex LARC's gradient rewrite (clip=False) for one tensor.
func larsDirection(w, grad *graph.Node, weightDecay float64, cfg LARSConfig) *graph.Node {
	paramNorm := graph.Sqrt(graph.ReduceAllSum(graph.Square(w)))
	gradNorm := graph.Sqrt(graph.ReduceAllSum(graph.Square(grad)))
	zero := graph.ScalarZero(w.Graph(), w.DType())
	apply := graph.LogicalAnd(graph.GreaterThan(paramNorm, zero), graph.GreaterThan(gradNorm, zero))

	// η·‖w‖ / (‖g‖ + ‖w‖·wd + ε); finite even when a norm is 0 (then unused).
	denominator := graph.AddScalar(graph.Add(gradNorm, graph.MulScalar(paramNorm, weightDecay)), cfg.Epsilon)
	adaptive := graph.Div(graph.MulScalar(paramNorm, cfg.TrustCoefficient), denominator)
	decayed := grad
	if weightDecay != 0 {
		decayed = graph.Add(grad, graph.MulScalar(w, weightDecay))
	}
	return graph.Where(apply, graph.Mul(decayed, adaptive), grad)
}
