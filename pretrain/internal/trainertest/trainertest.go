// Package trainertest is the test support of the methods' tests that run the training
// core (package pretrain/trainer) on real images: short-run options and the loss
// column of a metrics file. It builds on package methodtest, which the trainer's own
// tests use and which therefore cannot import the trainer.
package trainertest

import (
	gocontext "context"
	"math"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/pretrain/internal/methodtest"
	"github.com/swav-go/swav/pretrain/method"
	"github.com/swav-go/swav/pretrain/trainer"
)

// Options is methodtest.TinyNetwork (with prototypes and a BN head, which a method
// may drop or replace) and a short schedule: 2 epochs of batches of 16, warmup 0.2
// epochs, seed 5, the method's default rates, the checkpoint dir/name, the fast
// backend and progress to t.Log.
func Options(t testing.TB, dir, name string) trainer.Options {
	t.Helper()
	return trainer.Options{Model: methodtest.TinyNetwork(), Epochs: 2, BatchSize: 16, WarmupEpochs: 0.2, Seed: 5,
		Checkpoint: filepath.Join(dir, name), Backend: methodtest.Backend(t), Log: methodtest.Log(t)}
}

// Losses reads the metrics file at path and returns its losses, step by step. It
// fails the test unless the rows are steps 1, 2, … in order, every loss is finite,
// and every row has each of the named metrics.
func Losses(t testing.TB, path string, metrics ...string) []float64 {
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
		for _, name := range metrics {
			if _, ok := r.Metrics[name]; !ok {
				t.Fatalf("%s: step %d has no %s", path, r.Step, name)
			}
		}
		out[i] = r.Loss
	}
	return out
}

// AssertResumes trains a method from newMethod (a fresh one per run) on src with
// Options in dir: total steps uninterrupted (full.swav), and stop steps then resumed
// from the checkpoint up to total (part.swav), both checkpointing every step. It
// fails unless the two runs' losses (read by Losses, with metrics) are the same, bit
// for bit, and the resumed run's checkpoint records the method's name. It returns
// that checkpoint and the resumed run's options, for the caller's own checks.
func AssertResumes(t testing.TB, dir string, src dataset.Source, newMethod func() method.Method, stop, total int,
	metrics ...string) (*checkpoint.File, trainer.Options) {
	t.Helper()
	full := Options(t, dir, "full.swav")
	full.MaxSteps, full.CheckpointEvery = total, 1
	if _, err := trainer.Run(gocontext.Background(), src, newMethod(), full); err != nil {
		t.Fatal(err)
	}
	part := Options(t, dir, "part.swav")
	part.MaxSteps, part.CheckpointEvery = stop, 1
	if _, err := trainer.Run(gocontext.Background(), src, newMethod(), part); err != nil {
		t.Fatal(err)
	}
	part.MaxSteps, part.Resume = total, true
	if _, err := trainer.Run(gocontext.Background(), src, newMethod(), part); err != nil {
		t.Fatal(err)
	}
	uninterrupted := Losses(t, full.Checkpoint+".metrics.jsonl", metrics...)
	resumed := Losses(t, part.Checkpoint+".metrics.jsonl", metrics...)
	if !reflect.DeepEqual(resumed, uninterrupted) {
		t.Errorf("losses after resume %v, uninterrupted %v", resumed, uninterrupted)
	}
	f, err := checkpoint.Load(part.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	want := newMethod().Name()
	if name, err := trainer.MethodOf(f.Header); err != nil || name != want {
		t.Errorf("checkpoint method %q, %v; want %q", name, err, want)
	}
	return f, part
}
