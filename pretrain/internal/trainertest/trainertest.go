// Package trainertest is the test support of the methods' tests that run the training
// core (package pretrain/trainer) on real images: short-run options and the loss
// column of a metrics file. It builds on package methodtest, which the trainer's own
// tests use and which therefore cannot import the trainer.
package trainertest

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/swav-go/swav/pretrain/internal/methodtest"
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
