// Package methodtest is the test support shared by the pretraining packages (the
// methods under pretrain/, the trainer and pretrain itself): a minimal training
// harness over the [method.Method] interface, independent of the trainer; the tiny
// networks, synthetic images and real-data sources their tests train on; and small
// assertions. It is imported by tests only, and must not import pretrain/trainer (the
// trainer's own tests use it); the helpers over the trainer are package trainertest.
package methodtest

import (
	"io"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/backend/fast"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/method"
)

// The harness's data: Images synthetic Size×Size grayscale images, Batch per step.
const (
	Size   = 12 // pixels
	Images = 16
	Batch  = 8
)

// HarnessModel is the small ResNet the harness trains: Size px grayscale images, a BN
// head and prototypes (which methods without them drop at Setup).
func HarnessModel() model.Config {
	return model.Config{Block: model.BasicBlock, Layers: []int{1, 1}, Widths: []int{8, 16}, WidthMultiplier: 1,
		Stem: model.SmallStem, InChannels: 1, HiddenDim: 32, HeadBatchNorm: true, OutDim: 16, Prototypes: 10,
		BNMomentum: 0.1, BNEpsilon: 1e-5}
}

// HarnessRun is the method.Run a method is set up with for the harness: HarnessModel,
// Images images of Size px in batches of Batch, 10 epochs, seed 7, mean 0.5 and std
// 0.25, and a Log that discards.
func HarnessRun() method.Run {
	return method.Run{Model: HarnessModel(), InputSize: Size, Images: Images, BatchSize: Batch,
		Epochs: 10, ItersPerEpoch: Images / Batch, TotalIters: 10 * Images / Batch, Seed: 7,
		Mean: []float32{0.5}, Std: []float32{0.25}, Log: func(string, ...any) {}}
}

// HarnessImages is the harness's fixed set of Images images: random blobs on a dark
// background, the same at every call.
func HarnessImages() []augment.Tensor {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]augment.Tensor, Images)
	for i := range out {
		img := augment.Tensor{H: Size, W: Size, C: 1, Pix: make([]float32, Size*Size)}
		cy, cx, r := rng.Float64()*Size, rng.Float64()*Size, 2+rng.Float64()*3
		for y := range Size {
			for x := range Size {
				d := math.Hypot(float64(y)-cy, float64(x)-cx)
				img.Pix[y*Size+x] = float32(math.Max(0, 1-d/r)) + 0.1*rng.Float32()
			}
		}
		out[i] = img
	}
	return out
}

// TinyNetwork is the network of the tests that run the trainer on Fashion-MNIST:
// model.Small(1) with one block per stage of widths 8 and 16, a head of hidden size
// 32 and output 16, and 20 prototypes.
func TinyNetwork() model.Config {
	cfg := model.Small(1)
	cfg.Layers, cfg.Widths = []int{1, 1}, []int{8, 16}
	cfg.HiddenDim, cfg.OutDim, cfg.Prototypes = 32, 16, 20
	return cfg
}

// subset is the first n images of a source.
type subset struct {
	dataset.Source
	n int
}

func (s subset) Len() int { return s.n }

// First returns the first n images of src (n ≤ src.Len()).
func First(src dataset.Source, n int) dataset.Source { return subset{src, n} }

// FashionSubset returns the first n images of the Fashion-MNIST training set, failing
// the test when the data set is not installed.
func FashionSubset(t testing.TB, n int) dataset.Source {
	t.Helper()
	src, err := dataset.FashionMNIST(dataset.DefaultFashionMNISTDir, true)
	if err != nil {
		t.Fatalf("Fashion-MNIST is required (apt-get install -y dataset-fashion-mnist): %v", err)
	}
	return First(src, n)
}

// Backend returns the fast CPU backend, failing the test when it cannot start.
func Backend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := fast.New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Log returns a writer that sends every write to t.Log, for a run's progress lines.
func Log(t testing.TB) io.Writer { return testLog{t} }

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) { l.t.Log(string(p)); return len(p), nil }

// Mean returns the mean of xs (NaN for none).
func Mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
