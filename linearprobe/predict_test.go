package linearprobe

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// fakeEmbedder maps paths to fixed vectors; paths absent from vecs fail to "decode".
type fakeEmbedder struct {
	dim  int
	vecs map[string][]float32
}

func (f fakeEmbedder) Dim() int { return f.dim }

func (f fakeEmbedder) EachFile(ctx context.Context, paths []string, fn func(int, []float32, error) error) error {
	for i, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		v, ok := f.vecs[p]
		var err error
		if !ok {
			err = errors.New(p + ": not an image")
		}
		if err := fn(i, v, err); err != nil {
			return err
		}
	}
	return nil
}

// handProbe is a 2-feature, 3-class probe with standardisation mean (1, 0), std (2, 1):
// logits = ((x0-1)/2, x1, 0) + bias (0, 0, 0).
func handProbe() *Probe {
	return &Probe{D: 2, C: 3, W: []float32{1, 0, 0, 0, 1, 0}, B: []float32{0, 0, 0},
		Mean: []float32{1, 0}, Std: []float32{2, 1}, Classes: []string{"cat", "dog", "eel"}, NamedClasses: true}
}

func TestPredictFilesHandComputed(t *testing.T) {
	ln2 := float32(math.Ln2)
	m := fakeEmbedder{dim: 2, vecs: map[string][]float32{
		// logits (ln 2, 0, 0): softmax (1/2, 1/4, 1/4); the tie goes to "dog" (lower index).
		"a.png": {1 + 2*ln2, 0},
		// logits (0, ln 3, 0): softmax (1/5, 3/5, 1/5).
		"b.png": {1, float32(math.Log(3))},
	}}
	p := handProbe()
	preds, err := p.PredictFiles(context.Background(), m, []string{"a.png", "bad.png", "b.png"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 3 {
		t.Fatalf("%d predictions for 3 paths", len(preds))
	}
	want := [][]ClassProbability{
		{{0, "cat", 0.5}, {1, "dog", 0.25}},
		nil,
		{{1, "dog", 0.6}, {0, "cat", 0.2}},
	}
	for i, w := range want {
		got := preds[i]
		if got.Path != []string{"a.png", "bad.png", "b.png"}[i] {
			t.Errorf("prediction %d is for %s", i, got.Path)
		}
		if w == nil {
			if got.Err == nil || !strings.Contains(got.Err.Error(), "bad.png") || got.Top != nil {
				t.Errorf("bad.png: %+v, want an error naming it and no classes", got)
			}
			continue
		}
		if got.Err != nil || len(got.Top) != len(w) {
			t.Fatalf("%s: %+v, want %v", got.Path, got, w)
		}
		for j := range w {
			g := got.Top[j]
			if g.Index != w[j].Index || g.Class != w[j].Class || math.Abs(float64(g.Probability-w[j].Probability)) > 1e-6 {
				t.Errorf("%s top %d = %+v, want %+v", got.Path, j, g, w[j])
			}
		}
	}
	// k is clamped to [1, C].
	for k, n := range map[int]int{0: 1, 3: 3, 10: 3} {
		top, err := p.TopK(m.vecs["b.png"], k)
		if err != nil || len(top) != n {
			t.Errorf("TopK(k=%d): %d classes (%v), want %d", k, len(top), err, n)
		}
	}
}

func TestPredictFilesErrors(t *testing.T) {
	p := handProbe()
	_, err := p.PredictFiles(context.Background(), fakeEmbedder{dim: 128}, []string{"a.png"}, 3)
	if err == nil || !strings.Contains(err.Error(), "2-dimensional") || !strings.Contains(err.Error(), "128-dimensional") {
		t.Errorf("dimension mismatch: %v, want an error naming both dimensions", err)
	}
	if _, err := p.PredictFiles(context.Background(), nil, []string{"a.png"}, 3); err == nil {
		t.Error("nil embedder accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.PredictFiles(ctx, fakeEmbedder{dim: 2}, []string{"a.png"}, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	broken := &Probe{D: 2, C: 3}
	if _, err := broken.PredictFiles(context.Background(), fakeEmbedder{dim: 2}, nil, 3); err == nil {
		t.Error("inconsistent probe accepted")
	}
	stop := errors.New("stop")
	calls := 0
	err = p.EachFilePrediction(context.Background(), fakeEmbedder{dim: 2}, []string{"x", "y"}, 1, func(int, Prediction) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("callback error: %v after %d calls, want stop after 1", err, calls)
	}
}
