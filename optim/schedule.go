package optim

import (
	"fmt"
	"math"
)

// Schedule is the reference's per-iteration learning-rate schedule: a linear
// warm-up from StartWarmup to Base over WarmupIters iterations (numpy's
// linspace(StartWarmup, Base, WarmupIters), both ends included), then a cosine
// decay from Base towards Final over the remaining TotalIters − WarmupIters
// iterations:
//
//	lr(t) = Final + ½·(Base − Final)·(1 + cos(π·t/T)),  t = iter − WarmupIters,  T = TotalIters − WarmupIters
//
// In the reference, WarmupIters = iterations per epoch × warmup_epochs and
// TotalIters = iterations per epoch × epochs; Base is base_lr (4.8 for batch
// 4096), Final is final_lr, StartWarmup is start_warmup (0).
type Schedule struct {
	// Base is the learning rate at the end of the warm-up and the start of the decay.
	Base float64
	// Final is the learning rate the cosine decays towards (reached at TotalIters).
	Final float64
	// StartWarmup is the learning rate of iteration 0.
	StartWarmup float64
	// WarmupIters is the number of warm-up iterations (0 for none).
	WarmupIters int
	// TotalIters is the number of iterations of the whole training, warm-up included.
	TotalIters int
}

// Validate reports whether the schedule's iteration counts make sense.
func (s Schedule) Validate() error {
	if s.WarmupIters < 0 {
		return fmt.Errorf("optim.Schedule: WarmupIters must be >= 0, got %d", s.WarmupIters)
	}
	if s.TotalIters <= s.WarmupIters {
		return fmt.Errorf("optim.Schedule: TotalIters (%d) must exceed WarmupIters (%d)", s.TotalIters, s.WarmupIters)
	}
	for name, v := range map[string]float64{"Base": s.Base, "Final": s.Final, "StartWarmup": s.StartWarmup} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("optim.Schedule: %s must be a finite value >= 0, got %g", name, v)
		}
	}
	return nil
}

// At returns the learning rate of iteration iter (0-based, the reference's
// epoch × iterations per epoch + it). Iterations before 0 are treated as 0; from
// TotalIters on (past the end of the reference's array) it returns Final.
func (s Schedule) At(iter int) float64 {
	iter = max(iter, 0)
	if iter < s.WarmupIters {
		// numpy.linspace: start + i·step with step = (stop − start)/(num − 1); the
		// last element is exactly stop, and a single element is start.
		if s.WarmupIters == 1 {
			return s.StartWarmup
		}
		if iter == s.WarmupIters-1 {
			return s.Base
		}
		step := (s.Base - s.StartWarmup) / float64(s.WarmupIters-1)
		return float64(iter)*step + s.StartWarmup
	}
	t, total := iter-s.WarmupIters, s.TotalIters-s.WarmupIters
	if t >= total {
		return s.Final
	}
	return s.Final + 0.5*(s.Base-s.Final)*(1+math.Cos(math.Pi*float64(t)/float64(total)))
}
