// Package pretrain trains a SwAV model (Caron et al. 2020) on unlabelled images.
//
// The algorithm follows the paper's reference code (facebookresearch/swav, main_swav.py):
// multi-crop views (2 large + V small crops, each resolution through the backbone as one
// batch), projection head, L2-normalised embeddings and prototypes (the prototypes are
// renormalised before every step), online codes by Sinkhorn-Knopp with no gradient,
// swapped prediction across all crops, an optional queue of past embeddings for small
// batches, prototypes frozen for the first iterations, SGD with momentum wrapped in LARS,
// linear warmup then per-iteration cosine decay.
//
// Training streams images from a dataset.Source: decoding and augmentation run on worker
// goroutines ahead of the step, deterministic for a given seed whatever the number of
// workers (each image's views come from a generator seeded by seed, epoch and index).
// Checkpoints hold the model, the optimiser state, the queue, the step and epoch, so a
// stopped run resumes exactly.
//
// Files: options.go (hyperparameters and their reference defaults), data.go (the
// multi-crop batch stream), step.go (the training-step graph), train.go (the loop:
// schedule, checkpoints, resume, NaN and collapse guards), metrics.go (JSONL metrics,
// progress, loss plot).
package pretrain

import (
	"errors"
	"fmt"
	"io"

	"github.com/gomlx/gomlx/backends"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/swavloss"
)

// Options configure a pretraining run. Defaults (filled by [Options.WithDefaults]) are
// the reference's, with the learning rate given for a batch of 256 and scaled linearly.
type Options struct {
	// Model is the network; default model.Small(channels of the data).
	Model model.Config
	// Crops is the multi-crop augmentation, including the normalisation mean/std (for
	// 1-channel data left empty, they are computed from the data). Default:
	// augment.DefaultSmall(input size) for inputs under 64 px, else DefaultImageNet.
	Crops augment.MultiCrop
	// Loss holds ε (0.05), τ (0.1), the Sinkhorn iterations (3) and the assignment
	// crops ({0, 1}).
	Loss swavloss.Config

	// Epochs to train (reference 100 for its ablations; 800 for the best model).
	Epochs int
	// BatchSize is the number of source images per step (each gives every crop).
	// Default 64.
	BatchSize int
	// BaseLR is the learning rate for a batch of 256 (reference 0.6); the run uses
	// BaseLR·BatchSize/256. FinalLR is the cosine schedule's end, default BaseLR/1000
	// scaled the same way. StartWarmupLR is the warmup's start (0).
	BaseLR, FinalLR, StartWarmupLR float64
	// WarmupEpochs of linear warmup (may be fractional). 0 means the reference's 10; a
	// negative value means no warmup.
	WarmupEpochs float64
	// WeightDecay (1e-6) and Momentum (0.9) of SGD.
	WeightDecay, Momentum float64
	// NoLARS disables the LARS wrapper (trust coefficient TrustCoefficient, 0.001, no
	// clipping), which the reference uses.
	NoLARS           bool
	TrustCoefficient float64
	// FreezePrototypesIters keeps the prototypes fixed for the first iterations
	// (reference 313, one epoch of ImageNet at batch 4096). Default: one epoch. Set a
	// negative value to never freeze.
	FreezePrototypesIters int
	// QueueLength is the number of past embeddings kept per assignment crop (0: no
	// queue; trimmed to a multiple of BatchSize). The queue is filled from epoch
	// EpochQueueStarts on (the reference's default is 15; 0 starts at once) and joins
	// Sinkhorn once full.
	QueueLength      int
	EpochQueueStarts int

	// Seed makes the run reproducible: initialisation, shuffling and augmentation.
	Seed uint64
	// Workers decode and augment images ahead of the step (default 2).
	Workers int
	// SkipCorrupt skips images that fail to decode (counted and logged); otherwise the
	// first one stops the run with an error naming it.
	SkipCorrupt bool

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
	// MaxSteps stops after this many steps in total (0: run all epochs).
	MaxSteps int
	// MetricsPath receives one JSON object per step (default Checkpoint + ".metrics.jsonl");
	// PlotPath the loss curve as PNG at the end (default Checkpoint + ".loss.png").
	// Set either to "-" to disable it.
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
}

// WithDefaults returns o with every unset field set to its documented default, given the
// data's input size and channel count.
func (o Options) WithDefaults(inputSize, channels int) Options {
	if o.Model.Block == "" {
		o.Model = model.Small(channels)
		if inputSize >= 64 {
			o.Model = model.ResNet50()
			o.Model.InChannels = channels
		}
	}
	if len(o.Crops.Crops) == 0 {
		if inputSize < 64 {
			o.Crops = augment.DefaultSmall(inputSize)
		} else {
			o.Crops = augment.DefaultImageNet()
		}
	}
	if len(o.Loss.Assign) == 0 {
		o.Loss = swavloss.DefaultConfig()
	}
	if o.Epochs == 0 {
		o.Epochs = 100
	}
	if o.BatchSize == 0 {
		o.BatchSize = 64
	}
	if o.BaseLR == 0 {
		o.BaseLR = 0.6
	}
	if o.FinalLR == 0 {
		o.FinalLR = o.BaseLR / 1000
	}
	switch {
	case o.WarmupEpochs == 0:
		o.WarmupEpochs = 10
	case o.WarmupEpochs < 0:
		o.WarmupEpochs = 0
	}
	if o.WeightDecay == 0 {
		o.WeightDecay = 1e-6
	}
	if o.Momentum == 0 {
		o.Momentum = 0.9
	}
	if o.TrustCoefficient == 0 {
		o.TrustCoefficient = 0.001
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

// Validate reports the first problem with o (after WithDefaults).
func (o Options) Validate() error {
	if err := o.Model.Validate(); err != nil {
		return err
	}
	if o.Model.Prototypes == 0 || o.Model.OutDim == 0 {
		return errors.New("pretrain: the model needs a projection head and prototypes")
	}
	if err := o.Crops.Validate(); err != nil {
		return fmt.Errorf("pretrain: crops: %w", err)
	}
	if err := o.Loss.Validate(o.Crops.NumCrops()); err != nil {
		return fmt.Errorf("pretrain: loss: %w", err)
	}
	if o.Epochs < 1 || o.BatchSize < 2 {
		return fmt.Errorf("pretrain: epochs %d must be ≥ 1 and batch size %d ≥ 2", o.Epochs, o.BatchSize)
	}
	if o.BaseLR <= 0 || o.FinalLR < 0 || o.WarmupEpochs < 0 {
		return fmt.Errorf("pretrain: learning rates base %g, final %g and warmup %g epochs must be positive", o.BaseLR, o.FinalLR, o.WarmupEpochs)
	}
	if o.QueueLength < 0 || o.EpochQueueStarts < 0 {
		return fmt.Errorf("pretrain: queue length %d and start epoch %d must be ≥ 0", o.QueueLength, o.EpochQueueStarts)
	}
	if o.QueueLength > 0 && o.QueueLength < o.BatchSize {
		return fmt.Errorf("pretrain: queue length %d must be 0 or at least the batch size %d", o.QueueLength, o.BatchSize)
	}
	if o.Checkpoint == "" {
		return errors.New("pretrain: a checkpoint path is required")
	}
	return nil
}
