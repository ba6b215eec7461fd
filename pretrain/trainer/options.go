// Package trainer is the training core shared by every pretraining method (package
// pretrain/method): the multi-view data stream, the learning-rate schedule (linear
// warmup, per-iteration cosine decay), SGD with momentum optionally wrapped in LARS,
// the NaN guard, checkpoints and exact resume, metrics, progress and the loss plot, and
// named per-step hooks (as GoMLX's train.Loop.OnStep and train.EveryNSteps).
//
// Training streams images from a dataset.Source: decoding and the method's views run on
// worker goroutines ahead of the step, deterministic for a given seed whatever the
// number of workers (each image's views come from a generator seeded by seed, epoch and
// index). Checkpoints hold every variable (network, optimiser state, the method's
// state), the step and epoch, so a stopped run resumes exactly; their header records the
// method's name and resolved configuration.
//
// Files: options.go (the run's options and their defaults), data.go (the batch
// stream), step.go (the step graph and optimiser), train.go (the loop: schedule,
// checkpoints, resume, NaN guard, hooks), metrics.go (JSONL metrics, progress, loss
// plot).
package trainer

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/gomlx/gomlx/backends"

	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/method"
)

// Options configure a run of any method. Zero fields take the documented default,
// resolved once by [Options.WithDefaults] (the data's) and [Options.WithOptimizer] (the
// method's); the checkpoint header records the resolved values.
type Options struct {
	// Model is the network; default [DefaultModel] for the data. The method may adjust
	// its heads (method.Method.Setup).
	Model model.Config
	// Mean and Std are the per-channel normalisation; empty: the method's choice
	// (usually estimated from the data).
	Mean, Std []float32
	// Input is the data's input size and channels when the caller already probed them
	// with [ProbeInput] (e.g. to choose an architecture): the run then decodes no image
	// to learn them. Zero InputSize: the run probes the first image. Images is ignored
	// (it is the source's length).
	Input Data

	// Epochs to train; default [DefaultEpochs] for the data, or the epochs that Steps
	// touch when Steps is set.
	Epochs int
	// Steps, when not 0, is the run's length in steps instead of whole epochs: the
	// learning-rate schedule (warmup and cosine) and the method's length-dependent
	// defaults span Steps steps, the last epoch ending part-way through. Epochs must
	// then be 0 (resolved to the epochs the steps touch) or that number of epochs.
	// Used to give runs of different methods the same training time. 0: Epochs whole
	// epochs.
	Steps int
	// BatchSize is the number of source images per step (each gives all its views).
	// Default 64.
	BatchSize int
	// BaseLR is the learning rate for a batch of 256, scaled by BatchSize/256;
	// FinalLR the cosine schedule's end (scaled the same way); StartWarmupLR the
	// warmup's start (0). Zero BaseLR and FinalLR take the method's defaults
	// (method.Optimizer).
	BaseLR, FinalLR, StartWarmupLR float64
	// WarmupEpochs of linear warmup (may be fractional). 0 means the default, 10 % of
	// the run (the reference's 10 of 100 epochs); a negative value means no warmup,
	// and stays negative once resolved, so resolving twice changes nothing. The
	// command line's --warmup-epochs means the same.
	WarmupEpochs float64
	// WeightDecay and Momentum of SGD; zero takes the method's.
	WeightDecay, Momentum float64
	// NoLARS disables the LARS wrapper where the method uses it; TrustCoefficient is
	// LARS's η (zero: the method's).
	NoLARS           bool
	TrustCoefficient float64

	// Seed makes the run reproducible: initialisation, shuffling and augmentation.
	Seed uint64
	// Workers decode and augment images ahead of the step (default 2).
	Workers int
	// OnError says what an image that fails to decode does: dataset.Fail (the zero
	// value) stops the run with an error naming it; dataset.Skip replaces it by
	// another image of its batch, and lists it in Result.Skipped.
	OnError dataset.OnError

	// Checkpoint is the path of the checkpoint written every CheckpointEvery steps
	// (default: once per epoch) and at the end. Required.
	Checkpoint      string
	CheckpointEvery int
	// Resume continues from Checkpoint when it exists.
	Resume bool
	// Overwrite lets a new run (Resume false) replace a file already at Checkpoint at
	// its first save. Without it such a run is refused before any training, so running
	// the same command twice cannot silently destroy a trained model.
	Overwrite bool
	// MaxSteps stops after this many steps in total (0: run all epochs). It does not
	// change the schedule, which is that of all Epochs.
	MaxSteps int
	// MetricsPath receives one JSON object per step (default Checkpoint + ".metrics.jsonl");
	// PlotPath the loss curve as PNG at the end and on interruption (default
	// Checkpoint + ".loss.png"). Set either to "-" to disable it.
	MetricsPath, PlotPath string

	// Backend computes the graphs; nil means backend.New().
	Backend backends.Backend
	// Log receives progress lines (nil: discarded). Progress draws a progress bar
	// instead when Log is a terminal.
	Log io.Writer
	// DatasetName is recorded in checkpoints.
	DatasetName string
	// OnStep, when set, is called after every step with the step count and loss (e.g.
	// to report progress elsewhere, or to cancel the run's context).
	OnStep func(step int, loss float64)
	// Hooks run after every step, after the method's hooks and before the checkpoint.
	Hooks []method.Hook
}

// Data is what the defaults depend on: the images' size in pixels (the first image's
// shorter side), their channels and how many there are.
type Data struct {
	InputSize, Channels, Images int
}

// SmallInput is the largest input size (pixels) that gets the small-image recipe: the
// small ResNet and the schedule measured on Fashion-MNIST. Larger inputs get the
// reference's ImageNet recipe.
const SmallInput = 64

// DefaultModel is the network for the data: model.Small for inputs up to SmallInput
// pixels, ResNet-50 above; with the data's channels.
func DefaultModel(d Data) model.Config {
	if d.InputSize <= SmallInput {
		return model.Small(d.Channels)
	}
	m := model.ResNet50()
	m.InChannels = d.Channels
	return m
}

// recipeImages is how many images the small-image recipe trains on: five epochs of
// Fashion-MNIST's 60,000, the measured default model's run.
const recipeImages = 300_000

// DefaultEpochs is the run's length for the data: for small inputs, as many epochs as
// it takes to see 300,000 images (the measured default model: 5 epochs of 60,000),
// between 5 and 200; the reference's 100 for larger inputs.
func DefaultEpochs(d Data) int {
	if d.InputSize > SmallInput {
		return 100
	}
	if d.Images <= 0 {
		return 5
	}
	return min(max((recipeImages+d.Images-1)/d.Images, 5), 200)
}

// WithDefaults returns o with the data-dependent defaults set: the model, the epochs,
// the batch size, the warmup (10 % of the epochs), the workers and the output paths.
// The optimiser's defaults are the method's: see WithOptimizer.
func (o Options) WithDefaults(d Data) Options {
	if o.Model.Block == "" {
		o.Model = DefaultModel(d)
	}
	if o.BatchSize == 0 {
		o.BatchSize = 64
	}
	perEpoch := 0
	if o.BatchSize > 0 {
		perEpoch = d.Images / o.BatchSize
	}
	if o.Epochs == 0 {
		o.Epochs = DefaultEpochs(d)
		if o.Steps > 0 && perEpoch > 0 {
			o.Epochs = (o.Steps + perEpoch - 1) / perEpoch
		}
	}
	if o.WarmupEpochs == 0 {
		o.WarmupEpochs = float64(o.Epochs) / 10
		if o.Steps > 0 && perEpoch > 0 {
			o.WarmupEpochs = float64(o.Steps) / 10 / float64(perEpoch)
		}
	}
	if o.Workers == 0 {
		o.Workers = 2
	}
	if o.MetricsPath == "" && o.Checkpoint != "" {
		o.MetricsPath = o.Checkpoint + ".metrics.jsonl"
	}
	if o.PlotPath == "" && o.Checkpoint != "" {
		o.PlotPath = o.Checkpoint + ".loss.png"
	}
	return o
}

// TotalSteps is the run's length in steps for itersPerEpoch steps per epoch: Steps
// when set, else Epochs whole epochs.
func (o Options) TotalSteps(itersPerEpoch int) int {
	if o.Steps > 0 {
		return o.Steps
	}
	return o.Epochs * itersPerEpoch
}

// WithOptimizer returns o with its unset optimiser fields taken from the method's
// defaults: BaseLR, FinalLR (BaseLR/1000 when the method has none), WeightDecay,
// Momentum, TrustCoefficient; NoLARS is set when the method does not use LARS.
func (o Options) WithOptimizer(m method.Optimizer) Options {
	if o.BaseLR == 0 {
		o.BaseLR = m.BaseLR
	}
	if o.FinalLR == 0 {
		o.FinalLR = m.FinalLR
		if o.FinalLR == 0 || o.BaseLR != m.BaseLR {
			o.FinalLR = o.BaseLR / 1000
		}
	}
	if o.WeightDecay == 0 {
		o.WeightDecay = m.WeightDecay
	}
	if o.Momentum == 0 {
		o.Momentum = m.Momentum
	}
	if !m.LARS {
		o.NoLARS = true
	}
	if o.TrustCoefficient == 0 {
		o.TrustCoefficient = m.TrustCoefficient
	}
	return o
}

// Validate reports the first problem with o (after WithDefaults and WithOptimizer).
func (o Options) Validate() error {
	if err := o.Model.Validate(); err != nil {
		return err
	}
	if o.Epochs < 1 || o.BatchSize < 2 {
		return fmt.Errorf("pretrain: epochs %d must be ≥ 1 and batch size %d ≥ 2", o.Epochs, o.BatchSize)
	}
	if o.Steps < 0 {
		return fmt.Errorf("pretrain: steps %d must not be negative (0: whole epochs)", o.Steps)
	}
	if !(o.BaseLR > 0) || o.FinalLR < 0 || o.StartWarmupLR < 0 ||
		math.IsInf(o.BaseLR, 0) || math.IsInf(o.FinalLR, 0) || math.IsInf(o.WarmupEpochs, 0) {
		return fmt.Errorf("pretrain: learning rates base %g, final %g, warmup start %g and warmup %g epochs must be finite and not negative",
			o.BaseLR, o.FinalLR, o.StartWarmupLR, o.WarmupEpochs)
	}
	if len(o.Mean) != len(o.Std) {
		return fmt.Errorf("pretrain: %d normalisation means for %d stds", len(o.Mean), len(o.Std))
	}
	if o.Checkpoint == "" {
		return errors.New("pretrain: a checkpoint path is required")
	}
	return nil
}
