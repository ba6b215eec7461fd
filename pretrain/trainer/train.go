package trainer

import (
	gocontext "context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/swav-go/swav/backend"
	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/checkpoint/export"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/internal/panics"
	"github.com/swav-go/swav/internal/userfile"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/optim"
	"github.com/swav-go/swav/pretrain/method"
)

// Version is recorded in checkpoints as the library version.
const Version = "swav-go 0.1.0"

// Checkpoint kinds. KindTraining is the kind of every training checkpoint (model,
// optimiser state, the method's state) whatever the method, which the header's
// ExtraMethod entry names; KindModel that of exports holding only the network.
const (
	KindTraining = export.KindTraining
	KindModel    = export.KindModel
)

// Header Extra keys a training checkpoint has: ExtraMethod is {"name": …, "config":
// …}, the method and its resolved configuration (absent in checkpoints written before
// methods existed, which are SwAV's); ExtraOptions the trainer's resolved options.
const (
	ExtraMethod  = "method"
	ExtraOptions = "pretrain"
)

// LegacyMethod is the method of training checkpoints without an ExtraMethod entry.
const LegacyMethod = "swav"

// ErrNonFinite is returned when the loss becomes NaN or ±Inf; the last checkpoint
// written before it is kept as it was.
var ErrNonFinite = errors.New("pretrain: loss is not finite")

// Result summarises a run.
type Result struct {
	// Steps is the total number of optimiser steps taken, including those of a resumed
	// run; Epoch the number of completed epochs.
	Steps, Epoch int
	// LastLoss is the loss of the last step.
	LastLoss float64
	// ImagesPerSec is the source-image throughput of this session (views/s is that
	// times the number of views).
	ImagesPerSec float64
	// Skipped lists images that failed to decode and were replaced (dataset.Skip).
	Skipped []dataset.Skipped
	// Interrupted is true when the context was cancelled: a checkpoint was saved first.
	Interrupted bool
	// Checkpoint is the path written.
	Checkpoint string
	// Options are the run's resolved options, Model the network trained.
	Options Options
}

// trainer holds a run's state.
type trainer struct {
	opts          Options
	method        method.Method
	src           dataset.Source
	backend       backends.Backend
	ctx           *context.Context
	optimizer     updater
	exec          *context.Exec
	schedule      optim.Schedule
	itersPerEpoch int
	inputSize     int
	views         method.Views
	groups        []method.ViewGroup
	numViews      int
	metricNames   []string
	metricKinds   []int
	numInputs     int
	log           *logger
	// wallBefore is the training time of earlier sessions (from the checkpoint);
	// sessionStart the start of this one.
	wallBefore   float64
	sessionStart time.Time
}

// Run trains m on src with opts and returns when all epochs (or MaxSteps) are done, the
// context is cancelled (after saving a checkpoint), or an error occurs. With a NaN or
// infinite loss it stops with ErrNonFinite, keeping the last good checkpoint.
//
// Before any training it checks that the checkpoint, metrics and plot paths can be
// written (not a directory or special file, in an existing writable directory, all
// different) and that Workers is not negative; the error names the path and the reason.
// Crash leftovers are cleaned up: each save, and a resume, first removes the temporary
// files of checkpoint.Save's pattern (".BASE.<digits>.tmp") beside the checkpoint, and a
// resume drops the metrics rows written after the checkpoint's step (and a torn last
// line), so the metrics' steps stay strictly increasing. Resuming from a checkpoint that
// is not a training checkpoint (an inference-only export), or one of another method, is
// an error.
func Run(ctx gocontext.Context, src dataset.Source, m method.Method, opts Options) (*Result, error) {
	res, err := panics.Call(func() (*Result, error) {
		t, err := newTrainer(src, m, opts)
		if err != nil {
			return nil, err
		}
		return t.run(ctx)
	})
	var p *panics.Error
	if errors.As(err, &p) && m != nil {
		// Graph-building code (the method's Step, GoMLX) reports errors by panicking.
		err = fmt.Errorf("pretrain: method %s: %w", m.Name(), err)
	}
	return res, err
}

// Resolve returns opts with every default resolved for m and src, after m.Setup: what
// Run would train, without training (the first image is decoded, and the data's
// statistics are estimated when the method asks for them). m is set up by the call
// and must not be reused for another run.
func Resolve(src dataset.Source, m method.Method, opts Options) (Options, error) {
	t, err := panics.Call(func() (*trainer, error) { return newTrainer(src, m, opts) })
	if err != nil {
		return Options{}, err
	}
	return t.opts, nil
}

func newTrainer(src dataset.Source, m method.Method, opts Options) (*trainer, error) {
	if m == nil {
		return nil, errors.New("pretrain: no method")
	}
	if src.Len() == 0 {
		return nil, errors.New("pretrain: the dataset is empty")
	}
	size, channels := opts.Input.InputSize, opts.Input.Channels
	if size <= 0 || channels <= 0 {
		var err error
		if size, channels, err = ProbeInput(src); err != nil {
			return nil, err
		}
	}
	if opts.Model.InChannels > 0 {
		channels = opts.Model.InChannels
	}
	opts = opts.WithDefaults(Data{InputSize: size, Channels: channels, Images: src.Len()})
	if opts.Workers < 0 {
		return nil, fmt.Errorf("pretrain: workers %d must be at least 1 (0 means the default, 2)", opts.Workers)
	}
	// The output paths are checked before anything slow (statistics, graph build,
	// training): a bad --out must not cost an epoch.
	if err := checkOutputs(opts); err != nil {
		return nil, err
	}
	if opts.Epochs < 1 || opts.BatchSize < 2 {
		return nil, fmt.Errorf("pretrain: epochs %d must be ≥ 1 and batch size %d ≥ 2", opts.Epochs, opts.BatchSize)
	}
	t := &trainer{method: m, src: src, inputSize: size, log: newLogger(opts.Log)}
	t.itersPerEpoch = src.Len() / opts.BatchSize
	if t.itersPerEpoch == 0 {
		return nil, fmt.Errorf("pretrain: %d images are fewer than one batch of %d", src.Len(), opts.BatchSize)
	}
	if touched := (opts.Steps + t.itersPerEpoch - 1) / t.itersPerEpoch; opts.Steps > 0 && touched != opts.Epochs {
		return nil, fmt.Errorf("pretrain: %d steps span %d epochs of %d steps, not the %d epochs given: give only one of steps and epochs",
			opts.Steps, touched, t.itersPerEpoch, opts.Epochs)
	}
	var stats struct {
		mean, std []float32
		err       error
		done      bool
	}
	run := method.Run{
		Model: opts.Model, InputSize: size, Images: src.Len(), BatchSize: opts.BatchSize,
		Epochs: opts.Epochs, ItersPerEpoch: t.itersPerEpoch, TotalIters: opts.TotalSteps(t.itersPerEpoch),
		Seed: opts.Seed, Mean: opts.Mean, Std: opts.Std, Log: t.log.printf,
		ChannelStats: func() ([]float32, []float32, error) {
			if !stats.done {
				stats.mean, stats.std, stats.err = ChannelStats(src, channels)
				stats.done = true
			}
			return stats.mean, stats.std, stats.err
		},
	}
	var err error
	if opts.Model, err = m.Setup(run); err != nil {
		return nil, err
	}
	if opts.Model.InChannels != channels {
		return nil, fmt.Errorf("pretrain: the model takes %d channels, the data has %d", opts.Model.InChannels, channels)
	}
	opts = opts.WithOptimizer(m.Optimizer())
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	t.opts = opts
	if opts.CheckpointEvery <= 0 {
		t.opts.CheckpointEvery = t.itersPerEpoch
	}
	t.views = m.Views()
	t.groups = t.views.Groups()
	for _, g := range t.groups {
		t.numViews += g.Count
	}
	t.opts.Mean, t.opts.Std = t.views.Normalization()
	t.metricNames = m.Metrics()
	scale := float64(opts.BatchSize) / 256
	t.schedule = optim.Schedule{
		Base: opts.BaseLR * scale, Final: opts.FinalLR * scale, StartWarmup: opts.StartWarmupLR * scale,
		WarmupIters: int(math.Round(max(opts.WarmupEpochs, 0) * float64(t.itersPerEpoch))),
		TotalIters:  opts.TotalSteps(t.itersPerEpoch),
	}
	if t.schedule.WarmupIters >= t.schedule.TotalIters {
		// Runs shorter than the warmup: warm up over all but the last iteration.
		t.log.printf("warning: the warmup of %g epochs (%d steps) is not shorter than the run (%d epochs, %d steps): "+
			"warming up over all but the last step; give fewer --warmup-epochs or more --epochs",
			opts.WarmupEpochs, t.schedule.WarmupIters, opts.Epochs, t.schedule.TotalIters)
		t.schedule.WarmupIters = max(t.schedule.TotalIters-1, 0)
	} else if opts.MaxSteps > 0 && t.schedule.WarmupIters >= opts.MaxSteps {
		t.log.printf("warning: this run stops at step %d (--max-steps), within the warmup of %d steps: "+
			"the learning rate never reaches its peak", opts.MaxSteps, t.schedule.WarmupIters)
	}
	if err := t.schedule.Validate(); err != nil {
		return nil, err
	}
	if t.backend = opts.Backend; t.backend == nil {
		if t.backend, err = backend.New(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// build creates the context (from the checkpoint when resuming), the optimiser and the
// step executor; it returns the step to start from.
func (t *trainer) build() (start int, err error) {
	o := t.opts
	t.ctx = context.New().Checked(false)
	t.ctx.SetParam(context.ParamInitialSeed, int64(o.Seed))
	if o.Resume {
		// A kill -9 during an earlier save leaves its temporary file behind.
		t.removeStaleTemps(o.Checkpoint)
		f, err := checkpoint.Load(o.Checkpoint)
		switch {
		case errors.Is(err, os.ErrNotExist):
			t.log.printf("no checkpoint at %s: starting a new run", o.Checkpoint)
		case err != nil:
			return 0, err
		default:
			if start, err = t.restore(f); err != nil {
				return 0, fmt.Errorf("resume from %s: %w", o.Checkpoint, err)
			}
			t.log.printf("resuming %s at step %d (epoch %d)", o.Checkpoint, start, start/t.itersPerEpoch)
		}
	}
	if t.optimizer, err = newOptimizer(o, t.method.Optimizer()); err != nil {
		return 0, err
	}
	t.numInputs = len(t.method.StepInputs(method.StepInfo{Step: start, Epoch: start / t.itersPerEpoch}))
	t.exec, err = context.NewExec(t.backend, t.ctx, t.stepGraph)
	if err != nil {
		return 0, err
	}
	return start, nil
}

// MethodOf returns the name of the method that wrote a training checkpoint header:
// its ExtraMethod entry, or LegacyMethod for checkpoints written before methods.
func MethodOf(h checkpoint.Header) (string, error) {
	raw, ok := h.Extra[ExtraMethod]
	if !ok {
		return LegacyMethod, nil
	}
	var m struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.Name == "" {
		return "", fmt.Errorf("the header's %q entry %s does not name a method", ExtraMethod, raw)
	}
	return m.Name, nil
}

// restore loads every variable of a training checkpoint and checks it belongs to this
// method and configuration.
func (t *trainer) restore(f *checkpoint.File) (int, error) {
	if f.Header.Kind != KindTraining || f.Header.Training == nil {
		what := fmt.Sprintf("of kind %q", f.Header.Kind)
		if f.Header.Kind == KindModel {
			what = "an inference-only model export"
		}
		return 0, fmt.Errorf("it is %s, not a training checkpoint (%q): it holds no optimiser state or queue, "+
			"so training cannot continue exactly from it; resume from the training checkpoint it was exported from, "+
			"or start a new run without resume (or with another checkpoint path)", what, KindTraining)
	}
	name, err := MethodOf(f.Header)
	if err != nil {
		return 0, err
	}
	if name != t.method.Name() {
		return 0, fmt.Errorf("it was trained with method %q, this run is %q: resume it with --method %s, or start a new run",
			name, t.method.Name(), name)
	}
	cfg, err := model.ParseConfig(f.Header.Model)
	if err != nil {
		return 0, err
	}
	want, _ := json.Marshal(t.opts.Model)
	got, _ := json.Marshal(cfg)
	if string(want) != string(got) {
		return 0, fmt.Errorf("the checkpoint's model %s differs from this run's %s", got, want)
	}
	if f.Header.Float16 {
		return 0, errors.New("a float16 export cannot be resumed exactly")
	}
	if err := model.ImportVariables(t.ctx, f.Tensors, nil); err != nil {
		return 0, err
	}
	if w, ok := f.Header.Training.Extra["wall_seconds"].(json.Number); ok {
		t.wallBefore, _ = w.Float64()
	}
	return int(f.Header.Training.Step), nil
}

// loop is the state of a run shared by its epochs.
type loop struct {
	res        *Result
	hooks      []method.Hook
	total      int
	lastSaved  int
	imagesDone int
}

func (t *trainer) run(ctx gocontext.Context) (res *Result, err error) {
	o := t.opts
	start, err := t.build()
	if err != nil {
		return nil, err
	}
	total := o.TotalSteps(t.itersPerEpoch)
	if o.MaxSteps > 0 && o.MaxSteps < total {
		total = o.MaxSteps
	}
	res = &Result{Steps: start, Epoch: start / t.itersPerEpoch, Checkpoint: o.Checkpoint, Options: o}
	if start > 0 && o.MetricsPath != "" && o.MetricsPath != "-" {
		t.removeStaleTemps(o.MetricsPath) // left by a rewrite below cut by a crash
	}
	metrics, dropped, err := openMetrics(o.MetricsPath, start)
	if err != nil {
		return nil, err
	}
	if dropped > 0 {
		t.log.printf("metrics %s: dropped %d line(s) written after the checkpoint's step %d by the interrupted run",
			o.MetricsPath, dropped, start)
	}
	defer metrics.Close()
	t.log.printf("%s: %d images, %d steps/epoch of %d, %d epochs, views %s, backend %s",
		t.method.Name(), t.src.Len(), t.itersPerEpoch, o.BatchSize, o.Epochs, viewsString(t.groups), t.backend.Name())
	t.log.printf("%s", t.describe())
	progress := t.log.progress(total, start)
	defer progress.finish()

	t.sessionStart = time.Now()
	l := &loop{res: res, lastSaved: start, total: total}
	l.hooks = t.hooks(l, metrics, progress)
	step := start
	defer func() {
		// The loss plot is drawn whenever this session trained: at the end, on
		// interruption and when a step failed (a NaN), from the metrics file.
		if step == start || o.PlotPath == "" || o.PlotPath == "-" || o.MetricsPath == "" || o.MetricsPath == "-" {
			return
		}
		if cerr := metrics.Close(); cerr != nil && err == nil {
			err = cerr
		}
		metrics = nil
		if perr := PlotLoss(o.MetricsPath, o.PlotPath, t.method.Name()); perr != nil {
			if err == nil {
				err = perr
			} else {
				t.log.printf("warning: %v", perr)
			}
		}
	}()
	for step < total {
		before := step
		if step, err = t.runEpoch(ctx, l, step); err != nil {
			return res, err
		}
		if step == before && ctx.Err() == nil {
			return res, fmt.Errorf("pretrain: internal: the data stream of epoch %d ended early", step/t.itersPerEpoch)
		}
		if ctx.Err() != nil {
			if l.lastSaved != step {
				if err := t.save(step); err != nil {
					return res, err
				}
			}
			res.Interrupted = true
			t.log.printf("interrupted at step %d: checkpoint saved to %s", step, o.Checkpoint)
			return res, nil
		}
	}
	res.Epoch = step / t.itersPerEpoch
	t.log.printf("done: %d steps, last loss %.4f, %.1f images/s; checkpoint %s", step, res.LastLoss, res.ImagesPerSec, o.Checkpoint)
	return res, nil
}

// describe is the resolved configuration in one line, so that a run says which
// defaults it chose for the data.
func (t *trainer) describe() string {
	o := t.opts
	lars := "LARS η " + fmt.Sprint(o.TrustCoefficient)
	if o.NoLARS {
		lars = "no LARS"
	}
	cfg, err := json.Marshal(t.method.Config())
	if err != nil {
		cfg = []byte(err.Error())
	}
	return fmt.Sprintf("schedule: base lr %.4g per 256 (%.4g at batch %d), final %.4g, warmup %.4g epochs (%d steps), %d steps in all; "+
		"SGD momentum %g, weight decay %g, %s; %s %s",
		o.BaseLR, o.BaseLR*float64(o.BatchSize)/256, o.BatchSize, o.FinalLR, max(o.WarmupEpochs, 0), t.schedule.WarmupIters,
		t.schedule.TotalIters, o.Momentum, o.WeightDecay, lars, t.method.Name(), cfg)
}

// hooks are the run's per-step hooks in order: the metrics row, progress, the OnStep
// callback, the method's hooks, the options' hooks, and the checkpoint.
func (t *trainer) hooks(l *loop, metrics *metricsFile, progress *progress) []method.Hook {
	o := t.opts
	hs := []method.Hook{
		{Name: "metrics", OnStep: func(s *method.StepResult) error {
			return metrics.write(Row{Step: s.Step, Epoch: s.Epoch, Loss: s.Loss, LR: s.LR,
				ImagesPerSec: l.res.ImagesPerSec}, s.Names, s.Values, t.metricKinds)
		}},
		{Name: "progress", OnStep: func(s *method.StepResult) error {
			progress.update(s.Step, s.Loss, l.res.ImagesPerSec, t.numViews)
			return nil
		}},
	}
	if o.OnStep != nil {
		hs = append(hs, method.Hook{Name: "on-step", OnStep: func(s *method.StepResult) error {
			o.OnStep(s.Step, s.Loss)
			return nil
		}})
	}
	hs = append(hs, t.method.Hooks()...)
	hs = append(hs, o.Hooks...)
	return append(hs, method.Hook{Name: "checkpoint", OnStep: func(s *method.StepResult) error {
		if s.Step%o.CheckpointEvery != 0 && s.Step != l.total {
			return nil
		}
		if err := t.save(s.Step); err != nil {
			return err
		}
		l.lastSaved = s.Step
		return nil
	}})
}

// runEpoch trains from step to the end of its epoch (or to the total, or until ctx is
// cancelled) and returns the step reached.
func (t *trainer) runEpoch(ctx gocontext.Context, l *loop, step int) (int, error) {
	o := t.opts
	epoch := step / t.itersPerEpoch
	stream := newBatchStream(ctx, t, epoch, step%t.itersPerEpoch)
	defer stream.close()
	for step < l.total && step/t.itersPerEpoch == epoch && ctx.Err() == nil {
		b, ok := stream.next()
		if !ok {
			break
		}
		if b.err != nil {
			return step, b.err
		}
		l.res.Skipped = append(l.res.Skipped, b.skipped...)
		lr := t.schedule.At(step)
		if err := optim.SetLearningRate(t.ctx, lr); err != nil {
			return step, err
		}
		inputs := t.method.StepInputs(method.StepInfo{Step: step, Epoch: epoch})
		if len(inputs) != t.numInputs {
			return step, fmt.Errorf("pretrain: internal: method %s gave %d step inputs, %d at the start", t.method.Name(), len(inputs), t.numInputs)
		}
		args := append(append(inputs, b.indices), b.views...)
		outs, err := t.exec.Exec(args...)
		if err != nil {
			return step, fmt.Errorf("pretrain: step %d: %w", step, err)
		}
		loss, values, err := t.readOutputs(outs)
		if err != nil {
			return step, fmt.Errorf("pretrain: step %d: %w", step, err)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			kept := fmt.Sprintf("the last good checkpoint %s (step %d) was kept", o.Checkpoint, l.lastSaved)
			if l.lastSaved == 0 {
				kept = "no checkpoint had been written yet"
			}
			return step, fmt.Errorf("%w at step %d (epoch %d, lr %g); %s: lower the learning rate",
				ErrNonFinite, step, epoch, lr, kept)
		}
		step++
		l.imagesDone += o.BatchSize
		rate := float64(l.imagesDone) / time.Since(t.sessionStart).Seconds()
		l.res.Steps, l.res.LastLoss, l.res.ImagesPerSec = step, loss, rate
		s := &method.StepResult{Step: step, Epoch: float64(step) / float64(t.itersPerEpoch), Loss: loss, LR: lr,
			Names: t.metricNames, Values: values, Log: t.log.printf}
		for _, h := range l.hooks {
			if err := h.OnStep(s); err != nil {
				return step, err
			}
		}
	}
	return step, nil
}

// save writes a training checkpoint with every context variable (model, optimiser
// state, the method's state, global step) atomically.
func (t *trainer) save(step int) error {
	if gs := optimizers.GetGlobalStep(t.ctx); gs != int64(step) {
		return fmt.Errorf("pretrain: internal: global step %d, loop step %d", gs, step)
	}
	ts, err := model.ExportVariables(t.ctx, nil)
	if err != nil {
		return err
	}
	hp, err := json.Marshal(hyperparameters(t.opts))
	if err != nil {
		return err
	}
	mc, err := json.Marshal(map[string]any{"name": t.method.Name(), "config": t.method.Config(), "network_scopes": t.method.Scopes().Network})
	if err != nil {
		return fmt.Errorf("pretrain: method %s configuration: %w", t.method.Name(), err)
	}
	f := &checkpoint.File{
		Header: checkpoint.Header{
			Kind:       KindTraining,
			Model:      t.opts.Model.MarshalJSONConfig(),
			Preprocess: t.preprocess(),
			Training: &checkpoint.Training{
				Epoch: step / t.itersPerEpoch, Step: int64(step), Seed: int64(t.opts.Seed),
				Dataset: t.opts.DatasetName, LibraryVersion: Version, Time: time.Now().UTC().Truncate(time.Second),
				Extra: map[string]any{
					"wall_seconds": math.Round(t.wallBefore + time.Since(t.sessionStart).Seconds()),
					"threads":      runtime.GOMAXPROCS(0),
					"backend":      t.backend.Name(),
				},
			},
			Extra: map[string]json.RawMessage{ExtraOptions: hp, ExtraMethod: mc},
		},
		Tensors: ts,
	}
	t.removeStaleTemps(t.opts.Checkpoint)
	return checkpoint.Save(t.opts.Checkpoint, f, checkpoint.EncodeOptions{})
}

// preprocess is the evaluation transform stored with the model: the reference's resize
// 256 → centre crop 224 for ImageNet-size inputs, the data's own size otherwise.
func (t *trainer) preprocess() *checkpoint.Preprocess {
	o := t.opts
	p := &checkpoint.Preprocess{InputSize: t.inputSize, ResizeSize: t.inputSize, Channels: o.Model.InChannels, Interpolation: "bilinear"}
	if t.inputSize >= 224 {
		p.InputSize, p.ResizeSize = 224, 256
	}
	for i := range o.Mean {
		p.Mean = append(p.Mean, float64(o.Mean[i]))
		p.Std = append(p.Std, float64(o.Std[i]))
	}
	return p
}

// hyperparameters is what a checkpoint records of the trainer's resolved options (the
// method records its own under ExtraMethod).
func hyperparameters(o Options) map[string]any {
	h := map[string]any{
		"epochs": o.Epochs, "batch_size": o.BatchSize, "base_lr": o.BaseLR, "final_lr": o.FinalLR,
		"start_warmup_lr": o.StartWarmupLR, "warmup_epochs": max(o.WarmupEpochs, 0), "weight_decay": o.WeightDecay,
		"momentum": o.Momentum, "lars": !o.NoLARS, "trust_coefficient": o.TrustCoefficient, "seed": o.Seed,
	}
	if o.Steps > 0 {
		h["steps"] = o.Steps
	}
	return h
}

// checkOutputs reports the first output of o (checkpoint, metrics, plot) that cannot be
// written, naming the path and the reason: a path that is a directory or a special
// file, a parent directory that is missing or not writable (probed by creating and
// removing a temporary file of checkpoint.Save's pattern), an existing metrics or plot
// file that cannot be opened for writing, two outputs on the same path, or an existing
// checkpoint that a new run (neither Resume nor Overwrite) would replace.
func checkOutputs(o Options) error {
	type output struct{ what, path string }
	outs := []output{{"checkpoint", o.Checkpoint}}
	if o.MetricsPath != "" && o.MetricsPath != "-" {
		outs = append(outs, output{"metrics", o.MetricsPath})
		if o.PlotPath != "" && o.PlotPath != "-" {
			outs = append(outs, output{"plot", o.PlotPath})
		}
	}
	for i, out := range outs {
		if out.path == "" {
			continue // Validate reports the missing checkpoint path
		}
		for _, prev := range outs[:i] {
			if sameOutput(prev.path, out.path) {
				return fmt.Errorf("pretrain: the %s path %s is also the %s path: give them different names", out.what, out.path, prev.what)
			}
		}
		if err := checkOutput(out.what, out.path, out.what != "checkpoint"); err != nil {
			return err
		}
	}
	if !o.Resume && !o.Overwrite && o.Checkpoint != "" {
		if _, err := os.Stat(o.Checkpoint); err == nil {
			return fmt.Errorf("pretrain: checkpoint %s already exists: resume it (--resume, Options.Resume), "+
				"or start a new run that replaces it (--overwrite, Options.Overwrite), or give another path", o.Checkpoint)
		}
	}
	return nil
}

// sameOutput reports whether two output paths name the same file.
func sameOutput(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// checkOutput checks one output path; writeInPlace is true for files rewritten in
// place (metrics, plot), which must then be writable themselves, while checkpoints are
// replaced by renaming a temporary file over them.
func checkOutput(what, path string, writeInPlace bool) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("pretrain: %s path %s is a directory: give a file name, e.g. %s", what, path, filepath.Join(path, "model.swav"))
	case err == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("pretrain: %s path %s is not a regular file (%s)", what, path, userfile.Describe(fi.Mode()))
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("pretrain: %s path %s cannot be written: %w", what, path, err)
	}
	dir := filepath.Dir(path)
	di, derr := os.Stat(dir)
	switch {
	case errors.Is(derr, fs.ErrNotExist):
		return fmt.Errorf("pretrain: %s path %s: its directory %s does not exist", what, path, dir)
	case derr != nil:
		return fmt.Errorf("pretrain: %s path %s: %w", what, path, derr)
	case !di.IsDir():
		return fmt.Errorf("pretrain: %s path %s: %s is not a directory", what, path, dir)
	}
	probe, perr := os.CreateTemp(dir, tempPattern(path))
	if perr != nil {
		return fmt.Errorf("pretrain: %s path %s: cannot create files in %s: %w", what, path, dir, perr)
	}
	name := probe.Name()
	cerr := probe.Close()
	if rerr := os.Remove(name); rerr != nil || cerr != nil {
		return fmt.Errorf("pretrain: %s path %s: probing %s: %w", what, path, dir, errors.Join(cerr, rerr))
	}
	if writeInPlace && err == nil {
		f, werr := os.OpenFile(path, os.O_WRONLY, 0)
		if werr != nil {
			return fmt.Errorf("pretrain: %s file %s cannot be written: %w", what, path, werr)
		}
		f.Close()
	}
	return nil
}

// tempPattern is the os.CreateTemp pattern of the temporary files written next to
// path: ".BASE.*.tmp", the pattern of checkpoint.Save.
func tempPattern(path string) string {
	return "." + filepath.Base(path) + ".*.tmp"
}

// isStaleTemp reports whether name is a temporary file os.CreateTemp made for
// tempPattern(path): "." + base + "." + decimal digits + ".tmp" (CreateTemp's random
// part is a decimal number).
func isStaleTemp(name, path string) bool {
	prefix, suffix := "."+filepath.Base(path)+".", ".tmp"
	if len(name) <= len(prefix)+len(suffix) || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return false
	}
	for _, c := range name[len(prefix) : len(name)-len(suffix)] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// removeStaleTemps deletes the temporary files that writes of path interrupted by a
// crash (kill -9, power loss) left in its directory: regular files whose name matches
// isStaleTemp exactly, nothing else. A trainer's saves run one at a time and remove
// their own temporary file on error, so any such file present before a save is a
// leftover. Failures are logged, not fatal: they cost disk space, not correctness.
func (t *trainer) removeStaleTemps(path string) {
	removed, err := removeStaleTemps(path)
	for _, r := range removed {
		t.log.printf("removed %s, a temporary file left by an interrupted run", r)
	}
	if err != nil {
		t.log.printf("warning: %v", err)
	}
}

// removeStaleTemps is the trainer's method without the log; it returns the paths
// removed.
func removeStaleTemps(path string) (removed []string, err error) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("looking for temporary files of %s: %w", path, err)
	}
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !isStaleTemp(e.Name(), path) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing a temporary file of %s: %w", path, err))
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}
