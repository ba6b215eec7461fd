package pirl

import (
	gocontext "context"
	"strings"
	"testing"

	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/internal/methodtest"
	"github.com/swav-go/swav/pretrain/internal/trainertest"
	"github.com/swav-go/swav/pretrain/method"
	"github.com/swav-go/swav/pretrain/trainer"
)

// These tests run PIRL through the training core on real images.

// TestTrainerLossFallsAndResumes: through the training core on Fashion-MNIST (28 px
// images, 8 px jigsaw patches), the PIRL loss falls with no NaN; a run stopped at
// step 3 and resumed from its checkpoint gives the same losses, bit for bit, as an
// uninterrupted one (the bank, its sampler and Z are restored); the checkpoint
// records the method and holds the bank and the patch head, and no prototypes.
func TestTrainerLossFallsAndResumes(t *testing.T) {
	dir := t.TempDir()
	metrics := []string{MetricJigsawCosine, MetricImageCosine, MetricPartition}
	src := methodtest.FashionSubset(t, 64)
	// 32 images (2 steps per epoch of 16), seen again and again, 16 negatives, τ 0.5:
	// at PIRL's 0.07 the NCE loss of so small a bank first rises for hundreds of steps,
	// from its random initial entries (nearly orthogonal to everything: easy
	// negatives) to the network's embeddings (not yet spread out).
	opts := trainertest.Options(t, dir, "fall.swav")
	opts.Epochs, opts.MaxSteps, opts.BaseLR = 20, 40, 0.48
	fall := Config{Negatives: 16}
	fall.Loss.NCE.Temperature, fall.Loss.Lambda = 0.5, 0.5
	if _, err := trainer.Run(gocontext.Background(), methodtest.First(src, 32), New(fall), opts); err != nil {
		t.Fatal(err)
	}
	ls := trainertest.Losses(t, opts.Checkpoint+".metrics.jsonl", metrics...)
	first, last := methodtest.Mean(ls[:10]), methodtest.Mean(ls[len(ls)-10:])
	t.Logf("PIRL: first 10 steps %.4f, last 10 %.4f: %.3f", first, last, ls)
	if !(last < first-0.05) {
		t.Errorf("loss did not fall: %.4f → %.4f", first, last)
	}

	f, _ := trainertest.AssertResumes(t, dir, src, func() method.Method { return New(Config{Negatives: 16}) }, 3, 6, metrics...)
	has := map[string]bool{}
	for _, x := range f.Tensors {
		has[x.Name] = true
		if strings.HasPrefix(x.Name, model.PrototypesScope+"/") {
			t.Errorf("a PIRL checkpoint holds %s", x.Name)
		}
	}
	for _, name := range []string{"pirl_bank/entries", "pirl_bank/sampler_rng", "pirl_bank/partition",
		"pirl_patch_head/patch/kernel", "pirl_patch_head/concat/kernel", "projection/0/kernel"} {
		if !has[name] {
			t.Errorf("the checkpoint lacks %s", name)
		}
	}
}
