package optim

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/swav-go/swav/internal/panics"
)

// SetLearningRate sets, on the host, the learning rate the next training steps
// use: the scalar variable "learning_rate" (optimizers.ParamLearningRate) in the
// "optimizers" sub-scope (optimizers.Scope) of ctx's current scope, i.e.
// "/optimizers/learning_rate" for the root ctx given to the optimiser. Call it
// before each step with Schedule.At(iteration).
//
// An existing variable keeps its dtype (the optimiser creates it with the loss
// dtype); if it does not exist yet it is created as float32, which the optimiser
// converts to each variable's dtype. It returns an error for a negative or
// non-finite lr.
func SetLearningRate(ctx *context.Context, lr float64) error {
	if math.IsNaN(lr) || math.IsInf(lr, 0) || lr < 0 {
		return fmt.Errorf("optim.SetLearningRate: learning rate must be finite and >= 0, got %g", lr)
	}
	lrCtx := ctx.Checked(false).In(optimizers.Scope)
	v := lrCtx.GetVariableByScopeAndName(lrCtx.Scope(), optimizers.ParamLearningRate)
	if v == nil {
		err := panics.Catch(func() {
			lrCtx.VariableWithValue(optimizers.ParamLearningRate, float32(lr)).SetTrainable(false)
		})
		if err != nil {
			return fmt.Errorf("optim.SetLearningRate: creating %s/%s: %w", lrCtx.Scope(), optimizers.ParamLearningRate, err)
		}
		return nil
	}
	var value *tensors.Tensor
	err := panics.Catch(func() { value = tensors.FromAnyValue(shapes.CastAsDType(lr, v.DType())) })
	if err == nil {
		err = v.SetValue(value)
	}
	if err != nil {
		return fmt.Errorf("optim.SetLearningRate: setting %s to %g: %w", v.ScopeAndName(), lr, err)
	}
	return nil
}

// learningRateNode returns the learning rate for the graph (in the variable's
// dtype), reading the variable SetLearningRate writes. If the variable does not
// exist it is created with lossDType and the value initial.
func learningRateNode(ctx *context.Context, g *graph.Graph, lossDType dtypes.DType, initial float64) *graph.Node {
	lrCtx := ctx.Checked(false).In(optimizers.Scope)
	v := lrCtx.GetVariableByScopeAndName(lrCtx.Scope(), optimizers.ParamLearningRate)
	if v == nil {
		v = lrCtx.VariableWithValue(optimizers.ParamLearningRate, shapes.CastAsDType(initial, lossDType)).SetTrainable(false)
	}
	lr := v.ValueGraph(g)
	if !lr.IsScalar() || !lr.DType().IsFloat() {
		panic(fmt.Errorf("optim: learning-rate variable %s must be a float scalar, got %s", v.ScopeAndName(), lr.Shape()))
	}
	return lr
}
