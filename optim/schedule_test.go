package optim

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

func TestScheduleByHand(t *testing.T) {
	// 10 warm-up iterations from 0 to 4.8, then T = 100 cosine iterations to 0.0048.
	s := Schedule{Base: 4.8, Final: 0.0048, StartWarmup: 0, WarmupIters: 10, TotalIters: 110}
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, tc := range []struct {
		iter int
		want float64
		why  string
	}{
		{-3, 0, "before the start: iteration 0"},
		{0, 0, "warm-up start = StartWarmup (linspace first element)"},
		{5, 5 * 4.8 / 9, "linspace step (4.8 − 0)/(10 − 1)"},
		{9, 4.8, "warm-up end = Base (linspace includes its end point)"},
		{10, 4.8, "cosine t = 0: Final + ½(Base − Final)·2 = Base"},
		{60, (4.8 + 0.0048) / 2, "cosine midpoint t = T/2: cos(π/2) = 0, (Base + Final)/2 = 2.4024"},
		{35, 0.0048 + 0.5*(4.8-0.0048)*(1+math.Sqrt2/2), "t = T/4: cos(π/4) = √2/2"},
		{109, 0.0048 + 0.5*(4.8-0.0048)*(1+math.Cos(math.Pi*99/100)), "last iteration t = 99"},
		{110, 0.0048, "past the end: Final"},
		{1000, 0.0048, "past the end: Final"},
	} {
		if got := s.At(tc.iter); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("At(%d) = %.15g, want %.15g (%s)", tc.iter, got, tc.want, tc.why)
		}
	}

	noWarmup := Schedule{Base: 1, Final: 0, WarmupIters: 0, TotalIters: 4}
	for iter, want := range []float64{1, 0.5 * (1 + math.Sqrt2/2), 0.5, 0.5 * (1 - math.Sqrt2/2), 0} {
		if got := noWarmup.At(iter); math.Abs(got-want) > 1e-12 {
			t.Errorf("no warm-up: At(%d) = %g, want %g", iter, got, want)
		}
	}
	oneWarmup := Schedule{Base: 1, Final: 0, StartWarmup: 0.1, WarmupIters: 1, TotalIters: 3}
	if got := oneWarmup.At(0); got != 0.1 {
		t.Errorf("single warm-up iteration: At(0) = %g, want StartWarmup 0.1 (linspace with num=1)", got)
	}
	if got := oneWarmup.At(1); got != 1 {
		t.Errorf("single warm-up iteration: At(1) = %g, want Base", got)
	}

	for name, bad := range map[string]Schedule{
		"total <= warmup":  {Base: 1, WarmupIters: 5, TotalIters: 5},
		"negative warmup":  {Base: 1, WarmupIters: -1, TotalIters: 5},
		"negative base":    {Base: -1, TotalIters: 5},
		"infinite final":   {Base: 1, Final: math.Inf(1), TotalIters: 5},
		"NaN start warmup": {Base: 1, StartWarmup: math.NaN(), TotalIters: 5},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%s: expected an error", name)
		}
	}
}

// TestScheduleDrivesOptimizer runs plain SGD (μ = 0) on w0 = 0 with gradient 1, the
// loop setting Schedule.At(global step) before each step: after n steps
// w = −Σ_{i<n} lr_i. Schedule: warm-up 0 → 1 over 3 iterations (0, 0.5, 1), then
// cosine over T = 2 (1, 0.5).
func TestScheduleDrivesOptimizer(t *testing.T) {
	s := Schedule{Base: 1, Final: 0, WarmupIters: 3, TotalIters: 5}
	opt, err := NewSGD(SGDConfig{})
	if err != nil {
		t.Fatalf("NewSGD: %v", err)
	}
	st := newStepper(t, opt, dtypes.Float64, linearParam{"dense", "w", []float64{0}, []float64{1}})
	sum := 0.0
	for i, lr := range []float64{0, 0.5, 1, 1, 0.5} {
		iter := optimizers.GetGlobalStep(st.ctx)
		if iter != int64(i) {
			t.Fatalf("global step %d before step %d", iter, i)
		}
		if got := s.At(int(iter)); got != lr {
			t.Fatalf("At(%d) = %g, want %g", iter, got, lr)
		}
		st.step(s.At(int(iter)))
		sum += lr
		assertValues(t, "w", st.param("w"), []float64{-sum}, handTolerance)
	}
}

// TestLearningRateVariableDType: when the graph is built before any
// SetLearningRate, the variable is created with the loss dtype and
// InitialLearningRate; SetLearningRate then keeps that dtype.
func TestLearningRateVariableDType(t *testing.T) {
	opt, err := NewSGD(SGDConfig{InitialLearningRate: 0.5})
	if err != nil {
		t.Fatalf("NewSGD: %v", err)
	}
	st := newStepper(t, opt, dtypes.Float64, linearParam{"dense", "w", []float64{1}, []float64{1}})
	if _, err := st.exec.Exec(); err != nil {
		t.Fatalf("step: %v", err)
	}
	assertValues(t, "w after lr 0.5", st.param("w"), []float64{0.5}, handTolerance)
	lrVar := st.ctx.GetVariableByScopeAndName("/"+optimizers.Scope, optimizers.ParamLearningRate)
	if lrVar == nil || lrVar.DType() != dtypes.Float64 {
		t.Fatalf("learning-rate variable %v, want float64", lrVar)
	}
	st.step(0.125)
	if got := lrVar.MustValue().Value(); got != 0.125 {
		t.Errorf("learning rate %v, want float64 0.125", got)
	}
	assertValues(t, "w after lr 0.125", st.param("w"), []float64{0.375}, handTolerance)
}
