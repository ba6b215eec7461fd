package swav

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/method"
)

func TestCollapseGuardWarns(t *testing.T) {
	var log strings.Builder
	logf := func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }
	g := newCollapseGuard(200)
	for step := range 19 {
		g.observe(step, math.Log(200), 50, logf)
	}
	if log.Len() != 0 {
		t.Fatalf("warned after 19 steps: %s", log.String())
	}
	g.observe(19, math.Log(200)+0.001, 50, logf)
	if !strings.Contains(log.String(), "collapsed") || !strings.Contains(log.String(), "epsilon") {
		t.Errorf("no collapse warning with advice after 20 steps at ln K: %q", log.String())
	}
	log.Reset()
	g2 := newCollapseGuard(200)
	for step := range 40 {
		g2.observe(step, 4.0, 1+step%2*30, logf) // healthy loss, but one prototype half the time
	}
	if log.Len() != 0 {
		t.Errorf("warned on a healthy run: %s", log.String())
	}
}

// run is a method.Run of n images of size px, batch 64, the given epochs.
func run(size, n, epochs int) method.Run {
	iters := n / 64
	return method.Run{Model: model.Small(1), InputSize: size, Images: n, BatchSize: 64, Epochs: epochs,
		ItersPerEpoch: iters, TotalIters: epochs * iters, Mean: []float32{0.3}, Std: []float32{0.35},
		Log: func(string, ...any) {}}
}

// TestDefaults: the small-image recipe (60,000 28-px images, 5 epochs: 4,685 steps) is
// the measured default model's: crops 2×28 + 4×16, prototypes frozen for 313 steps
// (6.7 %), a queue of 512 from epoch 0, base learning rate 4.8 in LARS; the resolved
// freezing is what the header records. Larger inputs get the reference's (one epoch
// frozen, no queue, 0.6). Small datasets cap the queue; -1 turns things off.
func TestDefaults(t *testing.T) {
	m := New(Config{})
	if _, err := m.Setup(run(28, 60000, 5)); err != nil {
		t.Fatal(err)
	}
	c := m.Resolved()
	if got := c.Crops.Groups(); !reflect.DeepEqual(got, []augment.ViewGroup{{Count: 2, Size: 28}, {Count: 4, Size: 16}}) {
		t.Errorf("crops %v, want 2×28 + 4×16", got)
	}
	if c.FreezePrototypesIters != 313 || c.QueueLength != 512 || c.EpochQueueStarts != 0 {
		t.Errorf("freeze %d, queue %d from epoch %d; want 313, 512, 0", c.FreezePrototypesIters, c.QueueLength, c.EpochQueueStarts)
	}
	if cfg := m.Config().(map[string]any); cfg["freeze_prototypes_iters"] != 313 {
		t.Errorf("header records freezing %v, want the resolved 313", cfg["freeze_prototypes_iters"])
	}
	if o := m.Optimizer(); o.BaseLR != 4.8 || !o.LARS || len(o.Freeze) != 1 || o.Freeze[0].Iterations != 313 {
		t.Errorf("optimiser %+v", o)
	}

	big := run(224, 64*100, 100)
	big.Model = model.ResNet50()
	big.Mean, big.Std = nil, nil
	m = New(Config{})
	if _, err := m.Setup(big); err != nil {
		t.Fatal(err)
	}
	c = m.Resolved()
	if c.FreezePrototypesIters != 100 || c.QueueLength != -1 || m.Optimizer().BaseLR != 0.6 || c.Crops.Crops[0].Size != 224 || len(c.Crops.Mean) != 3 {
		t.Errorf("ImageNet recipe: freeze %d, queue %d, lr %g, crops %v, mean %v", c.FreezePrototypesIters, c.QueueLength,
			m.Optimizer().BaseLR, c.Crops.Crops, c.Crops.Mean)
	}

	m = New(Config{})
	if _, err := m.Setup(run(28, 300, 5)); err != nil {
		t.Fatal(err)
	}
	if q := m.Resolved().QueueLength; q != 192 {
		t.Errorf("300 images: queue %d, want 192 (the images less one batch, a multiple of 64)", q)
	}
	m = New(Config{QueueLength: -1, FreezePrototypesIters: -1, CropSizes: []int{28, 12}})
	if _, err := m.Setup(run(28, 60000, 5)); err != nil {
		t.Fatal(err)
	}
	if c := m.Resolved(); c.QueueLength != -1 || len(m.Optimizer().Freeze) != 0 || c.Crops.Crops[1].Size != 12 || c.Crops.Crops[1].Count != 4 {
		t.Errorf("explicit none: %+v", c)
	}
	if _, err := New(Config{CropSizes: []int{28, 14, 10}}).Setup(run(28, 60000, 5)); err == nil {
		t.Error("a third resolution without its count and scales was accepted")
	}
}

// TestCollapseGuardWaitsForFreezing: the guard ignores the frozen steps (when the
// loss sits at ln K by construction) and warns after them.
func TestCollapseGuardWaitsForFreezing(t *testing.T) {
	m := New(Config{FreezePrototypesIters: 30})
	if _, err := m.Setup(run(28, 6400, 1)); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	h := m.Hooks()[0]
	for step := 1; step <= 60; step++ {
		s := &method.StepResult{Step: step, Loss: math.Log(200), Names: m.Metrics(), Values: []float64{0, 1, 0},
			Log: func(f string, a ...any) { fmt.Fprintf(&log, f+"\n", a...) }}
		if err := h.OnStep(s); err != nil {
			t.Fatal(err)
		}
		if step == 49 && log.Len() != 0 {
			t.Fatalf("warned by step 49 (19 steps after the freezing): %s", log.String())
		}
	}
	if !strings.Contains(log.String(), "step 50: training looks collapsed") {
		t.Errorf("no warning at step 50, the 20th after the freezing: %q", log.String())
	}
}
