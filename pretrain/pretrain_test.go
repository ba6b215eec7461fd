package pretrain

import (
	"bytes"
	gocontext "context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/pretrain/internal/methodtest"
	"github.com/swav-go/swav/pretrain/internal/trainertest"
	"github.com/swav-go/swav/pretrain/trainer"
)

// tinyOptions is a network and schedule small enough for a unit test.
func tinyOptions(t *testing.T, dir string) Options {
	crops := augment.DefaultSmall(28)
	crops.Crops = []augment.CropSpec{{Count: 2, Size: 28, MinScale: 0.14, MaxScale: 1}, {Count: 2, Size: 14, MinScale: 0.05, MaxScale: 0.14}}
	return Options{
		Model: methodtest.TinyNetwork(), Crops: crops, Epochs: 2, BatchSize: 16, BaseLR: 0.6, WarmupEpochs: 0.2,
		FreezePrototypesIters: 3, QueueLength: -1, Seed: 7, Checkpoint: filepath.Join(dir, "tiny.swav"),
		Backend: methodtest.Backend(t), Log: methodtest.Log(t),
	}
}

func TestPretrainLossFalls(t *testing.T) {
	if testing.Short() {
		t.Skip("30 training steps: run without -short (the default run has it)")
	}
	src := methodtest.FashionSubset(t, 320)
	opts := tinyOptions(t, t.TempDir())
	opts.MaxSteps = 30
	res, err := Run(gocontext.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ReadMetrics(opts.Checkpoint + ".metrics.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != res.Steps || res.Steps != opts.MaxSteps {
		t.Fatalf("%d metric rows, %d steps; want %d", len(rows), res.Steps, opts.MaxSteps)
	}
	mean := func(rs []trainer.Row) float64 {
		s := 0.0
		for _, r := range rs {
			if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
				t.Fatalf("non-finite loss at step %d", r.Step)
			}
			s += r.Loss
		}
		return s / float64(len(rs))
	}
	first, last := mean(rows[:5]), mean(rows[len(rows)-5:])
	t.Logf("loss: first 5 steps %.4f, last 5 steps %.4f (ln K = %.4f); %.1f images/s", first, last, math.Log(20), res.ImagesPerSec)
	if !(last < first-0.05) {
		t.Errorf("loss did not fall: %.4f → %.4f", first, last)
	}
	if _, err := os.Stat(opts.Checkpoint + ".loss.png"); err != nil {
		t.Errorf("loss plot: %v", err)
	}
}

// TestResumeIsExact stops a run mid-epoch (as a SIGKILL after a checkpoint would), resumes
// it, and requires exactly the losses of an uninterrupted run, with the queue in use.
func TestResumeIsExact(t *testing.T) {
	src := methodtest.FashionSubset(t, 64) // 4 steps per epoch of 16
	dir := t.TempDir()
	base := tinyOptions(t, dir)
	base.QueueLength, base.EpochQueueStarts = 32, 1
	base.Epochs, base.CheckpointEvery = 2, 1

	full := base
	full.Checkpoint = filepath.Join(dir, "full.swav")
	full.MaxSteps = 7
	if _, err := Run(gocontext.Background(), src, full); err != nil {
		t.Fatal(err)
	}

	part := base
	part.Checkpoint = filepath.Join(dir, "part.swav")
	part.MaxSteps = 3
	if _, err := Run(gocontext.Background(), src, part); err != nil {
		t.Fatal(err)
	}
	part.MaxSteps, part.Resume = 7, true
	res, err := Run(gocontext.Background(), src, part)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 7 {
		t.Fatalf("resumed run ended at step %d, want 7", res.Steps)
	}
	want := trainertest.Losses(t, full.Checkpoint+".metrics.jsonl")
	got := trainertest.Losses(t, part.Checkpoint+".metrics.jsonl")
	if len(got) != len(want) {
		t.Fatalf("%d losses after resume, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d: loss %.9g after resume, %.9g uninterrupted", i+1, got[i], want[i])
		}
	}
}

// TestInterruptSavesCheckpoint cancels the context (what SIGINT does in the CLI) and
// expects a checkpoint at the step reached.
func TestInterruptSavesCheckpoint(t *testing.T) {
	src := methodtest.FashionSubset(t, 64)
	opts := tinyOptions(t, t.TempDir())
	opts.CheckpointEvery = 100
	ctx, cancel := gocontext.WithCancel(gocontext.Background())
	defer cancel()
	opts.OnStep = func(step int, _ float64) {
		if step == 2 {
			cancel()
		}
	}
	res, err := Run(ctx, src, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.Steps != 2 {
		t.Fatalf("interrupted=%v at step %d, want true at 2", res.Interrupted, res.Steps)
	}
	f, err := checkpoint.Load(opts.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.Training.Step != 2 || f.Header.Kind != KindTraining {
		t.Errorf("checkpoint at step %d kind %q, want 2 %q", f.Header.Training.Step, f.Header.Kind, KindTraining)
	}
}

// TestNaNStopsAndKeepsCheckpoint: a non-finite loss stops the run with ErrNonFinite and
// the last good checkpoint stays byte for byte as it was.
func TestNaNStopsAndKeepsCheckpoint(t *testing.T) {
	src := methodtest.FashionSubset(t, 64)
	opts := tinyOptions(t, t.TempDir())
	opts.MaxSteps, opts.CheckpointEvery = 2, 1
	if _, err := Run(gocontext.Background(), src, opts); err != nil {
		t.Fatal(err)
	}
	// Poison one weight of the saved state: the next step's loss is NaN.
	f, err := checkpoint.Load(opts.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range f.Tensors {
		if tt.Name == "projection/3/bias" {
			v, _ := tt.Float32s()
			v[0] = float32(math.NaN())
			f.Tensors[i] = checkpoint.Float32Tensor(tt.Name, tt.Shape, v)
		}
	}
	if err := checkpoint.Save(opts.Checkpoint, f, checkpoint.EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(opts.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	opts.Resume, opts.MaxSteps = true, 4
	_, err = Run(gocontext.Background(), src, opts)
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), opts.Checkpoint) {
		t.Fatalf("error %v, want ErrNonFinite naming the kept checkpoint", err)
	}
	after, err := os.ReadFile(opts.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(good, after) {
		t.Error("the last good checkpoint was modified")
	}
}

// TestWorkersDoNotChangeResults: the views of each image depend on (seed, epoch,
// index) only, so the losses do not depend on the number of workers.
func TestWorkersDoNotChangeResults(t *testing.T) {
	src := methodtest.FashionSubset(t, 64)
	var runs [][]float64
	for _, workers := range []int{1, 3} {
		opts := tinyOptions(t, t.TempDir())
		opts.MaxSteps, opts.Workers = 3, workers
		if _, err := Run(gocontext.Background(), src, opts); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, trainertest.Losses(t, opts.Checkpoint+".metrics.jsonl"))
	}
	for i := range runs[0] {
		if runs[0][i] != runs[1][i] {
			t.Errorf("step %d: loss %.9g with 1 worker, %.9g with 3", i+1, runs[0][i], runs[1][i])
		}
	}
}

// TestWithDefaultsResolvesOnce: Options.WithDefaults returns what Run trains, every
// default decided (the small recipe for 28-px images: crops 2×28 + 4×16, the queue
// off when the data is a single batch, freezing 6.7 % of the run, base lr 4.8), and
// resolving the result again changes nothing.
func TestWithDefaultsResolvesOnce(t *testing.T) {
	src := methodtest.FashionSubset(t, 640) // 10 steps per epoch of 64
	o, err := Options{Checkpoint: filepath.Join(t.TempDir(), "m.swav"), Backend: methodtest.Backend(t)}.WithDefaults(src)
	if err != nil {
		t.Fatal(err)
	}
	// 300,000 / 640 → 469 epochs, capped at 200: 2,000 steps; 6.68 % of them is 134.
	if o.Epochs != 200 || o.BatchSize != 64 || o.WarmupEpochs != 20 || o.BaseLR != 4.8 || o.FinalLR != 0.0048 {
		t.Errorf("schedule: %d epochs, batch %d, warmup %g, lr %g → %g", o.Epochs, o.BatchSize, o.WarmupEpochs, o.BaseLR, o.FinalLR)
	}
	if o.Crops.Crops[0].Size != 28 || o.Crops.Crops[1].Size != 16 || o.Crops.Crops[1].Count != 4 || len(o.Crops.Mean) != 1 {
		t.Errorf("crops %+v mean %v", o.Crops.Crops, o.Crops.Mean)
	}
	if o.FreezePrototypesIters != 134 || o.QueueLength != 512 || o.EpochQueueStarts != 0 || o.Model.Prototypes != 200 {
		t.Errorf("freeze %d, queue %d from %d, prototypes %d; want 134, 512, 0, 200", o.FreezePrototypesIters, o.QueueLength, o.EpochQueueStarts, o.Model.Prototypes)
	}
	again, err := o.WithDefaults(src)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again) != fmt.Sprint(o) {
		t.Errorf("resolving twice changed the options:\n%+v\n%+v", again, o)
	}
}
