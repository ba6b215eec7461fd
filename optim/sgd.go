package optim

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/swav-go/swav/internal/precision"
)

// MomentumScope is the absolute scope under which the momentum buffers live: the
// buffer of variable "/a/b/w" is "/sgd_momentum/a/b/w_momentum". They are
// non-trainable context variables, so they are checkpointed with the model.
const MomentumScope = "sgd_momentum"

// SGDConfig configures [SGD].
type SGDConfig struct {
	// Momentum is μ, the momentum coefficient (reference 0.9). With 0 no buffer is kept.
	Momentum float64

	// WeightDecay is the L2 coefficient wd added to the gradient, g + wd·w
	// (reference 1e-6). Under [LARS] it is folded into the LARS step instead.
	WeightDecay float64

	// InitialLearningRate is the value the learning-rate variable is created with
	// if the step graph is built before any [SetLearningRate] call. The training
	// loop is expected to set the learning rate before every step anyway.
	InitialLearningRate float64

	// Freeze lists variables to keep unchanged during the first iterations
	// (the reference freezes the prototypes: FreezeByName("prototypes", n)).
	Freeze []Freeze
}

// ReferenceSGDConfig returns the reference's SGD settings: μ = 0.9, wd = 1e-6,
// without freezing (add FreezeByName("prototypes", freeze_prototypes_niters)).
func ReferenceSGDConfig() SGDConfig {
	return SGDConfig{Momentum: 0.9, WeightDecay: 1e-6}
}

// SGD is stochastic gradient descent with momentum, in PyTorch's formulation
// (torch.optim.SGD, dampening 0, no Nesterov), for every trainable variable used
// by the graph:
//
//	d = g + wd·w
//	v = μ·v + d          (v starts at 0)
//	w = w − lr·v
//
// lr is read at every step from the learning-rate variable (see [SetLearningRate]).
// Each step increments the global step; variables matched by an active [Freeze]
// rule are left unchanged, momentum included.
//
// Half-precision variables are updated in float32 (their momentum buffers are
// float32); float32 and float64 variables in their own dtype.
//
// SGD implements optimizers.Interface and train.OptimizeWithGradients.
type SGD struct {
	cfg SGDConfig
}

// NewSGD validates cfg and returns the optimiser.
func NewSGD(cfg SGDConfig) (*SGD, error) {
	if !finiteNonNegative(cfg.Momentum) || cfg.Momentum >= 1 {
		return nil, fmt.Errorf("optim.NewSGD: Momentum (μ) must be in [0, 1), got %g", cfg.Momentum)
	}
	if !finiteNonNegative(cfg.WeightDecay) {
		return nil, fmt.Errorf("optim.NewSGD: WeightDecay must be finite and >= 0, got %g", cfg.WeightDecay)
	}
	if !finiteNonNegative(cfg.InitialLearningRate) {
		return nil, fmt.Errorf("optim.NewSGD: InitialLearningRate must be finite and >= 0, got %g", cfg.InitialLearningRate)
	}
	for i, f := range cfg.Freeze {
		if err := f.validate(i); err != nil {
			return nil, fmt.Errorf("optim.NewSGD: %w", err)
		}
	}
	cfg.Freeze = append([]Freeze(nil), cfg.Freeze...)
	return &SGD{cfg: cfg}, nil
}

// Config returns a copy of the optimiser's configuration.
func (o *SGD) Config() SGDConfig {
	cfg := o.cfg
	cfg.Freeze = append([]Freeze(nil), cfg.Freeze...)
	return cfg
}

// UpdateGraph builds the update of all trainable variables used by g for the
// scalar loss. It implements optimizers.Interface; it panics on error.
func (o *SGD) UpdateGraph(ctx *context.Context, g *graph.Graph, loss *graph.Node) {
	checkLoss("SGD", g, loss)
	o.UpdateGraphWithGradients(ctx, ctx.BuildTrainableVariablesGradientsGraph(loss), loss.DType())
}

// UpdateGraphWithGradients is UpdateGraph from precomputed gradients, in the
// order of Context.BuildTrainableVariablesGradientsGraph. It implements
// train.OptimizeWithGradients.
func (o *SGD) UpdateGraphWithGradients(ctx *context.Context, grads []*graph.Node, lossDType dtypes.DType) {
	o.apply(ctx, grads, lossDType, func(w, grad *graph.Node) *graph.Node {
		if o.cfg.WeightDecay == 0 {
			return grad
		}
		return graph.Add(grad, graph.MulScalar(w, o.cfg.WeightDecay))
	})
}

// Clear deletes the momentum buffers (everything under [MomentumScope]). The
// global step and the learning rate are kept. It implements optimizers.Interface.
func (o *SGD) Clear(ctx *context.Context) error {
	if err := ctx.InAbsPath(context.ScopeSeparator + MomentumScope).DeleteVariablesInScope(); err != nil {
		return fmt.Errorf("optim.SGD.Clear: deleting %s: %w", MomentumScope, err)
	}
	return nil
}

// apply runs the momentum update with direction(w, g) as the vector d entering the
// momentum buffer (g + wd·w for SGD; the LARS-scaled gradient for LARS).
func (o *SGD) apply(ctx *context.Context, grads []*graph.Node, lossDType dtypes.DType, direction func(w, grad *graph.Node) *graph.Node) {
	if len(grads) == 0 {
		panic(fmt.Errorf("optim: no gradients: the graph uses no trainable variable"))
	}
	g := grads[0].Graph()

	// Variables to update, in the order BuildTrainableVariablesGradientsGraph used.
	var vars []*context.Variable
	for v := range ctx.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
		}
	}
	if len(vars) != len(grads) {
		panic(fmt.Errorf("optim: %d gradients for %d trainable variables in use: were variables created or "+
			"their Trainable flag changed after the gradients were built?", len(grads), len(vars)))
	}

	// Iteration index of this step: the global step before its increment.
	stepVar := optimizers.GetGlobalStepVar(ctx)
	iteration := stepVar.ValueGraph(g)
	if iteration.DType() != dtypes.Int64 {
		iteration = graph.ConvertDType(iteration, dtypes.Int64)
	}
	stepVar.SetValueGraph(graph.ConvertDType(graph.AddScalar(iteration, 1), stepVar.DType()))
	lr := learningRateNode(ctx, g, lossDType, o.cfg.InitialLearningRate)

	for i, v := range vars {
		if !v.DType().IsFloat() {
			panic(fmt.Errorf("optim: trainable variable %s has non-float dtype %s", v.ScopeAndName(), v.DType()))
		}
		dtype := precision.Compute(v.DType())
		w := graph.ConvertDType(v.ValueGraph(g), dtype)
		step := direction(w, graph.ConvertDType(grads[i], dtype))

		var momentumVar *context.Variable
		var momentum, nextMomentum *graph.Node
		if o.cfg.Momentum != 0 {
			momentumVar = momentumVariable(ctx, v, dtype)
			momentum = momentumVar.ValueGraph(g)
			nextMomentum = graph.Add(graph.MulScalar(momentum, o.cfg.Momentum), step)
			step = nextMomentum
		}
		next := graph.Sub(w, graph.Mul(graph.ConvertDType(lr, dtype), step))

		if frozen := frozenNode(o.cfg.Freeze, v, iteration); frozen != nil {
			next = graph.Where(frozen, w, next)
			if momentumVar != nil {
				nextMomentum = graph.Where(frozen, momentum, nextMomentum)
			}
		}
		v.SetValueGraph(graph.ConvertDType(next, v.DType()))
		if momentumVar != nil {
			momentumVar.SetValueGraph(nextMomentum)
		}
	}
}

// momentumVariable returns (creating it zero-initialised if needed) the momentum
// buffer of v, in dtype.
func momentumVariable(ctx *context.Context, v *context.Variable, dtype dtypes.DType) *context.Variable {
	scope := context.ScopeSeparator + MomentumScope
	if v.Scope() != context.RootScope {
		scope += v.Scope()
	}
	shape := v.Shape().Clone()
	shape.DType = dtype
	return ctx.Checked(false).InAbsPath(scope).WithInitializer(initializers.Zero).
		VariableWithShape(v.Name()+"_momentum", shape).SetTrainable(false)
}

// checkLoss panics unless loss is a float scalar of graph g.
func checkLoss(name string, g *graph.Graph, loss *graph.Node) {
	if loss == nil || !loss.IsScalar() || !loss.DType().IsFloat() {
		panic(fmt.Errorf("optim.%s: the loss must be a float scalar", name))
	}
	if loss.Graph() != g {
		panic(fmt.Errorf("optim.%s: the loss belongs to another graph", name))
	}
}

func finiteNonNegative(x float64) bool {
	return !math.IsNaN(x) && !math.IsInf(x, 0) && x >= 0
}
