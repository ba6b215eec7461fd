package pirl

import (
	gocontext "context"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/swav-go/swav/backend/fast"
	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/trainer"
)

// These tests run PIRL through the training core on real images.

// subset is the first n images of a source.
type subset struct {
	dataset.Source
	n int
}

func (s subset) Len() int { return s.n }

func fashionSubset(t *testing.T, n int) dataset.Source {
	t.Helper()
	src, err := dataset.FashionMNIST(dataset.DefaultFashionMNISTDir, true)
	if err != nil {
		t.Fatalf("Fashion-MNIST is required (apt-get install -y dataset-fashion-mnist): %v", err)
	}
	return subset{src, n}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) { l.t.Log(string(p)); return len(p), nil }

// trainerOptions is a tiny network (with prototypes and an MLP head, which PIRL replaces)
// and a short schedule.
func trainerOptions(t *testing.T, dir, name string) trainer.Options {
	t.Helper()
	be, err := fast.New("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Small(1)
	cfg.Layers, cfg.Widths = []int{1, 1}, []int{8, 16}
	cfg.HiddenDim, cfg.OutDim, cfg.Prototypes = 32, 16, 20
	return trainer.Options{Model: cfg, Epochs: 2, BatchSize: 16, WarmupEpochs: 0.2, Seed: 5,
		Checkpoint: filepath.Join(dir, name), Backend: be, Log: testLog{t}}
}

func trainerLosses(t *testing.T, path string) []float64 {
	t.Helper()
	rows, err := trainer.ReadMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(rows))
	for i, r := range rows {
		if r.Step != i+1 {
			t.Fatalf("%s: row %d has step %d", path, i, r.Step)
		}
		if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
			t.Fatalf("%s: step %d: loss %v", path, r.Step, r.Loss)
		}
		for _, name := range []string{MetricJigsawCosine, MetricImageCosine, MetricPartition} {
			if _, ok := r.Metrics[name]; !ok {
				t.Fatalf("%s: step %d has no %s", path, r.Step, name)
			}
		}
		out[i] = r.Loss
	}
	return out
}

// TestTrainerLossFallsAndResumes: through the training core on Fashion-MNIST (28 px
// images, 8 px jigsaw patches), the PIRL loss falls with no NaN; a run stopped at
// step 3 and resumed from its checkpoint gives the same losses, bit for bit, as an
// uninterrupted one (the bank, its sampler and Z are restored); the checkpoint
// records the method and holds the bank and the patch head, and no prototypes.
func TestTrainerLossFallsAndResumes(t *testing.T) {
	dir := t.TempDir()
	src := fashionSubset(t, 64)
	// 32 images (2 steps per epoch of 16), seen again and again, 16 negatives, τ 0.5:
	// at PIRL's 0.07 the NCE loss of so small a bank first rises for hundreds of steps,
	// from its random initial entries (nearly orthogonal to everything: easy
	// negatives) to the network's embeddings (not yet spread out).
	opts := trainerOptions(t, dir, "fall.swav")
	opts.Epochs, opts.MaxSteps, opts.BaseLR = 20, 40, 0.48
	fall := Config{Negatives: 16}
	fall.Loss.NCE.Temperature, fall.Loss.Lambda = 0.5, 0.5
	if _, err := trainer.Run(gocontext.Background(), subset{src, 32}, New(fall), opts); err != nil {
		t.Fatal(err)
	}
	ls := trainerLosses(t, opts.Checkpoint+".metrics.jsonl")
	first, last := mean(ls[:10]), mean(ls[len(ls)-10:])
	t.Logf("PIRL: first 10 steps %.4f, last 10 %.4f: %.3f", first, last, ls)
	if !(last < first-0.05) {
		t.Errorf("loss did not fall: %.4f → %.4f", first, last)
	}

	full := trainerOptions(t, dir, "full.swav")
	full.MaxSteps, full.CheckpointEvery = 6, 1
	if _, err := trainer.Run(gocontext.Background(), src, New(Config{Negatives: 16}), full); err != nil {
		t.Fatal(err)
	}
	part := trainerOptions(t, dir, "part.swav")
	part.MaxSteps, part.CheckpointEvery = 3, 1
	if _, err := trainer.Run(gocontext.Background(), src, New(Config{Negatives: 16}), part); err != nil {
		t.Fatal(err)
	}
	part.MaxSteps, part.Resume = 6, true
	if _, err := trainer.Run(gocontext.Background(), src, New(Config{Negatives: 16}), part); err != nil {
		t.Fatal(err)
	}
	want, got := trainerLosses(t, full.Checkpoint+".metrics.jsonl"), trainerLosses(t, part.Checkpoint+".metrics.jsonl")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("losses after resume %v, uninterrupted %v", got, want)
	}
	f, err := checkpoint.Load(part.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if name, err := trainer.MethodOf(f.Header); err != nil || name != Name {
		t.Errorf("checkpoint method %q, %v; want %q", name, err, Name)
	}
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
