// Package pretrain trains a self-supervised model on unlabelled images: SwAV (Caron et
// al. 2020) by default, or any method of [Methods] (SimCLR, MoCo v2, PIRL).
//
// The work is split in packages with one job each: pretrain/method (what a method
// gives the core, and the registry), pretrain/trainer (the generic loop: data stream,
// schedule, optimiser, NaN guard, checkpoints and resume, metrics, hooks),
// pretrain/swav, pretrain/simclr, pretrain/moco and pretrain/pirl (the methods). This
// package is the entry point the command line and most programs use: [Run] trains SwAV
// with the flat [Options] this library has always had, and [Methods] lists every
// method by name for [RunMethod].
package pretrain

import (
	gocontext "context"
	"io"

	"github.com/gomlx/gomlx/backends"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/checkpoint/export"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/method"
	"github.com/swav-go/swav/pretrain/moco"
	"github.com/swav-go/swav/pretrain/pirl"
	"github.com/swav-go/swav/pretrain/simclr"
	"github.com/swav-go/swav/pretrain/swav"
	"github.com/swav-go/swav/pretrain/trainer"
	"github.com/swav-go/swav/swavloss"
)

// Options configure a SwAV run: the trainer's options (pretrain/trainer.Options) and
// SwAV's (pretrain/swav.Config) side by side. Zero fields take the defaults documented
// there, chosen for the data (input size and number of images): for inputs up to 64 px
// the measured small-image recipe (model.Small, 300,000 images seen, base learning rate
// 4.8, warmup 10 % of the run, prototypes frozen for 6.7 % of it, a queue of 512 from
// the start, crops 2×size + 4×16), else the reference's ImageNet recipe. [Options.WithDefaults]
// resolves them, as Run does.
type Options struct {
	// Model is the network; default trainer.DefaultModel for the data.
	Model model.Config
	// Input is the data's probed size and channels (trainer.Options.Input).
	Input trainer.Data
	// Crops is the multi-crop (see swav.Config.Crops); empty Crops.Crops: the default
	// for the data.
	Crops augment.MultiCrop
	// Loss is SwAV's loss (ε, τ, Sinkhorn iterations, assignment crops).
	Loss swavloss.Config

	// Epochs, Steps, BatchSize, BaseLR, FinalLR, StartWarmupLR, WarmupEpochs,
	// WeightDecay, Momentum, NoLARS and TrustCoefficient: see trainer.Options.
	// WarmupEpochs 0 is 10 % of the run, negative no warmup.
	Epochs                         int
	Steps                          int
	BatchSize                      int
	BaseLR, FinalLR, StartWarmupLR float64
	WarmupEpochs                   float64
	WeightDecay, Momentum          float64
	NoLARS                         bool
	TrustCoefficient               float64

	// FreezePrototypesIters, QueueLength and EpochQueueStarts: see swav.Config.
	FreezePrototypesIters int
	QueueLength           int
	EpochQueueStarts      int

	// Seed, Workers, OnError, Checkpoint, CheckpointEvery, Resume, Overwrite,
	// MaxSteps, MetricsPath, PlotPath, Backend, Log, DatasetName, OnStep: see
	// trainer.Options. OnError replaces the former SkipCorrupt (dataset.Skip for true).
	Seed                  uint64
	Workers               int
	OnError               dataset.OnError
	Checkpoint            string
	CheckpointEvery       int
	Resume, Overwrite     bool
	MaxSteps              int
	MetricsPath, PlotPath string
	Backend               backends.Backend
	Log                   io.Writer
	DatasetName           string
	OnStep                func(step int, loss float64)
}

// Trainer returns the trainer's part of o.
func (o Options) Trainer() trainer.Options {
	return trainer.Options{
		Model: o.Model, Input: o.Input, Epochs: o.Epochs, Steps: o.Steps, BatchSize: o.BatchSize, BaseLR: o.BaseLR, FinalLR: o.FinalLR,
		StartWarmupLR: o.StartWarmupLR, WarmupEpochs: o.WarmupEpochs, WeightDecay: o.WeightDecay,
		Momentum: o.Momentum, NoLARS: o.NoLARS, TrustCoefficient: o.TrustCoefficient, Seed: o.Seed,
		Workers: o.Workers, OnError: o.OnError, Checkpoint: o.Checkpoint, CheckpointEvery: o.CheckpointEvery,
		Resume: o.Resume, Overwrite: o.Overwrite, MaxSteps: o.MaxSteps, MetricsPath: o.MetricsPath,
		PlotPath: o.PlotPath, Backend: o.Backend, Log: o.Log, DatasetName: o.DatasetName, OnStep: o.OnStep,
	}
}

// SwAV returns SwAV's part of o.
func (o Options) SwAV() swav.Config {
	return swav.Config{Crops: o.Crops, Loss: o.Loss, FreezePrototypesIters: o.FreezePrototypesIters,
		QueueLength: o.QueueLength, EpochQueueStarts: o.EpochQueueStarts}
}

// Run pretrains SwAV on src with opts: trainer.Run with swav.New(opts.SwAV()) and
// opts.Trainer(). See trainer.Run for checkpoints, resume, interruption and errors.
func Run(ctx gocontext.Context, src dataset.Source, opts Options) (*Result, error) {
	return trainer.Run(ctx, src, swav.New(opts.SwAV()), opts.Trainer())
}

// RunMethod pretrains any method: trainer.Run.
func RunMethod(ctx gocontext.Context, src dataset.Source, m method.Method, opts trainer.Options) (*Result, error) {
	return trainer.Run(ctx, src, m, opts)
}

// WithDefaults returns o with every default resolved for src, as Run would train it
// (the first image is decoded once; the data's statistics are estimated when no
// normalisation is given): the single place defaults are decided, which the command
// line calls too.
func (o Options) WithDefaults(src dataset.Source) (Options, error) {
	m := swav.New(o.SwAV())
	t, err := trainer.Resolve(src, m, o.Trainer())
	if err != nil {
		return o, err
	}
	c := m.Resolved()
	o.Model, o.Crops, o.Loss = t.Model, c.Crops, c.Loss
	o.FreezePrototypesIters, o.QueueLength, o.EpochQueueStarts = c.FreezePrototypesIters, c.QueueLength, c.EpochQueueStarts
	o.Epochs, o.BatchSize, o.BaseLR, o.FinalLR, o.StartWarmupLR = t.Epochs, t.BatchSize, t.BaseLR, t.FinalLR, t.StartWarmupLR
	o.WarmupEpochs, o.WeightDecay, o.Momentum, o.NoLARS, o.TrustCoefficient = t.WarmupEpochs, t.WeightDecay, t.Momentum, t.NoLARS, t.TrustCoefficient
	o.Steps, o.Workers, o.MetricsPath, o.PlotPath = t.Steps, t.Workers, t.MetricsPath, t.PlotPath
	return o, nil
}

// Result summarises a run (trainer.Result).
type Result = trainer.Result

// Methods is the registry of the pretraining methods, by name: "swav", "simclr",
// "moco" (MoCo v2) and "pirl".
// It is built on each call, so no package state is shared or mutated.
func Methods() method.Registry {
	r, err := method.NewRegistry(swav.Entry(), simclr.Entry(), moco.Entry(), pirl.Entry())
	if err != nil {
		panic("pretrain: " + err.Error()) // the entries are this package's own: a programmer error
	}
	return r
}

// Names kept where other packages use them.
const (
	// KindTraining and KindModel are the checkpoint kinds (trainer.KindTraining,
	// trainer.KindModel).
	KindTraining = trainer.KindTraining
	KindModel    = trainer.KindModel
	// ExtraRecalibration is the header key recording a batch-norm re-estimation
	// (export.ExtraRecalibration).
	ExtraRecalibration = export.ExtraRecalibration
)

// ErrNonFinite is trainer.ErrNonFinite.
var ErrNonFinite = trainer.ErrNonFinite

// ReadMetrics reads a metrics file written by a run (trainer.ReadMetrics).
func ReadMetrics(path string) ([]trainer.Row, error) { return trainer.ReadMetrics(path) }
