// Package swav is SwAV (Caron et al. 2020, "Unsupervised Learning of Visual Features by
// Contrasting Cluster Assignments") as a pretraining method (package pretrain/method)
// over the training core (package pretrain/trainer).
//
// The algorithm follows the paper's reference code (facebookresearch/swav, main_swav.py):
// multi-crop views (2 large + V small crops, each resolution through the backbone as one
// batch), projection head, L2-normalised embeddings and prototypes (the prototypes are
// renormalised before every step), online codes by Sinkhorn-Knopp with no gradient,
// swapped prediction across all crops, an optional queue of past embeddings for small
// batches, prototypes frozen for the first iterations, SGD with momentum wrapped in LARS.
// The loss itself is package swavloss.
package swav

import (
	"errors"
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/optim"
	"github.com/swav-go/swav/pretrain/method"
	"github.com/swav-go/swav/swavloss"
)

// Name is SwAV's registry name.
const Name = "swav"

// QueueScope is the context scope of the queue's variables.
const QueueScope = "swav_queue"

// SmallInput is the largest input size (pixels) that gets the small-image recipe (the
// trainer's threshold, trainer.SmallInput).
const SmallInput = 64

// Config is SwAV's hyperparameters. Zero fields take the documented defaults, resolved
// by [Config.WithDefaults] against the run; the checkpoint records the resolved values.
type Config struct {
	// Crops is the multi-crop augmentation, including the normalisation mean/std. An
	// empty Crops.Crops means [DefaultCrops] for the input size, with the per-resolution
	// overrides below; empty Mean/Std mean the run's, or else statistics of the data.
	Crops augment.MultiCrop
	// CropCounts, CropSizes, CropMinScales and CropMaxScales replace, resolution by
	// resolution, the count, size and scale range of the default crops (the reference's
	// --nmb-crops, --size-crops, --min-scale-crops, --max-scale-crops). CropCounts and
	// CropSizes may list more resolutions than the default (then every list needs a
	// value for each). A count of -1 drops its resolution (2,-1: no multi-crop). Used
	// only when Crops.Crops is empty.
	CropCounts, CropSizes        []int
	CropMinScales, CropMaxScales []float64
	// Loss holds ε (0.05), τ (0.1), the Sinkhorn iterations (3) and the assignment
	// crops ({0, 1}); an empty Assign means swavloss.DefaultConfig.
	Loss swavloss.Config
	// FreezePrototypesIters keeps the prototypes fixed for the first iterations. 0
	// means the default: 6.7 % of the run for small inputs (the measured recipe: 313 of
	// 4,685 steps), one epoch for larger ones (the reference: 313 iterations, one epoch
	// of ImageNet at batch 4096). Negative: never frozen.
	FreezePrototypesIters int
	// QueueLength is the number of past embeddings kept per assignment crop, trimmed to a
	// multiple of the batch size. 0 means the default: 512 for small inputs (the
	// recipe; at most the dataset size less one batch), none for larger ones (the
	// reference's default). Negative: no queue. The queue is filled from epoch
	// EpochQueueStarts on (0: at once, the recipe; the reference's default is 15) and
	// joins Sinkhorn once full.
	QueueLength      int
	EpochQueueStarts int
}

// DefaultCrops is the multi-crop for inputs of size pixels: for small inputs
// augment.DefaultSmall with local crops of max(size/2, min(size, 16)) pixels (16 at 28
// px, the measured recipe's 28,16), else the reference's augment.DefaultImageNet.
func DefaultCrops(size int) augment.MultiCrop {
	if size > SmallInput {
		return augment.DefaultImageNet()
	}
	m := augment.DefaultSmall(size)
	m.Crops[1].Size = max(size/2, min(size, 16))
	return m
}

// WithDefaults returns c with every default resolved for run (the statistics of the
// data are estimated through run.ChannelStats when no normalisation is given), and
// logs a warning when the prototypes would stay frozen for the whole run.
func (c Config) WithDefaults(run method.Run) (Config, error) {
	small := run.InputSize <= SmallInput
	if len(c.Crops.Crops) == 0 {
		crops, err := overrideCrops(DefaultCrops(run.InputSize), c)
		if err != nil {
			return c, err
		}
		mean, std := c.Crops.Mean, c.Crops.Std
		c.Crops = crops
		if len(mean) > 0 {
			c.Crops.Mean, c.Crops.Std = mean, std
		}
	}
	c.CropCounts, c.CropSizes, c.CropMinScales, c.CropMaxScales = nil, nil, nil, nil
	var err error
	if c.Crops.Mean, c.Crops.Std, err = run.Normalization("swav", c.Crops.Mean, c.Crops.Std); err != nil {
		return c, err
	}
	if len(c.Loss.Assign) == 0 {
		c.Loss = swavloss.DefaultConfig()
	}
	switch {
	case c.FreezePrototypesIters == 0 && small:
		c.FreezePrototypesIters = max(1, int(math.Round(0.0668*float64(run.TotalIters))))
	case c.FreezePrototypesIters == 0:
		c.FreezePrototypesIters = run.ItersPerEpoch
	}
	if c.FreezePrototypesIters >= run.TotalIters && run.TotalIters > 0 && run.Log != nil {
		run.Log("warning: the prototypes stay frozen for %d steps, the whole run of %d: they are never trained; "+
			"give fewer --freeze-prototypes-niters (-1 never freezes them) or more --epochs", c.FreezePrototypesIters, run.TotalIters)
	}
	switch {
	case c.QueueLength == 0 && small:
		c.QueueLength = swavloss.TrimQueueLength(min(512, run.Images-run.BatchSize), run.BatchSize)
		if c.QueueLength < run.BatchSize {
			c.QueueLength = -1
		}
	case c.QueueLength == 0:
		c.QueueLength = -1
	}
	if c.QueueLength > 0 {
		c.QueueLength = swavloss.TrimQueueLength(c.QueueLength, run.BatchSize)
	}
	return c, nil
}

// overrideCrops applies the per-resolution overrides of c to the default crops d.
func overrideCrops(d augment.MultiCrop, c Config) (augment.MultiCrop, error) {
	n := max(len(d.Crops), len(c.CropCounts), len(c.CropSizes))
	lists := fmt.Sprintf("crop counts %v, sizes %v, min scales %v and max scales %v", c.CropCounts, c.CropSizes, c.CropMinScales, c.CropMaxScales)
	for _, l := range []int{len(c.CropCounts), len(c.CropSizes), len(c.CropMinScales), len(c.CropMaxScales)} {
		if l != 0 && l != n && !(n == len(d.Crops) && l <= n) {
			return d, fmt.Errorf("swav: %s must have one value per resolution", lists)
		}
	}
	crops := make([]augment.CropSpec, n)
	for i := range crops {
		if i < len(d.Crops) {
			crops[i] = d.Crops[i]
		} else if i >= len(c.CropCounts) || i >= len(c.CropSizes) || i >= len(c.CropMinScales) || i >= len(c.CropMaxScales) {
			return d, fmt.Errorf("swav: %s: a resolution beyond the default %d needs a count, size and both scales", lists, len(d.Crops))
		}
		if i < len(c.CropCounts) {
			crops[i].Count = c.CropCounts[i]
		}
		if i < len(c.CropSizes) {
			crops[i].Size = c.CropSizes[i]
		}
		if i < len(c.CropMinScales) {
			crops[i].MinScale = c.CropMinScales[i]
		}
		if i < len(c.CropMaxScales) {
			crops[i].MaxScale = c.CropMaxScales[i]
		}
	}
	// A count of -1 drops its resolution: --nmb-crops 2,-1 is SwAV without multi-crop
	// (the paper's 2×224 baseline), two crops of the first resolution only.
	kept := crops[:0]
	for _, cs := range crops {
		if cs.Count != -1 {
			kept = append(kept, cs)
		}
	}
	if len(kept) == 0 {
		return d, fmt.Errorf("swav: %s: every resolution is dropped (count -1)", lists)
	}
	d.Crops = kept
	return d, nil
}

// Validate reports the first problem with a resolved c for a model.
func (c Config) Validate(m model.Config) error {
	if m.Prototypes == 0 || m.OutDim == 0 {
		return errors.New("swav: the model needs a projection head and prototypes")
	}
	if err := c.Crops.Validate(); err != nil {
		return fmt.Errorf("swav: crops: %w", err)
	}
	if len(c.Crops.Mean) != m.InChannels {
		return fmt.Errorf("swav: %d normalisation channels for a model of %d", len(c.Crops.Mean), m.InChannels)
	}
	if err := c.Loss.Validate(c.Crops.NumCrops()); err != nil {
		return fmt.Errorf("swav: loss: %w", err)
	}
	if c.EpochQueueStarts < 0 {
		return fmt.Errorf("swav: queue start epoch %d must be ≥ 0", c.EpochQueueStarts)
	}
	return nil
}

// Method is SwAV. Create it with [New]; a Method belongs to one run.
type Method struct {
	cfg   Config
	run   method.Run
	model model.Config
	queue *swavloss.Queue
}

// New returns SwAV with cfg (its zero fields resolved at Setup).
func New(cfg Config) *Method { return &Method{cfg: cfg} }

// Name returns "swav".
func (*Method) Name() string { return Name }

// Setup resolves the configuration for run and checks it against the model.
func (m *Method) Setup(run method.Run) (model.Config, error) {
	cfg, err := m.cfg.WithDefaults(run)
	if err != nil {
		return run.Model, err
	}
	if run.Model.InChannels > 0 && len(cfg.Crops.Mean) == 0 {
		return run.Model, errors.New("swav: no normalisation")
	}
	if err := cfg.Validate(run.Model); err != nil {
		return run.Model, err
	}
	if cfg.QueueLength > 0 && cfg.QueueLength < run.BatchSize {
		return run.Model, fmt.Errorf("swav: queue length %d must be 0 or at least the batch size %d", cfg.QueueLength, run.BatchSize)
	}
	m.cfg, m.run, m.model = cfg, run, run.Model
	return run.Model, nil
}

// Resolved returns the configuration after Setup.
func (m *Method) Resolved() Config { return m.cfg }

// Config is the resolved configuration, as the checkpoint header records it.
func (m *Method) Config() any {
	c := m.cfg
	return map[string]any{
		"crops": c.Crops.Crops, "mean": c.Crops.Mean, "std": c.Crops.Std,
		"epsilon": c.Loss.Epsilon, "temperature": c.Loss.Temperature, "sinkhorn_iterations": c.Loss.Iterations,
		"crops_for_assign": c.Loss.Assign, "freeze_prototypes_iters": c.FreezePrototypesIters,
		"queue_length": max(c.QueueLength, 0), "epoch_queue_starts": c.EpochQueueStarts,
	}
}

// Views is the multi-crop.
func (m *Method) Views() method.Views { return method.MultiCropViews(m.cfg.Crops) }

// Optimizer is the reference's: SGD with momentum 0.9 and weight decay 1e-6 in LARS
// (η 0.001), base learning rate 4.8 per 256 images for small inputs (the measured
// recipe; the reference's large-batch rate: at 0.6 LARS leaves a small network near
// its initialisation) and the reference's 0.6 for larger ones; prototypes frozen for
// FreezePrototypesIters.
func (m *Method) Optimizer() method.Optimizer {
	o := method.Optimizer{BaseLR: 0.6, WeightDecay: 1e-6, Momentum: 0.9, LARS: true, TrustCoefficient: 0.001}
	if m.run.InputSize <= SmallInput {
		o.BaseLR = 4.8
	}
	if f := m.cfg.FreezePrototypesIters; f > 0 {
		o.Freeze = []optim.Freeze{optim.FreezeByName(model.PrototypesScope+"/", int64(f))}
	}
	return o
}

// Scopes: the backbone, projection head and prototypes are the network; the queue is
// state.
func (m *Method) Scopes() method.Scopes {
	s := method.Scopes{Network: []string{model.BackboneScope, model.ProjectionScope, model.PrototypesScope}}
	if m.cfg.QueueLength > 0 {
		s.State = []string{QueueScope}
	}
	return s
}

// Metric names.
const (
	MetricCodeEntropy     = "code_entropy"
	MetricPrototypesInUse = "prototypes_in_use"
	MetricQueueUsed       = "queue_used"
)

// Metrics: the mean entropy of the first assignment crop's codes, how many prototypes
// those codes use, and whether the queue is in use this step (pushed, and read by
// Sinkhorn once full).
func (m *Method) Metrics() []string {
	return []string{MetricCodeEntropy, MetricPrototypesInUse, MetricQueueUsed}
}

// Hooks is the collapse guard, from the first step after the prototypes are frozen.
func (m *Method) Hooks() []method.Hook {
	g := newCollapseGuard(m.model.Prototypes)
	after := max(m.cfg.FreezePrototypesIters, 0)
	return []method.Hook{{Name: "swav-collapse-guard", OnStep: func(s *method.StepResult) error {
		if s.Step <= after {
			return nil
		}
		inUse, _ := s.Metric(MetricPrototypesInUse)
		g.observe(s.Step, s.Loss, int(inUse), s.Log)
		return nil
	}}}
}

// StepInputs is whether the queue may be used and pushed (from EpochQueueStarts on).
func (m *Method) StepInputs(s method.StepInfo) []any {
	return []any{m.cfg.QueueLength > 0 && s.Epoch >= m.cfg.EpochQueueStarts}
}

// Step is one SwAV iteration. b.Inputs[0] is the boolean of StepInputs; b.Views hold
// the crops of each resolution, crop-major ([count·B, size, size, C]: all images of the
// first crop, then of the second …).
func (m *Method) Step(ctx *context.Context, b method.Batch) method.Output {
	cfg := m.model
	queueActive, crops := b.Inputs[0], b.Views
	g := queueActive.Graph()
	B := b.BatchSize

	// Prototypes are L2-normalised before every step (the reference does it in place
	// before the forward pass); the optimiser then updates the normalised values.
	protoVar := model.PrototypesVariable(ctx, cfg, dtypes.Float32)
	prototypes := L2NormalizeWithEpsilon(protoVar.ValueGraph(g), 1e-12, 0)
	protoVar.SetValueGraph(prototypes)

	// One backbone pass per resolution, as the reference: BN statistics are those of
	// all crops of that resolution together.
	feats := make([]*Node, len(crops))
	for i, x := range crops {
		feats[i] = model.Backbone(ctx, cfg, x, true)
	}
	z := model.Embed(model.Projection(ctx, cfg, Concatenate(feats, 0), true))
	scores := model.ScoresWith(z, prototypes)

	numCrops := m.cfg.Crops.NumCrops()
	if got := scores.Shape().Dimensions[0]; got != numCrops*B {
		panic(fmt.Sprintf("swav: %d scores for %d crops of %d images", got, numCrops, B))
	}
	perCrop := make([]*Node, numCrops)
	embeds := make([]*Node, numCrops)
	for v := range numCrops {
		perCrop[v] = Slice(scores, AxisRange(v*B, (v+1)*B))
		embeds[v] = Slice(z, AxisRange(v*B, (v+1)*B))
	}

	var qs *swavloss.QueueScores
	if m.cfg.QueueLength > 0 {
		if m.queue == nil {
			q, err := swavloss.NewQueue(ctx.In(QueueScope), len(m.cfg.Loss.Assign), m.cfg.QueueLength, cfg.EmbeddingDim(), dtypes.Float32)
			if err != nil {
				panic(err)
			}
			m.queue = q
		}
		qs = m.queue.Scores(g, Transpose(prototypes, 0, 1))
		qs.Use = And(qs.Use, queueActive)
	}
	loss, codes := swavloss.Loss(perCrop, m.cfg.Loss, qs)
	out := method.Output{
		Loss:    loss,
		Metrics: []*Node{swavloss.CodeEntropy(codes[0]), swavloss.PrototypesInUse(codes[0]), queueActive},
	}
	if m.queue != nil {
		out.PostUpdate = func(*context.Context) {
			assigned := make([]*Node, len(m.cfg.Loss.Assign))
			for j, c := range m.cfg.Loss.Assign {
				assigned[j] = embeds[c]
			}
			m.queue.Push(assigned, queueActive)
		}
	}
	return out
}

// collapseGuard warns when training looks collapsed: the loss sits at ln K (uniform
// predictions) or every sample's code picks the same prototype.
type collapseGuard struct {
	lnK    float64
	streak int
	warned bool
}

func newCollapseGuard(k int) *collapseGuard {
	return &collapseGuard{lnK: math.Log(float64(k))}
}

func (c *collapseGuard) observe(step int, loss float64, inUse int, log func(string, ...any)) {
	if math.Abs(loss-c.lnK) < 0.01*c.lnK || inUse <= 1 {
		c.streak++
	} else {
		c.streak = 0
	}
	if c.streak >= 20 && !c.warned {
		c.warned = true
		log("warning: step %d: training looks collapsed (loss %.4f vs ln K = %.4f, %d prototype(s) in use): "+
			"try a smaller epsilon (e.g. 0.03), enable the queue (--queue-length) for small batches, or lower the learning rate",
			step, loss, c.lnK, inUse)
	}
}
