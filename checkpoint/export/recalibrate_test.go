package export

import (
	gocontext "context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/backend"
	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/infer"
	"github.com/swav-go/swav/model"
)

// memSource is an in-memory grayscale source; the images listed in bad fail to decode.
type memSource struct {
	imgs []*image.Gray
	bad  map[int]bool
}

func newMemSource(n, size int, seed uint64) *memSource {
	r := rand.New(rand.NewPCG(seed, 1))
	s := &memSource{bad: map[int]bool{}}
	for range n {
		img := image.NewGray(image.Rect(0, 0, size, size))
		bright := r.Float64() // Per-image brightness, so batches differ.
		for i := range img.Pix {
			img.Pix[i] = uint8(255 * math.Min(1, bright*r.Float64()*2))
		}
		s.imgs = append(s.imgs, img)
	}
	return s
}

func (s *memSource) Len() int              { return len(s.imgs) }
func (s *memSource) Name(i int) string     { return fmt.Sprintf("mem#%d", i) }
func (s *memSource) Label(int) (int, bool) { return 0, false }
func (s *memSource) Classes() []string     { return nil }
func (s *memSource) Image(i int) (image.Image, error) {
	if s.bad[i] {
		return nil, errors.New("corrupt")
	}
	return s.imgs[i], nil
}

// recalibrationFixture returns a small random model as a checkpoint file.
func recalibrationFixture(t *testing.T, size int) *checkpoint.File {
	t.Helper()
	cfg := model.Config{Block: model.BasicBlock, Layers: []int{1, 1, 1}, Widths: []int{4, 8, 8}, WidthMultiplier: 1,
		Stem: model.SmallStem, InChannels: 1, HiddenDim: 8, HeadBatchNorm: true, OutDim: 4, Prototypes: 5,
		BNMomentum: 0.1, BNEpsilon: 1e-5}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := model.Initialize(b, cfg, size, 3)
	if err != nil {
		t.Fatal(err)
	}
	pre := checkpoint.Preprocess{InputSize: size, ResizeSize: size, Mean: []float64{0.5}, Std: []float64{0.25},
		Channels: 1, Interpolation: "bilinear"}
	f, err := model.File(ctx, cfg, pre, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// backboneOutputs runs the backbone of f on every image of src, in evaluation or in
// training mode (batch statistics of all the images at once).
func backboneOutputs(t *testing.T, f *checkpoint.File, src dataset.Source, train bool) []float32 {
	t.Helper()
	cfg, err := model.ParseConfig(f.Header.Model)
	if err != nil {
		t.Fatal(err)
	}
	var batch []imageio.Tensor
	for i := range src.Len() {
		img, err := src.Image(i)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, infer.PrepareImage(*f.Header.Preprocess, img))
	}
	x, err := imagesTensor(batch)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	if err := model.ImportVariables(ctx, f.Tensors, model.IsNetworkVariable); err != nil {
		t.Fatal(err)
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	exec, err := context.NewExec(b, ctx.Reuse(), func(ctx *context.Context, x *Node) *Node {
		return model.Backbone(ctx, cfg, x, train)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(x)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out[0])
}

func maxRelDiff(a, b []float32) float64 {
	scale, d := 1e-6, 0.0
	for i := range a {
		scale = math.Max(scale, math.Abs(float64(b[i])))
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d / scale
}

func tensorValues(t *testing.T, f *checkpoint.File, name string) []float32 {
	t.Helper()
	ts, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("no tensor %s", name)
	}
	v, err := ts.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRecalibrateMatchesBatchStatistics: recalibrated on exactly one batch holding every
// image, evaluation mode must reproduce training mode on that batch (up to the unbiased
// variance factor), which the freshly initialised running estimates do not.
func TestRecalibrateMatchesBatchStatistics(t *testing.T) {
	const size = 12
	src := newMemSource(32, size, 5)
	f := recalibrationFixture(t, size)
	want := backboneOutputs(t, f, src, true)
	if d := maxRelDiff(backboneOutputs(t, f, src, false), want); d < 0.05 {
		t.Fatalf("fixture too easy: initial running statistics already give the batch's output (diff %g)", d)
	}
	skipped, err := RecalibrateBatchNorm(gocontext.Background(), f, src, RecalibrateOptions{Images: 32, BatchSize: 32})
	if err != nil || len(skipped) != 0 {
		t.Fatalf("recalibrate: %v, skipped %v", err, skipped)
	}
	if d := maxRelDiff(backboneOutputs(t, f, src, false), want); d > 5e-3 {
		t.Errorf("after recalibration, evaluation differs from batch statistics by %g (relative)", d)
	}
	var note map[string]any
	if err := json.Unmarshal(f.Header.Extra[ExtraRecalibration], &note); err != nil || note["images"] != 32.0 {
		t.Errorf("header note %s (%v), want 32 images", f.Header.Extra[ExtraRecalibration], err)
	}
	// The weights themselves are untouched.
	g := recalibrationFixture(t, size)
	for _, name := range []string{"backbone/conv1/kernel", "backbone/bn1/weight", "prototypes/kernel"} {
		if d := maxRelDiff(tensorValues(t, f, name), tensorValues(t, g, name)); d != 0 {
			t.Errorf("%s changed by %g", name, d)
		}
	}
}

// TestRecalibrateAveragesBatches: the stem's input does not depend on batch statistics,
// so its running mean is the mean over all images whether they come in one batch or in
// two of 16 (statistics weighted by batch size); the variance, averaged per batch, is
// not, and deeper layers see differently normalised inputs.
func TestRecalibrateAveragesBatches(t *testing.T) {
	const size = 12
	src := newMemSource(32, size, 6)
	one, two := recalibrationFixture(t, size), recalibrationFixture(t, size)
	if _, err := RecalibrateBatchNorm(gocontext.Background(), one, src, RecalibrateOptions{BatchSize: 32}); err != nil {
		t.Fatal(err)
	}
	if _, err := RecalibrateBatchNorm(gocontext.Background(), two, src, RecalibrateOptions{BatchSize: 16}); err != nil {
		t.Fatal(err)
	}
	if d := maxRelDiff(tensorValues(t, two, "backbone/bn1/running_mean"), tensorValues(t, one, "backbone/bn1/running_mean")); d > 1e-5 {
		t.Errorf("stem running mean: one batch vs two differ by %g", d)
	}
}

func TestRecalibrateCorruptImages(t *testing.T) {
	const size = 12
	src := newMemSource(20, size, 7)
	src.bad[4] = true
	f := recalibrationFixture(t, size)
	skipped, err := RecalibrateBatchNorm(gocontext.Background(), f, src, RecalibrateOptions{OnError: dataset.Skip, BatchSize: 8})
	if err != nil || len(skipped) != 1 || skipped[0].Name != "mem#4" {
		t.Fatalf("skip: err %v, skipped %v; want mem#4 skipped", err, skipped)
	}
	_, err = RecalibrateBatchNorm(gocontext.Background(), recalibrationFixture(t, size), src, RecalibrateOptions{OnError: dataset.Fail})
	if err == nil || !strings.Contains(err.Error(), "mem#4") {
		t.Fatalf("fail: err %v, want one naming mem#4", err)
	}
}
