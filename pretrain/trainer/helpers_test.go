package trainer

import (
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/backend/fast"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/method"
	"github.com/swav-go/swav/pretrain/swav"
)

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

func testBackend(t *testing.T) backends.Backend {
	t.Helper()
	b, err := fast.New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tinyModel is a network small enough for a unit test.
func tinyModel() model.Config {
	cfg := model.Small(1)
	cfg.Layers, cfg.Widths = []int{1, 1}, []int{8, 16}
	cfg.HiddenDim, cfg.OutDim, cfg.Prototypes = 32, 16, 20
	return cfg
}

// tinyOptions is the tiny network and a short schedule (the pretrain package's
// tinyOptions, trainer part).
func tinyOptions(t *testing.T, dir string) Options {
	return Options{
		Model: tinyModel(), Epochs: 2, BatchSize: 16, BaseLR: 0.6, WarmupEpochs: 0.2,
		Seed: 7, Checkpoint: filepath.Join(dir, "tiny.swav"),
		Backend: testBackend(t), Log: testLog{t},
	}
}

// tinySwAV is SwAV with 2×28 + 2×14 crops, prototypes frozen for 3 steps and no queue.
func tinySwAV() method.Method {
	crops := augment.DefaultSmall(28)
	crops.Crops = []augment.CropSpec{{Count: 2, Size: 28, MinScale: 0.14, MaxScale: 1}, {Count: 2, Size: 14, MinScale: 0.05, MaxScale: 0.14}}
	return swav.New(swav.Config{Crops: crops, FreezePrototypesIters: 3, QueueLength: -1})
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) { l.t.Log(string(p)); return len(p), nil }
