package moco

import (
	gocontext "context"
	"math"
	"strings"
	"testing"

	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/internal/methodtest"
	"github.com/swav-go/swav/pretrain/internal/trainertest"
	"github.com/swav-go/swav/pretrain/method"
	"github.com/swav-go/swav/pretrain/trainer"
)

// These tests run MoCo v2 through the training core on real images.

// TestTrainerLossFallsAndResumes: through the training core on Fashion-MNIST, the
// InfoNCE loss falls with no NaN once the queue holds real keys; a run stopped at
// step 3 and resumed from its checkpoint gives the same losses, bit for bit, as an
// uninterrupted one; the checkpoint records the method and holds the key encoder and
// the queue, and no prototypes.
func TestTrainerLossFallsAndResumes(t *testing.T) {
	dir := t.TempDir()
	metrics := []string{MetricPositive, MetricNegative}
	src := methodtest.FashionSubset(t, 64)
	// 32 images (2 steps per epoch of 16), seen again and again; K = 16, one batch.
	opts := trainertest.Options(t, dir, "fall.swav")
	opts.Epochs, opts.MaxSteps, opts.BaseLR = 20, 40, 4.8
	if _, err := trainer.Run(gocontext.Background(), methodtest.First(src, 32), New(Config{}), opts); err != nil {
		t.Fatal(err)
	}
	ls := trainertest.Losses(t, opts.Checkpoint+".metrics.jsonl", metrics...)
	first, last := methodtest.Mean(ls[2:12]), methodtest.Mean(ls[len(ls)-10:])
	t.Logf("InfoNCE: steps 3-12 %.4f, last 10 %.4f (ln 17 = %.4f): %.3f", first, last, math.Log(17), ls)
	if !(last < first-0.05) {
		t.Errorf("loss did not fall: %.4f → %.4f", first, last)
	}

	f, _ := trainertest.AssertResumes(t, dir, src, func() method.Method { return New(Config{}) }, 3, 6, metrics...)
	has := map[string]bool{}
	for _, x := range f.Tensors {
		has[x.Name] = true
		if strings.HasPrefix(x.Name, model.PrototypesScope+"/") {
			t.Errorf("a MoCo checkpoint holds %s", x.Name)
		}
	}
	for _, name := range []string{"moco_queue/keys", "moco_queue/pointer", "moco_key/ema_started", "moco_key/backbone/conv1/kernel", "moco_key/projection/3/kernel"} {
		if !has[name] {
			t.Errorf("the checkpoint lacks %s", name)
		}
	}
}
