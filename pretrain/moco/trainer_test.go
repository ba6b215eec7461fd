package moco

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

// These tests run MoCo v2 through the training core on real images.

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

// trainerOptions is a tiny network (with prototypes and a BN head, which MoCo drops)
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
		for _, name := range []string{MetricPositive, MetricNegative} {
			if _, ok := r.Metrics[name]; !ok {
				t.Fatalf("%s: step %d has no %s", path, r.Step, name)
			}
		}
		out[i] = r.Loss
	}
	return out
}

// TestTrainerLossFallsAndResumes: through the training core on Fashion-MNIST, the
// InfoNCE loss falls with no NaN once the queue holds real keys; a run stopped at
// step 3 and resumed from its checkpoint gives the same losses, bit for bit, as an
// uninterrupted one; the checkpoint records the method and holds the key encoder and
// the queue, and no prototypes.
func TestTrainerLossFallsAndResumes(t *testing.T) {
	dir := t.TempDir()
	src := fashionSubset(t, 64)
	// 32 images (2 steps per epoch of 16), seen again and again; K = 16, one batch.
	opts := trainerOptions(t, dir, "fall.swav")
	opts.Epochs, opts.MaxSteps, opts.BaseLR = 20, 40, 4.8
	if _, err := trainer.Run(gocontext.Background(), subset{src, 32}, New(Config{}), opts); err != nil {
		t.Fatal(err)
	}
	ls := trainerLosses(t, opts.Checkpoint+".metrics.jsonl")
	first, last := mean(ls[2:12]), mean(ls[len(ls)-10:])
	t.Logf("InfoNCE: steps 3-12 %.4f, last 10 %.4f (ln 17 = %.4f): %.3f", first, last, math.Log(17), ls)
	if !(last < first-0.05) {
		t.Errorf("loss did not fall: %.4f → %.4f", first, last)
	}

	full := trainerOptions(t, dir, "full.swav")
	full.MaxSteps, full.CheckpointEvery = 6, 1
	if _, err := trainer.Run(gocontext.Background(), src, New(Config{}), full); err != nil {
		t.Fatal(err)
	}
	part := trainerOptions(t, dir, "part.swav")
	part.MaxSteps, part.CheckpointEvery = 3, 1
	if _, err := trainer.Run(gocontext.Background(), src, New(Config{}), part); err != nil {
		t.Fatal(err)
	}
	part.MaxSteps, part.Resume = 6, true
	if _, err := trainer.Run(gocontext.Background(), src, New(Config{}), part); err != nil {
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
			t.Errorf("a MoCo checkpoint holds %s", x.Name)
		}
	}
	for _, name := range []string{"moco_queue/keys", "moco_queue/pointer", "moco_key/ema_started", "moco_key/backbone/conv1/kernel", "moco_key/projection/3/kernel"} {
		if !has[name] {
			t.Errorf("the checkpoint lacks %s", name)
		}
	}
}
