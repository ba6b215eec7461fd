// Package method defines what a self-supervised pretraining method gives the training
// core (package pretrain/trainer), and a registry of methods by name.
//
// The trainer owns everything methods share: the data stream (decoding, the method's
// views, batching, corrupt images), the learning-rate schedule, the optimiser, the NaN
// guard, checkpoints and resume, metrics, progress and the loss plot. A method owns what
// makes it that method:
//
//   - its views: how one image becomes the tensors its loss sees (SwAV's multi-crop,
//     SimCLR's two views, PIRL's jigsaw patches), see [Views];
//   - its heads and state: the variables it creates under which scopes, which of them
//     are the network that export and inference keep, and which are the method's own
//     state (a queue, a memory bank, a momentum encoder), see [Scopes];
//   - its loss graph over the backbone ([Method.Step]) and the graph operations that run
//     after the optimiser's update (queue push, EMA of a momentum encoder, memory-bank
//     update: [Output.PostUpdate]);
//   - its optimiser defaults ([Optimizer]: learning rate, weight decay, LARS, variables
//     frozen at the start);
//   - its per-step metrics by name and its own per-step hooks (SwAV's collapse guard);
//   - its name and configuration, recorded in the checkpoint header.
//
// The order of calls, for one run:
//
//  1. Setup(run) once, before anything else: the method resolves its defaults against
//     the run (input size, dataset size, schedule length), validates them, and returns
//     the network to build (e.g. without prototypes for a method that has none).
//  2. Views, Optimizer, Scopes, Metrics, Hooks and Config: read after Setup, maybe more
//     than once (they return the same each time; Config is read at every checkpoint).
//  3. Step, once per compiled step graph (usually once per run), with the batch's views.
//  4. StepInputs, before every step, for the host values the step graph receives.
//
// A Method value belongs to one run: Setup may store the resolved configuration in it.
// Graph-building methods (Step and the PostUpdate closure) may panic on programmer
// errors, as GoMLX graph code does; the trainer converts such panics to errors.
package method

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/optim"
)

// Method is one self-supervised pretraining method over the shared backbone. See the
// package documentation for the order in which the trainer calls it.
type Method interface {
	// Name is the method's registry name ("swav", "simclr"), recorded in checkpoints: a
	// run resumes only a checkpoint written by the method of the same name.
	Name() string

	// Setup resolves every default of the method against run and validates the result;
	// it returns the network the trainer builds and checkpoints: run.Model, adjusted
	// where the method needs (a head of its own size, no prototypes). Warnings (e.g. a
	// freezing period longer than the run) go to run.Log. It is called once, before any
	// other method except Name.
	Setup(run Run) (model.Config, error)

	// Config is the method's resolved configuration (after Setup), recorded as JSON in
	// the checkpoint header so that a file says how it was trained.
	Config() any

	// Views is the augmentation producing the views Step receives.
	Views() Views

	// Optimizer is the method's optimiser defaults; the trainer's options override the
	// fields they set.
	Optimizer() Optimizer

	// Scopes names the top-level context scopes of the variables Step creates.
	Scopes() Scopes

	// Metrics names the per-step metrics, in the order of Output.Metrics: they become
	// the metrics file's columns after the trainer's own (step, epoch, loss, lr) and
	// reach the hooks by name.
	Metrics() []string

	// Hooks are the method's own per-step hooks (e.g. a collapse warning), run after the
	// trainer's metrics and progress hooks and before its checkpoint hook.
	Hooks() []Hook

	// StepInputs returns the host values the step graph receives for the step about to
	// run (e.g. whether a queue is in use from this epoch on), as Go scalars or
	// tensors. Their number, dtypes and shapes must not change between steps: one
	// compiled graph serves every step. It returns nil when the method needs none.
	StepInputs(s StepInfo) []any

	// Step builds one training step's loss graph in ctx (the root scope: the method
	// calls model.Backbone(ctx, …) itself, so the network's variables keep their
	// names). The trainer adds the optimiser's update of every trainable variable and
	// then calls Output.PostUpdate.
	Step(ctx *context.Context, b Batch) Output
}

// Run describes the run a method is set up for (Method.Setup).
type Run struct {
	// Model is the network the trainer would build: the user's, or the default for the
	// data (model.Small up to 64 px). InChannels is the data's channel count.
	Model model.Config
	// InputSize is the data's image size in pixels (the first image's shorter side),
	// Images the number of images in the dataset.
	InputSize, Images int
	// BatchSize is the number of source images per step; every view of an image is in
	// the same step.
	BatchSize int
	// Epochs is the run's length and ItersPerEpoch the steps per epoch; TotalIters is
	// their product. These are the schedule's, independent of a step limit, so a
	// stopped and resumed run resolves the same defaults.
	Epochs, ItersPerEpoch, TotalIters int
	// Seed is the run's seed.
	Seed uint64
	// Mean and Std are the per-channel normalisation the user asked for (empty: the
	// method chooses, e.g. calling ChannelStats or using ImageNet's values).
	Mean, Std []float32
	// ChannelStats estimates the data's per-channel mean and std of [0, 1] pixel values
	// (computed once, on first use, from up to 2000 evenly spaced images).
	ChannelStats func() (mean, std []float32, err error)
	// Log prints one line of progress or warning; never nil.
	Log func(format string, args ...any)
}

// Views turns one image into a method's views (augment.Views: groups of views by
// shape, Apply, and the normalisation inference must repeat). augment.MultiCrop is
// one (SwAV's multi-crop, SimCLR's and MoCo v2's two views), augment.Jigsaw another.
// The trainer seeds Apply's rng per (seed, epoch, image), so runs are reproducible for
// any number of workers, and calls it from several goroutines, each with its own rng.
type Views = augment.Views

// ViewGroup is Count views of Size×Size pixels (augment.ViewGroup).
type ViewGroup = augment.ViewGroup

// MultiCropViews is augment.MultiCrop as Views (it is one already; kept for callers
// that name the conversion).
func MultiCropViews(m augment.MultiCrop) Views { return m }

// Batch is one step's input to Method.Step.
type Batch struct {
	// Views holds one node per view group (Views.Groups), view-major: group g is
	// [Count·B, Size, Size, C], all B images of its first view, then of its second, …
	Views []*Node
	// Indices are the dataset indices [B] (int32) of the batch's images, in batch order
	// (a corrupt image replaced by another one of its batch carries the other's index).
	Indices *Node
	// Inputs are the values StepInputs returned, as graph parameters, in order.
	Inputs []*Node
	// BatchSize is B, the number of source images.
	BatchSize int
}

// Output is what Method.Step returns.
type Output struct {
	// Loss is the scalar the optimiser minimises.
	Loss *Node
	// Metrics are scalars, one per name of Method.Metrics, in order; float, integer
	// or boolean. They are computed in the step graph and logged every step.
	Metrics []*Node
	// PostUpdate, when not nil, is called after the optimiser's update has been added
	// to the graph, in ctx: there, a trainable variable's ValueGraph is its updated
	// value. It adds the method's state updates (SetValueGraph of non-trainable
	// variables: queue push, momentum-encoder EMA, memory-bank update).
	PostUpdate func(ctx *context.Context)
}

// Scopes names the top-level context scopes of a method's variables.
type Scopes struct {
	// Network lists the scopes of the trained network that an export keeps and
	// inference loads: model.BackboneScope and the heads (model.ProjectionScope,
	// model.PrototypesScope). They must be scopes model.IsNetworkVariable accepts.
	Network []string
	// State lists the scopes of the method's own non-trainable state (a queue, a memory
	// bank, a momentum encoder), saved in training checkpoints for an exact resume and
	// dropped by export.
	State []string
}

// Optimizer is a method's optimiser defaults: SGD with momentum, optionally wrapped in
// LARS, with a linear warmup and a cosine decay. Rates are for a batch of 256 images
// and scaled linearly with the batch size.
type Optimizer struct {
	// BaseLR is the peak learning rate; FinalLR the end of the cosine decay (0:
	// BaseLR/1000).
	BaseLR, FinalLR float64
	// WeightDecay and Momentum of SGD.
	WeightDecay, Momentum float64
	// LARS wraps SGD in LARS with trust coefficient TrustCoefficient (no clipping).
	LARS             bool
	TrustCoefficient float64
	// Freeze keeps variables fixed for the first iterations (SwAV's prototypes).
	Freeze []optim.Freeze
}

// StepInfo is where a run stands before a step.
type StepInfo struct {
	// Step is the number of steps done (0 for the first); Epoch the current epoch.
	Step, Epoch int
}

// Hook is a named per-step callback, as GoMLX's train.Loop.OnStep.
type Hook struct {
	// Name identifies the hook in errors.
	Name string
	// OnStep is called after every step; an error stops the run (after the trainer's
	// own bookkeeping for the step, before the checkpoint of that step).
	OnStep func(s *StepResult) error
}

// EveryNSteps returns a hook calling fn after every n-th step only (n ≥ 1), as GoMLX's
// train.EveryNSteps.
func EveryNSteps(n int, name string, fn func(s *StepResult) error) Hook {
	if n < 1 {
		panic("method: EveryNSteps needs n ≥ 1")
	}
	return Hook{Name: name, OnStep: func(s *StepResult) error {
		if s.Step%n != 0 {
			return nil
		}
		return fn(s)
	}}
}

// StepResult is what hooks see of a step that has just run.
type StepResult struct {
	// Step is the number of steps done, this one included; Epoch that in epochs
	// (fractional).
	Step  int
	Epoch float64
	// Loss and LR of the step.
	Loss, LR float64
	// Names are the method's metric names and Values their values this step (booleans
	// as 0 or 1), in the order of Method.Metrics.
	Names  []string
	Values []float64
	// Log prints one line (progress, warnings); never nil.
	Log func(format string, args ...any)
}

// Metric returns the value of the named metric and whether the method has it.
func (s *StepResult) Metric(name string) (float64, bool) {
	for i, n := range s.Names {
		if n == name {
			return s.Values[i], true
		}
	}
	return 0, false
}
