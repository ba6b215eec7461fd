package trainer

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/optim"
	"github.com/swav-go/swav/pretrain/method"
)

// updater is the optimiser's graph interface (optim.SGD and optim.LARS).
type updater interface {
	UpdateGraph(ctx *context.Context, g *Graph, loss *Node)
}

// newOptimizer builds SGD with momentum, wrapped in LARS unless disabled, with the
// method's variables frozen for their first iterations.
func newOptimizer(o Options, m method.Optimizer) (updater, error) {
	cfg := optim.ReferenceSGDConfig()
	cfg.Momentum = o.Momentum
	cfg.WeightDecay = o.WeightDecay
	cfg.Freeze = m.Freeze
	sgd, err := optim.NewSGD(cfg)
	if err != nil {
		return nil, err
	}
	if o.NoLARS {
		return sgd, nil
	}
	lcfg := optim.DefaultLARSConfig()
	lcfg.TrustCoefficient = o.TrustCoefficient
	return optim.NewLARS(sgd, lcfg)
}

// metric kinds, for the metrics file: how a metric's value is written.
const (
	kindFloat = iota
	kindInt
	kindBool
)

// stepGraph is one training step. inputs holds the method's step inputs, then the
// batch's image indices [B] (int32), then one tensor per view group. It returns the
// loss and the method's metrics.
func (t *trainer) stepGraph(ctx *context.Context, inputs []*Node) []*Node {
	if len(inputs) != t.numInputs+1+len(t.groups) {
		panic(fmt.Sprintf("pretrain: internal: %d step inputs, want %d", len(inputs), t.numInputs+1+len(t.groups)))
	}
	b := method.Batch{
		Inputs:    inputs[:t.numInputs],
		Indices:   inputs[t.numInputs],
		Views:     inputs[t.numInputs+1:],
		BatchSize: t.opts.BatchSize,
	}
	out := t.method.Step(ctx, b)
	if out.Loss == nil || out.Loss.Rank() != 0 {
		panic(fmt.Sprintf("pretrain: method %s: the loss must be a scalar", t.method.Name()))
	}
	if len(out.Metrics) != len(t.metricNames) {
		panic(fmt.Sprintf("pretrain: method %s: %d metric values for the metrics %v", t.method.Name(), len(out.Metrics), t.metricNames))
	}
	t.optimizer.UpdateGraph(ctx, out.Loss.Graph(), out.Loss)
	if out.PostUpdate != nil {
		out.PostUpdate(ctx)
	}
	t.metricKinds = make([]int, len(out.Metrics))
	for i, m := range out.Metrics {
		if m.Rank() != 0 {
			panic(fmt.Sprintf("pretrain: method %s: metric %s is not a scalar", t.method.Name(), t.metricNames[i]))
		}
		switch dt := m.DType(); {
		case dt == dtypes.Bool:
			t.metricKinds[i] = kindBool
		case dt.IsInt():
			t.metricKinds[i] = kindInt
		case dt.IsFloat():
			t.metricKinds[i] = kindFloat
		default:
			panic(fmt.Sprintf("pretrain: method %s: metric %s has dtype %s", t.method.Name(), t.metricNames[i], dt))
		}
	}
	return append([]*Node{out.Loss}, out.Metrics...)
}

// readOutputs reads the step's loss and metrics as float64 (booleans as 0 or 1).
func (t *trainer) readOutputs(outs []*tensors.Tensor) (float64, []float64, error) {
	if len(outs) != 1+len(t.metricNames) {
		return 0, nil, fmt.Errorf("%d outputs, want %d", len(outs), 1+len(t.metricNames))
	}
	vals := make([]float64, len(outs))
	for i, o := range outs {
		v, err := scalar(o)
		if err != nil {
			name := "loss"
			if i > 0 {
				name = t.metricNames[i-1]
			}
			return 0, nil, fmt.Errorf("%s: %w", name, err)
		}
		vals[i] = v
	}
	return vals[0], vals[1:], nil
}

// scalar converts a scalar tensor of any numeric or boolean dtype to float64.
func scalar(x *tensors.Tensor) (float64, error) {
	var v float64
	var err error
	ferr := x.ConstFlatData(func(flat any) {
		switch d := flat.(type) {
		case []float32:
			v = float64(d[0])
		case []float64:
			v = d[0]
		case []int32:
			v = float64(d[0])
		case []int64:
			v = float64(d[0])
		case []bool:
			if d[0] {
				v = 1
			}
		default:
			err = fmt.Errorf("unsupported dtype %s", x.DType())
		}
	})
	if ferr != nil {
		return 0, ferr
	}
	return v, err
}
