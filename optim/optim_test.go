package optim

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/dtypes/bfloat16"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// Both optimisers plug into GoMLX's trainer, gradient accumulation included.
var (
	_ optimizers.Interface        = (*SGD)(nil)
	_ optimizers.Interface        = (*LARS)(nil)
	_ train.OptimizeWithGradients = (*SGD)(nil)
	_ train.OptimizeWithGradients = (*LARS)(nil)
)

const handTolerance = 1e-6

func newBackend(t *testing.T) backends.Backend {
	t.Helper()
	b, err := backends.NewWithConfig("go:ops_sequential")
	if err != nil {
		t.Fatalf("creating simplego backend: %v", err)
	}
	t.Cleanup(b.Finalize)
	return b
}

// linearParam is a trainable 2-element variable under /model/<scope>/<name>
// entering the loss as Σ grad·w, so that d loss/d w = grad, a known constant.
type linearParam struct {
	scope, name string
	init, grad  []float64
}

// stepper builds a context holding the params and an executor running one
// optimiser step per Exec call (the graph is built on the first call).
type stepper struct {
	t      *testing.T
	ctx    *context.Context
	exec   *context.Exec
	params []linearParam
}

func newStepper(t *testing.T, opt optimizers.Interface, dtype dtypes.DType, params ...linearParam) *stepper {
	t.Helper()
	ctx := context.New()
	exec, err := context.NewExec(newBackend(t), ctx, func(ctx *context.Context, g *graph.Graph) *graph.Node {
		var loss *graph.Node
		for _, p := range params {
			init := make([]float64, len(p.init))
			copy(init, p.init)
			v := ctx.In("model").In(p.scope).VariableWithValue(p.name, convertSlice(init, dtype))
			term := graph.ReduceAllSum(graph.Mul(v.ValueGraph(g), graph.Const(g, convertSlice(p.grad, dtype))))
			if loss == nil {
				loss = term
			} else {
				loss = graph.Add(loss, term)
			}
		}
		opt.UpdateGraph(ctx, g, loss)
		return loss
	})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	return &stepper{t: t, ctx: ctx, exec: exec, params: params}
}

// step sets the learning rate as a training loop does, then runs one step.
func (s *stepper) step(lr float64) {
	s.t.Helper()
	if err := SetLearningRate(s.ctx, lr); err != nil {
		s.t.Fatalf("SetLearningRate: %v", err)
	}
	if _, err := s.exec.Exec(); err != nil {
		s.t.Fatalf("step: %v", err)
	}
}

// value reads a variable as float64 values.
func (s *stepper) value(scope, name string) []float64 {
	s.t.Helper()
	v := s.ctx.GetVariableByScopeAndName(scope, name)
	if v == nil {
		s.t.Fatalf("variable %s/%s not found", scope, name)
	}
	switch x := v.MustValue().Value().(type) {
	case []float64:
		return x
	case []float32:
		out := make([]float64, len(x))
		for i, e := range x {
			out[i] = float64(e)
		}
		return out
	case []bfloat16.BFloat16:
		out := make([]float64, len(x))
		for i, e := range x {
			out[i] = float64(e.Float32())
		}
		return out
	}
	s.t.Fatalf("variable %s/%s has unexpected value %v", scope, name, v.MustValue())
	return nil
}

func (s *stepper) param(name string) []float64 {
	for _, p := range s.params {
		if p.name == name {
			return s.value("/model/"+p.scope, name)
		}
	}
	s.t.Fatalf("no param %q", name)
	return nil
}

func (s *stepper) momentum(name string) []float64 {
	for _, p := range s.params {
		if p.name == name {
			return s.value("/"+MomentumScope+"/model/"+p.scope, name+"_momentum")
		}
	}
	s.t.Fatalf("no param %q", name)
	return nil
}

func assertValues(t *testing.T, what string, got, want []float64, tolerance float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(got[i] - want[i]); !(d <= tolerance) {
			t.Errorf("%s[%d] = %.12g, want %.12g (|diff| %.2g)", what, i, got[i], want[i], d)
		}
	}
}

func convertSlice(x []float64, dtype dtypes.DType) any {
	switch dtype {
	case dtypes.Float64:
		return x
	case dtypes.Float32:
		out := make([]float32, len(x))
		for i, v := range x {
			out[i] = float32(v)
		}
		return out
	case dtypes.BFloat16:
		out := make([]bfloat16.BFloat16, len(x))
		for i, v := range x {
			out[i] = bfloat16.FromFloat32(float32(v))
		}
		return out
	}
	panic("unsupported dtype " + dtype.String())
}

// TestSGDMomentumByHand: w0 = [1, −2], constant gradient g = [0.5, 0.25],
// μ = 0.9, wd = 0.1, learning rates 0.1, 0.2, 0.05.
//
//	step 1: d = g + wd·w = [0.5 + 0.1, 0.25 − 0.2]              = [0.6, 0.05]
//	        v = 0.9·0 + d                                         = [0.6, 0.05]
//	        w = [1, −2] − 0.1·[0.6, 0.05]                         = [0.94, −2.005]
//	step 2: d = [0.5 + 0.094, 0.25 − 0.2005]                      = [0.594, 0.0495]
//	        v = 0.9·[0.6, 0.05] + d = [0.54 + 0.594, 0.045 + 0.0495] = [1.134, 0.0945]
//	        w = [0.94, −2.005] − 0.2·[1.134, 0.0945] = [0.94 − 0.2268, −2.005 − 0.0189]
//	                                                              = [0.7132, −2.0239]
//	step 3: d = [0.5 + 0.07132, 0.25 − 0.20239]                   = [0.57132, 0.04761]
//	        v = 0.9·[1.134, 0.0945] + d = [1.0206 + 0.57132, 0.08505 + 0.04761]
//	                                                              = [1.59192, 0.13266]
//	        w = [0.7132, −2.0239] − 0.05·[1.59192, 0.13266] = [0.7132 − 0.079596, −2.0239 − 0.006633]
//	                                                              = [0.633604, −2.030533]
func TestSGDMomentumByHand(t *testing.T) {
	wantW := [][]float64{{0.94, -2.005}, {0.7132, -2.0239}, {0.633604, -2.030533}}
	wantV := [][]float64{{0.6, 0.05}, {1.134, 0.0945}, {1.59192, 0.13266}}
	lrs := []float64{0.1, 0.2, 0.05}
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		t.Run(dtype.String(), func(t *testing.T) {
			tolerance := handTolerance
			if dtype == dtypes.Float32 {
				tolerance = 1e-5 // float32 rounding of values ≈ 2.
			}
			opt, err := NewSGD(SGDConfig{Momentum: 0.9, WeightDecay: 0.1})
			if err != nil {
				t.Fatalf("NewSGD: %v", err)
			}
			s := newStepper(t, opt, dtype, linearParam{"dense", "w", []float64{1, -2}, []float64{0.5, 0.25}})
			for i, lr := range lrs {
				s.step(lr)
				assertValues(t, "w", s.param("w"), wantW[i], tolerance)
				assertValues(t, "momentum", s.momentum("w"), wantV[i], tolerance)
			}
			if step := optimizers.GetGlobalStep(s.ctx); step != 3 {
				t.Errorf("global step %d after 3 steps, want 3", step)
			}
		})
	}
}

// TestLARSByHand: η = 0.01 (larger than the reference's 0.001 so that steps are
// well above the tolerance), ε = 1e-8, wd = 0.1, μ = 0.9, learning rates 1, 0.5, 2.
// w0 = [3, 4] with constant gradient g = [0.3, 0.4]; b0 = [0, 0] (a zero-initialised
// bias) with constant gradient h = [0.6, −0.8].
//
// w (‖g‖ = 0.5 throughout):
//
//	step 1: ‖w‖ = 5; a = 0.01·5/(0.5 + 5·0.1 + 1e-8) = 0.05/1.00000001 = 0.0499999995
//	        g + wd·w = [0.6, 0.8];  d = v = [0.0299999997, 0.0399999996]
//	        w = [3, 4] − 1·v = [2.9700000003, 3.9600000004]
//	step 2: ‖w‖ = 4.9500000005; a = 0.049500000005/(0.5 + 0.49500000005 + 1e-8) = 0.0497487432211
//	        g + wd·w = [0.59700000003, 0.79600000004];  d = [0.0296999997045, 0.039599999606]
//	        v = 0.9·[0.0299999997, 0.0399999996] + d = [0.0566999994345, 0.075599999246]
//	        w = w − 0.5·v = [2.94165000058, 3.92220000078]
//	step 3: ‖w‖ = 4.90275000097; a = 0.0490275000097/(0.5 + 0.490275000097 + 1e-8) = 0.0495089742847
//	        g + wd·w = [0.594165000058, 0.792220000078];  d = [0.0294164997088, 0.0392219996117]
//	        v = 0.9·[0.0566999994345, 0.075599999246] + d = [0.0804464991998, 0.107261998933]
//	        w = w − 2·v = [2.78075700218, 3.70767600291]
//
// b (‖h‖ = 1 throughout):
//
//	step 1: ‖b‖ = 0, so apex skips: d = h, no weight decay. v = [0.6, −0.8]; b = −1·v = [−0.6, 0.8]
//	step 2: ‖b‖ = 1; a = 0.01·1/(1 + 1·0.1 + 1e-8) = 0.00909090900826
//	        h + wd·b = [0.54, −0.72];  d = [0.00490909086446, −0.00654545448595]
//	        v = 0.9·[0.6, −0.8] + d = [0.544909090864, −0.726545454486]
//	        b = [−0.6, 0.8] − 0.5·v = [−0.872454545432, 1.16327272724]
//	step 3: ‖b‖ = 1.45409090905; a = 0.0145409090905/(1 + 0.145409090905 + 1e-8) = 0.0126949481011
//	        h + wd·b = [0.512754545457, −0.683672727276];  d = [0.00650939234318, −0.00867918979091]
//	        v = 0.9·[0.544909090864, −0.726545454486] + d = [0.496927574121, −0.662570098828]
//	        b = b − 2·v = [−1.86630969367, 2.4884129249]
//
// c0 = [1, −1] with a zero gradient: ‖g‖ = 0, so apex skips it and, its weight
// decay having moved into LARS, c gets d = g = 0 and stays [1, −1] (plain SGD with
// wd = 0.1 would shrink it).
func TestLARSByHand(t *testing.T) {
	sgd, err := NewSGD(SGDConfig{Momentum: 0.9, WeightDecay: 0.1})
	if err != nil {
		t.Fatalf("NewSGD: %v", err)
	}
	opt, err := NewLARS(sgd, LARSConfig{TrustCoefficient: 0.01, Epsilon: 1e-8})
	if err != nil {
		t.Fatalf("NewLARS: %v", err)
	}
	s := newStepper(t, opt, dtypes.Float64,
		linearParam{"dense", "w", []float64{3, 4}, []float64{0.3, 0.4}},
		linearParam{"dense", "b", []float64{0, 0}, []float64{0.6, -0.8}},
		linearParam{"dense", "c", []float64{1, -1}, []float64{0, 0}})
	wantW := [][]float64{{2.9700000003, 3.9600000004}, {2.94165000058, 3.92220000078}, {2.78075700218, 3.70767600291}}
	wantB := [][]float64{{-0.6, 0.8}, {-0.872454545432, 1.16327272724}, {-1.86630969367, 2.4884129249}}
	wantVW := [][]float64{{0.0299999997, 0.0399999996}, {0.0566999994345, 0.075599999246}, {0.0804464991998, 0.107261998933}}
	for i, lr := range []float64{1, 0.5, 2} {
		s.step(lr)
		assertValues(t, "w", s.param("w"), wantW[i], handTolerance)
		assertValues(t, "b", s.param("b"), wantB[i], handTolerance)
		assertValues(t, "momentum of w", s.momentum("w"), wantVW[i], handTolerance)
		assertValues(t, "c (zero gradient)", s.param("c"), []float64{1, -1}, 0)
	}
}

// TestFreeze: prototypes frozen for the first 2 iterations; μ = 0.9, wd = 0, lr = 1.
// Prototypes p0 = [1, 1], gradient [1, 2]; dense d0 = [1, 1], gradient [1, 1].
//
//	iterations 0, 1: p = [1, 1], momentum 0.
//	                 dense: v = [1, 1] then [1.9, 1.9]; d = [0, 0] then [−1.9, −1.9]
//	iteration 2:     p: v = 0.9·0 + [1, 2] = [1, 2];  p = [1 − 1, 1 − 2] = [0, −1]
//	iteration 3:     p: v = 0.9·[1, 2] + [1, 2] = [1.9, 3.8];  p = [0 − 1.9, −1 − 3.8] = [−1.9, −4.8]
func TestFreeze(t *testing.T) {
	build := func(t *testing.T, lars bool) *stepper {
		sgd, err := NewSGD(SGDConfig{Momentum: 0.9, Freeze: []Freeze{FreezeByName("prototypes", 2)}})
		if err != nil {
			t.Fatalf("NewSGD: %v", err)
		}
		var opt optimizers.Interface = sgd
		if lars {
			if opt, err = NewLARS(sgd, DefaultLARSConfig()); err != nil {
				t.Fatalf("NewLARS: %v", err)
			}
		}
		return newStepper(t, opt, dtypes.Float64,
			linearParam{"prototypes", "weights", []float64{1, 1}, []float64{1, 2}},
			linearParam{"dense", "kernel", []float64{1, 1}, []float64{1, 1}})
	}

	t.Run("SGD", func(t *testing.T) {
		s := build(t, false)
		wantP := [][]float64{{1, 1}, {1, 1}, {0, -1}, {-1.9, -4.8}}
		wantPV := [][]float64{{0, 0}, {0, 0}, {1, 2}, {1.9, 3.8}}
		wantD := [][]float64{{0, 0}, {-1.9, -1.9}}
		for i := range 4 {
			s.step(1)
			assertValues(t, "prototypes", s.param("weights"), wantP[i], handTolerance)
			assertValues(t, "prototypes momentum", s.momentum("weights"), wantPV[i], handTolerance)
			if i < len(wantD) {
				assertValues(t, "dense", s.param("kernel"), wantD[i], handTolerance)
			}
		}
	})

	t.Run("LARS", func(t *testing.T) {
		s := build(t, true)
		for range 2 {
			s.step(1)
			assertValues(t, "frozen prototypes", s.param("weights"), []float64{1, 1}, 0)
			assertValues(t, "frozen prototypes momentum", s.momentum("weights"), []float64{0, 0}, 0)
		}
		// Iteration 2: ‖p‖ = √2, ‖g‖ = √5, a = 0.001·√2/(√5 + 0 + 1e-8); v = a·[1, 2]; p = [1, 1] − v.
		a := 0.001 * math.Sqrt2 / (math.Sqrt(5) + 1e-8)
		s.step(1)
		assertValues(t, "unfrozen prototypes", s.param("weights"), []float64{1 - a, 1 - 2*a}, handTolerance)
		if d := s.param("kernel"); d[0] == 1 {
			t.Errorf("dense variable never updated: %v", d)
		}
	})
}

// TestHalfPrecisionVariable: a bfloat16 variable is updated in float32 with a
// float32 momentum buffer. w0 = [1, −2], g = [0.5, 0.25], μ = 0.9, wd = 0, lr = 0.5:
// v = [0.5, 0.25], w = [0.75, −2.125] (both exact in bfloat16); then
// v = [0.95, 0.475], w = [0.275, −2.3625], stored in bfloat16 to within one unit
// in the last place (2⁻⁹ near 0.275, 2⁻⁶ near 2.36; the backend's rounding mode
// decides which neighbour).
func TestHalfPrecisionVariable(t *testing.T) {
	opt, err := NewSGD(SGDConfig{Momentum: 0.9})
	if err != nil {
		t.Fatalf("NewSGD: %v", err)
	}
	s := newStepper(t, opt, dtypes.BFloat16, linearParam{"dense", "w", []float64{1, -2}, []float64{0.5, 0.25}})
	s.step(0.5)
	assertValues(t, "w", s.param("w"), []float64{0.75, -2.125}, 0)
	s.step(0.5)
	assertValues(t, "w", s.param("w")[:1], []float64{0.275}, 1.0/512)
	assertValues(t, "w", s.param("w")[1:], []float64{-2.3625}, 1.0/64)
	v := s.ctx.GetVariableByScopeAndName("/"+MomentumScope+"/model/dense", "w_momentum")
	if v == nil || v.DType() != dtypes.Float32 {
		t.Fatalf("momentum buffer %v, want float32", v)
	}
	assertValues(t, "momentum", s.momentum("w"), []float64{0.95, 0.475}, 1e-6)
}

func TestClearDeletesMomentum(t *testing.T) {
	opt, err := NewSGD(ReferenceSGDConfig())
	if err != nil {
		t.Fatalf("NewSGD: %v", err)
	}
	s := newStepper(t, opt, dtypes.Float32, linearParam{"dense", "w", []float64{1, 2}, []float64{1, 1}})
	s.step(0.1)
	if v := s.ctx.GetVariableByScopeAndName("/"+MomentumScope+"/model/dense", "w_momentum"); v == nil || v.DType() != dtypes.Float32 {
		t.Fatalf("momentum buffer missing or wrong dtype: %v", v)
	}
	if err := opt.Clear(s.ctx); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	if v := s.ctx.GetVariableByScopeAndName("/"+MomentumScope+"/model/dense", "w_momentum"); v != nil {
		t.Errorf("momentum buffer still present after Clear")
	}
}

func TestConfigValidation(t *testing.T) {
	for name, cfg := range map[string]SGDConfig{
		"momentum 1":       {Momentum: 1},
		"negative decay":   {Momentum: 0.9, WeightDecay: -1},
		"NaN lr":           {InitialLearningRate: math.NaN()},
		"nil freeze match": {Freeze: []Freeze{{Iterations: 3}}},
		"negative freeze":  {Freeze: []Freeze{FreezeByName("p", -1)}},
	} {
		if _, err := NewSGD(cfg); err == nil {
			t.Errorf("%s: expected an error", name)
		}
	}
	sgd, err := NewSGD(ReferenceSGDConfig())
	if err != nil {
		t.Fatalf("NewSGD: %v", err)
	}
	if _, err := NewLARS(sgd, LARSConfig{}); err == nil {
		t.Errorf("expected an error for η = 0")
	}
	if _, err := NewLARS(nil, DefaultLARSConfig()); err == nil {
		t.Errorf("expected an error for a nil inner SGD")
	}
	if err := SetLearningRate(context.New(), -1); err == nil {
		t.Errorf("expected an error for a negative learning rate")
	}
}
