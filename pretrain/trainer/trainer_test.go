package trainer

import (
	"bytes"
	gocontext "context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/method"
	"github.com/swav-go/swav/pretrain/swav"
)

// TestDefaultsFitTheData: small inputs get the small network and the recipe's length
// (300,000 images seen, 5 to 200 epochs), larger ones ResNet-50 and 100 epochs; the
// warmup is 10 % of the run, a negative warmup stays "none", and resolving twice
// changes nothing.
func TestDefaultsFitTheData(t *testing.T) {
	tests := []struct {
		d      Data
		block  string
		epochs int
	}{
		{Data{InputSize: 28, Channels: 1, Images: 60000}, model.BasicBlock, 5},
		{Data{InputSize: 28, Channels: 1, Images: 10000}, model.BasicBlock, 30},
		{Data{InputSize: 32, Channels: 3, Images: 1000}, model.BasicBlock, 200},
		{Data{InputSize: 64, Channels: 3, Images: 1_000_000}, model.BasicBlock, 5},
		{Data{InputSize: 96, Channels: 3, Images: 5000}, model.BottleneckBlock, 100},
	}
	for _, tc := range tests {
		o := Options{}.WithDefaults(tc.d)
		if o.Model.Block != tc.block || o.Model.InChannels != tc.d.Channels || o.Epochs != tc.epochs {
			t.Errorf("%+v: model %s with %d channels, %d epochs; want %s, %d channels, %d epochs",
				tc.d, o.Model.Block, o.Model.InChannels, o.Epochs, tc.block, tc.d.Channels, tc.epochs)
		}
		if o.WarmupEpochs != float64(tc.epochs)/10 || o.BatchSize != 64 || o.Workers != 2 {
			t.Errorf("%+v: warmup %g, batch %d, workers %d; want %g, 64, 2", tc.d, o.WarmupEpochs, o.BatchSize, o.Workers, float64(tc.epochs)/10)
		}
		if again := o.WithDefaults(tc.d); !reflect.DeepEqual(again, o) {
			t.Errorf("%+v: resolving twice changed the options", tc.d)
		}
	}
	d := Data{InputSize: 28, Channels: 1, Images: 60000}
	if o := (Options{WarmupEpochs: -1}).WithDefaults(d); o.WarmupEpochs != -1 {
		t.Errorf("warmup -1 resolved to %g, want it kept as none", o.WarmupEpochs)
	}
	if o := (Options{WarmupEpochs: 0.5, Epochs: 3}).WithDefaults(d); o.WarmupEpochs != 0.5 || o.Epochs != 3 {
		t.Errorf("explicit warmup 0.5 / 3 epochs became %g / %d", o.WarmupEpochs, o.Epochs)
	}
	opt := method.Optimizer{BaseLR: 4.8, WeightDecay: 1e-6, Momentum: 0.9, LARS: true, TrustCoefficient: 0.001}
	o := (Options{}).WithOptimizer(opt)
	if o.BaseLR != 4.8 || o.FinalLR != 4.8/1000 || o.WeightDecay != 1e-6 || o.Momentum != 0.9 || o.NoLARS || o.TrustCoefficient != 0.001 {
		t.Errorf("the method's optimiser defaults gave %+v", o)
	}
	if o := (Options{BaseLR: 1}).WithOptimizer(opt); o.BaseLR != 1 || o.FinalLR != 0.001 {
		t.Errorf("base lr 1 over the method's: base %g final %g, want 1 and 0.001", o.BaseLR, o.FinalLR)
	}
	if o := (Options{}).WithOptimizer(method.Optimizer{BaseLR: 0.03}); !o.NoLARS {
		t.Error("a method without LARS got LARS")
	}
}

// countingSource counts the decodes of image 0.
type countingSource struct {
	noiseSource
	first *atomic.Int32
}

func (s countingSource) Image(i int) (image.Image, error) {
	if i == 0 {
		s.first.Add(1)
	}
	return s.noiseSource.Image(i)
}

// TestProbeOnce: resolving a run decodes the first image once to learn its size; a
// caller that probed it already (Options.Input) and gave the normalisation causes no
// decode at all.
func TestProbeOnce(t *testing.T) {
	n := new(atomic.Int32)
	src := countingSource{noiseSource{64}, n}
	o := tinyOptions(t, t.TempDir())
	o.Mean, o.Std = []float32{0.5}, []float32{0.25}
	if _, err := Resolve(src, tinySwAV(), o); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 1 {
		t.Errorf("the first image was decoded %d times, want once", n.Load())
	}
	n.Store(0)
	o.Input = Data{InputSize: 28, Channels: 1}
	r, err := Resolve(src, tinySwAV(), o)
	if err != nil {
		t.Fatal(err)
	}
	if n.Load() != 0 {
		t.Errorf("with Options.Input the first image was decoded %d times, want 0", n.Load())
	}
	if !reflect.DeepEqual(r.Mean, o.Mean) {
		t.Errorf("resolved mean %v, want the given %v", r.Mean, o.Mean)
	}
}

// TestWarnings: a warmup as long as the run, a step limit inside the warmup and
// prototypes frozen for the whole run are each reported before training.
func TestWarnings(t *testing.T) {
	var log bytes.Buffer
	o := tinyOptions(t, t.TempDir())
	o.Log, o.Epochs, o.WarmupEpochs = &log, 2, 3
	if _, err := Resolve(noiseSource{64}, tinySwAV(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "warmup of 3 epochs (12 steps) is not shorter than the run (2 epochs, 8 steps)") {
		t.Errorf("no warmup warning: %q", log.String())
	}
	log.Reset()
	o.WarmupEpochs, o.MaxSteps = 1, 3
	if _, err := Resolve(noiseSource{64}, tinySwAV(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "stops at step 3 (--max-steps), within the warmup of 4 steps") {
		t.Errorf("no step-limit warning: %q", log.String())
	}
	log.Reset()
	o.MaxSteps = 0
	if _, err := Resolve(noiseSource{64}, swav.New(swav.Config{Crops: tinySwAV().(*swav.Method).Resolved().Crops, FreezePrototypesIters: 8}), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "prototypes stay frozen for 8 steps, the whole run of 8") {
		t.Errorf("no freezing warning: %q", log.String())
	}
}

// TestRowRoundTrip: a metrics row holds the trainer's columns, then the method's
// metrics in its order, each as its kind (float, integer, boolean), and reads back.
func TestRowRoundTrip(t *testing.T) {
	b := marshalRow(Row{Step: 3, Epoch: 0.75, Loss: 5.25, LR: 0.0375, ImagesPerSec: 40.5},
		[]string{"code_entropy", "prototypes_in_use", "queue_used"}, []float64{1.5, 13, 1}, []int{kindFloat, kindInt, kindBool})
	want := `{"step":3,"epoch":0.75,"loss":5.25,"lr":0.0375,"code_entropy":1.5,"prototypes_in_use":13,"queue_used":true,"images_per_sec":40.5}`
	if string(b) != want {
		t.Errorf("row %s\nwant %s", b, want)
	}
	var r Row
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Step != 3 || r.Loss != 5.25 || !reflect.DeepEqual(r.Metrics, map[string]float64{"code_entropy": 1.5, "prototypes_in_use": 13, "queue_used": 1}) {
		t.Errorf("read back %+v", r)
	}
	if got := string(marshalRow(Row{Loss: math.NaN()}, nil, nil, nil)); !strings.Contains(got, `"loss":null`) {
		t.Errorf("NaN loss written as %s, want null (JSON has no NaN)", got)
	}
}

// TestSmoothAndTicks: the moving average is the hand-computed bias-corrected EMA, and
// tick labels at a small range keep enough decimals to differ (5.65, 5.60, 5.55 were
// all "5.6").
func TestSmoothAndTicks(t *testing.T) {
	pts := plotter.XYs{{X: 0, Y: 1}, {X: 1, Y: 3}, {X: 2, Y: 3}}
	got := Smooth(pts, 3) // α = 0.5
	// avg: 0.5, 0.5·0.5+0.5·3 = 1.75, 0.875+1.5 = 2.375; weight 0.5, 0.75, 0.875
	want := []float64{1, 1.75 / 0.75, 2.375 / 0.875}
	for i := range want {
		if math.Abs(got[i].Y-want[i]) > 1e-12 || got[i].X != pts[i].X {
			t.Errorf("Smooth[%d] = %v, want (%g, %g)", i, got[i], pts[i].X, want[i])
		}
	}
	ticks := relabel([]plot.Tick{{Value: 5.55, Label: "5.6"}, {Value: 5.575}, {Value: 5.6, Label: "5.6"}, {Value: 5.65, Label: "5.6"}})
	var labels []string
	for _, tk := range ticks {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if !reflect.DeepEqual(labels, []string{"5.55", "5.60", "5.65"}) {
		t.Errorf("labels %v, want 5.55 5.60 5.65", labels)
	}
	for _, tk := range (decimalTicks{}).Ticks(5.548, 5.652) {
		if tk.Label != "" && strings.Count(tk.Label, ".") == 1 && len(strings.Split(tk.Label, ".")[1]) < 2 {
			t.Errorf("tick %g labelled %q at a 0.1 range", tk.Value, tk.Label)
		}
	}
}

// corruptSource fails to decode image 5.
type corruptSource struct{ noiseSource }

func (s corruptSource) Image(i int) (image.Image, error) {
	if i == 5 {
		return nil, errors.New("bad bytes")
	}
	return s.noiseSource.Image(i)
}

// TestOnErrorAndHooks: with dataset.Fail a corrupt image stops the run naming it; with
// dataset.Skip it is listed and replaced. The hooks run in their documented order
// after every step (metrics row already written when the method's and the options'
// hooks run), and a hook's error stops the run at that step, after its row.
func TestOnErrorAndHooks(t *testing.T) {
	o := tinyOptions(t, t.TempDir())
	o.MaxSteps = 4
	_, err := Run(gocontext.Background(), corruptSource{noiseSource{64}}, tinySwAV(), o)
	if err == nil || !strings.Contains(err.Error(), "bad bytes") {
		t.Fatalf("Fail: %v, want the decode error", err)
	}
	o = tinyOptions(t, t.TempDir())
	o.MaxSteps, o.OnError = 4, dataset.Skip
	var order []string
	o.OnStep = func(step int, _ float64) { order = append(order, fmt.Sprintf("on-step %d", step)) }
	o.Hooks = []method.Hook{
		{Name: "mine", OnStep: func(s *method.StepResult) error {
			rows, err := ReadMetrics(o.Checkpoint + ".metrics.jsonl")
			if err != nil || len(rows) != s.Step {
				return fmt.Errorf("at step %d the metrics file has %d rows (%v)", s.Step, len(rows), err)
			}
			if _, ok := s.Metric(swav.MetricPrototypesInUse); !ok {
				return errors.New("no prototypes_in_use metric")
			}
			order = append(order, fmt.Sprintf("mine %d", s.Step))
			if s.Step == 3 {
				return errors.New("hook stop")
			}
			return nil
		}},
	}
	res, err := Run(gocontext.Background(), corruptSource{noiseSource{64}}, tinySwAV(), o)
	if err == nil || err.Error() != "hook stop" {
		t.Fatalf("Skip with a stopping hook: %v", err)
	}
	if want := []string{"on-step 1", "mine 1", "on-step 2", "mine 2", "on-step 3", "mine 3"}; !reflect.DeepEqual(order, want) {
		t.Errorf("hooks ran %v, want %v", order, want)
	}
	if res == nil || len(res.Skipped) != 1 || res.Skipped[0].Name != "noise#5" {
		t.Errorf("skipped %+v, want noise#5", res)
	}
}

// TestLegacyCheckpointResumesAsSwAV: a training checkpoint written before methods
// existed (no "method" header entry) resumes as SwAV, and exactly: the losses equal an
// uninterrupted run's.
func TestLegacyCheckpointResumesAsSwAV(t *testing.T) {
	dir := t.TempDir()
	full := tinyOptions(t, dir)
	full.Checkpoint = dir + "/full.swav"
	full.MaxSteps = 4
	if _, err := Run(gocontext.Background(), noiseSource{64}, tinySwAV(), full); err != nil {
		t.Fatal(err)
	}
	part := tinyOptions(t, dir)
	part.Checkpoint = dir + "/part.swav"
	part.MaxSteps = 2
	if _, err := Run(gocontext.Background(), noiseSource{64}, tinySwAV(), part); err != nil {
		t.Fatal(err)
	}
	f, err := checkpoint.Load(part.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if name, err := MethodOf(f.Header); err != nil || name != swav.Name {
		t.Fatalf("method %q, %v", name, err)
	}
	delete(f.Header.Extra, ExtraMethod)
	if err := checkpoint.Save(part.Checkpoint, f, checkpoint.EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
	part.MaxSteps, part.Resume = 4, true
	if _, err := Run(gocontext.Background(), noiseSource{64}, tinySwAV(), part); err != nil {
		t.Fatalf("resuming a checkpoint without method entry: %v", err)
	}
	want, err := ReadMetrics(full.Checkpoint + ".metrics.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadMetrics(part.Checkpoint + ".metrics.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d rows after resume", len(got))
	}
	for i := range want {
		if got[i].Loss != want[i].Loss {
			t.Errorf("step %d: loss %.9g after resume, %.9g uninterrupted", i+1, got[i].Loss, want[i].Loss)
		}
	}
	if _, err := os.Stat(part.Checkpoint + ".loss.png"); err != nil {
		t.Errorf("loss plot: %v", err)
	}
}

// TestInterruptWritesPlot: an interrupted run draws its loss plot too, and the
// checkpoint header records the method with its resolved configuration.
func TestInterruptWritesPlot(t *testing.T) {
	o := tinyOptions(t, t.TempDir())
	ctx, cancel := gocontext.WithCancel(gocontext.Background())
	defer cancel()
	o.OnStep = func(step int, _ float64) {
		if step == 2 {
			cancel()
		}
	}
	res, err := Run(ctx, noiseSource{64}, tinySwAV(), o)
	if err != nil || !res.Interrupted {
		t.Fatalf("interrupted %v, %v", res, err)
	}
	if fi, err := os.Stat(o.Checkpoint + ".loss.png"); err != nil || fi.Size() == 0 {
		t.Errorf("no loss plot after an interruption: %v", err)
	}
	f, err := checkpoint.Load(o.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Name   string         `json:"name"`
		Config map[string]any `json:"config"`
		Scopes []string       `json:"network_scopes"`
	}
	if err := json.Unmarshal(f.Header.Extra[ExtraMethod], &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != "swav" || m.Config["freeze_prototypes_iters"] != 3.0 || !reflect.DeepEqual(m.Scopes, []string{"backbone", "projection", "prototypes"}) {
		t.Errorf("header method entry %+v", m)
	}
}

// panicky is SwAV whose step graph panics, as graph code reports a mistake.
type panicky struct{ *swav.Method }

func (panicky) Step(*context.Context, method.Batch) method.Output { panic("shapes do not match") }

// TestStepPanicIsAnError: a method's graph-building panic comes back from Run as an
// error naming the method and the panic, with nothing trained.
func TestStepPanicIsAnError(t *testing.T) {
	o := tinyOptions(t, t.TempDir())
	_, err := Run(gocontext.Background(), noiseSource{64}, panicky{tinySwAV().(*swav.Method)}, o)
	if err == nil || !strings.Contains(err.Error(), "pretrain: method swav:") || !strings.Contains(err.Error(), "shapes do not match") {
		t.Errorf("error %v, want the panic as an error naming the method", err)
	}
	if _, err := Run(gocontext.Background(), noiseSource{64}, nil, o); err == nil || !strings.Contains(err.Error(), "no method") {
		t.Errorf("nil method: %v", err)
	}
}

// TestStepsSpanAPartialEpoch: Options.Steps sets the run's length in steps (the last
// epoch ends part-way): the epochs and the warmup resolve from it, the run stops after
// exactly Steps steps, its learning rates are the hand-computed warmup and cosine over
// those steps, the checkpoint records them, and a contradicting Epochs is refused.
func TestStepsSpanAPartialEpoch(t *testing.T) {
	o := tinyOptions(t, t.TempDir()) // 64 images, batch 16: 4 steps per epoch
	o.Epochs, o.WarmupEpochs, o.Steps = 0, 0, 7
	r, err := Resolve(noiseSource{64}, tinySwAV(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Epochs != 2 || math.Abs(r.WarmupEpochs-0.7/4) > 1e-15 || r.Steps != 7 {
		t.Fatalf("7 steps of 4 per epoch resolved to %d epochs, warmup %g epochs; want 2 and 0.175", r.Epochs, r.WarmupEpochs)
	}
	res, err := Run(gocontext.Background(), noiseSource{64}, tinySwAV(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 7 {
		t.Errorf("the run stopped at step %d, want 7", res.Steps)
	}
	rows, err := ReadMetrics(o.Checkpoint + ".metrics.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 {
		t.Fatalf("%d metrics rows, want 7", len(rows))
	}
	// Warmup round(0.7) = 1 step at the warmup start (0), then the cosine over the
	// remaining 6 steps from base to final, both scaled by batch/256.
	base := 0.6 * 16 / 256
	final := base / 1000
	for i, row := range rows {
		want := 0.0
		if i >= 1 {
			want = final + 0.5*(base-final)*(1+math.Cos(math.Pi*float64(i-1)/6))
		}
		if math.Abs(row.LR-want) > 1e-9*base {
			t.Errorf("step %d: lr %g, want %g", row.Step, row.LR, want)
		}
	}
	f, err := checkpoint.Load(o.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	var hp struct {
		Steps, Epochs int
	}
	if err := json.Unmarshal(f.Header.Extra[ExtraOptions], &hp); err != nil || hp.Steps != 7 || hp.Epochs != 2 {
		t.Errorf("the checkpoint records %s (%v), want steps 7 and epochs 2", f.Header.Extra[ExtraOptions], err)
	}
	o.Epochs, o.Overwrite = 3, true
	if _, err := Resolve(noiseSource{64}, tinySwAV(), o); err == nil || !strings.Contains(err.Error(), "7 steps span 2 epochs of 4 steps, not the 3 epochs given") {
		t.Errorf("steps 7 with epochs 3: %v, want the contradiction named", err)
	}
}
