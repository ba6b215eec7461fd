package evaluate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/checkpoint/export"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/model"
)

func TestRawPixelsFashionMNIST(t *testing.T) {
	src, err := dataset.FashionMNIST(dataset.DefaultFashionMNISTDir, false)
	if err != nil {
		t.Fatalf("Fashion-MNIST is required (apt-get install -y dataset-fashion-mnist): %v", err)
	}
	d, err := RawPixels(subset{src, 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 3 || d.D != 784 || len(d.Features) != 3*784 || len(d.Labels) != 3 {
		t.Fatalf("N %d D %d, %d features, %d labels", d.N, d.D, len(d.Features), len(d.Labels))
	}
	// The first test images of Fashion-MNIST are an ankle boot, a pullover and trousers.
	if d.Labels[0] != 9 || d.Labels[1] != 2 || d.Labels[2] != 1 {
		t.Errorf("labels %v, want [9 2 1]", d.Labels)
	}
	for _, v := range d.Features {
		if v < 0 || v > 1 {
			t.Fatalf("pixel %g outside [0, 1]", v)
		}
	}
	if err := d.Validate(); err == nil {
		// Three samples of three classes: valid.
	} else {
		t.Error(err)
	}
}

type subset struct {
	dataset.Source
	n int
}

func (s subset) Len() int { return s.n }

func TestMarkdown(t *testing.T) {
	md := Markdown([]Row{{Name: "raw", Linear: 0.8456, KNN20: -1, Notes: "n"}})
	for _, want := range []string{"| raw | 84.56 % | – | n |", "| features | linear top-1 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestTrainingNotes(t *testing.T) {
	f := &checkpoint.File{Header: checkpoint.Header{
		Training: &checkpoint.Training{Step: 4685, Epoch: 5, Extra: map[string]any{"wall_seconds": json.Number("5400"), "threads": json.Number("2")}},
		Extra:    map[string]json.RawMessage{export.ExtraRecalibration: json.RawMessage(`{"images":10000}`)},
		Float16:  true,
	}}
	got := trainingNotes(f, model.Small(1))
	for _, want := range []string{"ResNet 32/64/128 [2 2 2] (small stem)", "128-d features", "4685 steps (5 epochs)",
		"90 min of training", "2 threads", "re-estimated on 10000 full-size training images", "float16 weights"} {
		if !strings.Contains(got, want) {
			t.Errorf("notes %q lack %q", got, want)
		}
	}
	if got := trainingNotes(&checkpoint.File{}, model.Small(1)); strings.Contains(got, "re-estimated") || !strings.Contains(got, "no training record") {
		t.Errorf("notes without training record: %q", got)
	}
}
