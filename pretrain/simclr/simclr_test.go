package simclr

import (
	gocontext "context"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/internal/methodtest"
	"github.com/swav-go/swav/pretrain/internal/trainertest"
	"github.com/swav-go/swav/pretrain/method"
	"github.com/swav-go/swav/pretrain/trainer"
)

// TestDefaults: the small-image recipe resolves to the paper's CIFAR views and τ, LARS
// with the measured small-image rate; multi-crop adds local views and leaves pairs of
// them out of the loss.
func TestDefaults(t *testing.T) {
	run := method.Run{Model: model.Small(1), InputSize: 28, Images: 1000, BatchSize: 64, Epochs: 10,
		ItersPerEpoch: 15, TotalIters: 150, Mean: []float32{0.3}, Std: []float32{0.35}, Log: t.Logf}
	m := New(Config{})
	mc, err := m.Setup(run)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Resolved()
	want := augment.SimCLRViews(28)
	if mc.Prototypes != 0 || mc.OutDim != 128 || !reflect.DeepEqual(c.Views.Crops, want.Crops) || c.Temperature != 0.5 {
		t.Errorf("resolved %+v with model prototypes %d out %d; want SimCLRViews(28), τ 0.5, no prototypes", c, mc.Prototypes, mc.OutDim)
	}
	if o := m.Optimizer(); !o.LARS || o.BaseLR != 4.8 || o.WeightDecay != 1e-6 || o.Momentum != 0.9 {
		t.Errorf("optimiser %+v", o)
	}
	if s := m.Scopes(); !reflect.DeepEqual(s.Network, []string{model.BackboneScope, model.ProjectionScope}) || len(s.State) != 0 {
		t.Errorf("scopes %+v", s)
	}

	mc4 := New(Config{SmallCrops: 4, Temperature: 0.2})
	if _, err := mc4.Setup(run); err != nil {
		t.Fatal(err)
	}
	c4 := mc4.Resolved()
	if got := c4.Views.Groups(); !reflect.DeepEqual(got, []augment.ViewGroup{{Count: 2, Size: 28}, {Count: 4, Size: 16}}) {
		t.Errorf("multi-crop groups %v, want 2×28 + 4×16", got)
	}
	if l := c4.loss(); l.LargeViews != 2 || l.Temperature != 0.2 {
		t.Errorf("multi-crop loss %+v, want 2 large views, τ 0.2", l)
	}

	bad := run
	bad.Model.OutDim = 0
	if _, err := New(Config{}).Setup(bad); err == nil {
		t.Error("a model without a projection head was accepted")
	}
}

// TestLossFallsAndResumes: a short run on real images lowers the NT-Xent loss with no
// NaN (not under -short); a run stopped at step 3 and resumed gives the same losses, bit for bit, as an
// uninterrupted one, and the checkpoint records the method; resuming it as another
// method is refused.
func TestLossFallsAndResumes(t *testing.T) {
	dir := t.TempDir()
	src := methodtest.FashionSubset(t, 320)
	if !testing.Short() { // 40 steps: the resume part below also runs under -short
		lossFalls(t, dir, src)
	}

	small := methodtest.First(src, 64) // 4 steps per epoch
	f, part := trainertest.AssertResumes(t, dir, small, func() method.Method { return New(Config{SmallCrops: 2}) }, 3, 7, MetricPositiveCosine)
	for _, x := range f.Tensors {
		if x.Name == "prototypes/kernel" {
			t.Error("a SimCLR checkpoint holds prototypes")
		}
	}
	other := part
	other.MaxSteps = 8
	_, err := trainer.Run(gocontext.Background(), small, wrongName{New(Config{SmallCrops: 2})}, other)
	if err == nil || !strings.Contains(err.Error(), `"simclr"`) || !strings.Contains(err.Error(), "--method simclr") {
		t.Errorf("resuming a SimCLR checkpoint as another method: %v", err)
	}
}

// wrongName is a SimCLR under another name, to test the resume check.
type wrongName struct{ *Method }

func (wrongName) Name() string { return "not-simclr" }

// lossFalls trains 40 steps on 32 images and requires the NT-Xent loss to fall.
func lossFalls(t *testing.T, dir string, src dataset.Source) {
	t.Helper()
	// 32 images (2 steps per epoch of 16) seen again and again: the batches' content
	// stays the same, so the fall is not hidden by the noise between batches.
	opts := trainertest.Options(t, dir, "fall.swav")
	opts.Epochs, opts.MaxSteps, opts.BaseLR = 20, 40, 19.2
	res, err := trainer.Run(gocontext.Background(), methodtest.First(src, 32), New(Config{}), opts)
	if err != nil {
		t.Fatal(err)
	}
	ls := trainertest.Losses(t, opts.Checkpoint+".metrics.jsonl", MetricPositiveCosine)
	if len(ls) != 40 || res.Steps != 40 {
		t.Fatalf("%d losses, %d steps; want 40", len(ls), res.Steps)
	}
	first, last := methodtest.Mean(ls[:10]), methodtest.Mean(ls[len(ls)-10:])
	t.Logf("NT-Xent: first 10 steps %.4f, last 10 %.4f (ln 31 = %.4f)", first, last, math.Log(31))
	if !(last < first-0.05) {
		t.Errorf("loss did not fall: %.4f → %.4f", first, last)
	}
}
