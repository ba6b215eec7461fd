package trainer

import (
	"path/filepath"
	"testing"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/pretrain/internal/methodtest"
	"github.com/swav-go/swav/pretrain/method"
	"github.com/swav-go/swav/pretrain/swav"
)

// tinyOptions is the tiny network and a short schedule (the pretrain package's
// tinyOptions, trainer part).
func tinyOptions(t *testing.T, dir string) Options {
	return Options{
		Model: methodtest.TinyNetwork(), Epochs: 2, BatchSize: 16, BaseLR: 0.6, WarmupEpochs: 0.2,
		Seed: 7, Checkpoint: filepath.Join(dir, "tiny.swav"),
		Backend: methodtest.Backend(t), Log: methodtest.Log(t),
	}
}

// tinySwAV is SwAV with 2×28 + 2×14 crops, prototypes frozen for 3 steps and no queue.
func tinySwAV() method.Method {
	crops := augment.DefaultSmall(28)
	crops.Crops = []augment.CropSpec{{Count: 2, Size: 28, MinScale: 0.14, MaxScale: 1}, {Count: 2, Size: 14, MinScale: 0.05, MaxScale: 0.14}}
	return swav.New(swav.Config{Crops: crops, FreezePrototypesIters: 3, QueueLength: -1})
}
