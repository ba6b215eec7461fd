// Package moco is MoCo v2 (Chen, Fan, Girshick & He 2020, "Improved Baselines with
// Momentum Contrastive Learning"; He et al. 2020, "Momentum Contrast for Unsupervised
// Visual Representation Learning") as a pretraining method (package pretrain/method)
// over the training core (package pretrain/trainer).
//
// One step, as the reference's MoCo.forward (facebookresearch/moco, builder.py):
//
//  1. the query encoder (backbone and MLP head, trained) embeds the first view: q;
//  2. the key encoder, a momentum copy of the query encoder, moves first:
//     ξ ← m·ξ + (1−m)·θ with m 0.999 (a copy of θ on the very first step), then
//     embeds the second view: k, with no gradient;
//  3. the loss is InfoNCE of q against k and the queue of K earlier keys, τ 0.2
//     (package contrastive);
//  4. after the optimiser's update, k is pushed into the queue (package memory),
//     replacing the oldest keys.
//
// # Multi-crop
//
// With Config.SmallCrops > 0 each image also gets that many local views (SwAV's small
// crops, scale 0.05–0.14), as the SwAV paper applies multi-crop to other methods: the
// query encoder embeds each of them too (one backbone pass per resolution), and every
// local view is one more query against its image's key k and the same negatives. The
// loss is InfoNCE averaged over all queries (the global one and the local ones, each
// weighted alike, as SwAV and multi-crop SimCLR average over their views). Keys come
// from the global key view only: the key encoder, the queue and what is pushed are
// those of two-view MoCo v2.
//
// # Batch norm
//
// The reference shuffles the key batch across GPUs before the key encoder (shuffle
// BN), so that a query and its key are never normalised with statistics of the same
// sub-batch. Here the step runs on one device with one batch-norm batch per encoder:
// the query encoder's BN uses the statistics of the B query views, the key
// encoder's BN (in training mode, as the reference's encoder_k) those of the B key
// views, and each keeps its own running averages (the key encoder's are its own,
// not an average of the query encoder's). Both batches hold the same B images, so
// their statistics are close to each other and to the dataset's once B is in the
// hundreds; the per-GPU leak shuffle BN fights (32-image sub-batches whose
// statistics single out their members) is much weaker at the whole-batch level, and
// is not emulated.
package moco

import (
	"errors"
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/contrastive"
	"github.com/swav-go/swav/memory"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/method"
)

// Name is MoCo v2's registry name.
const Name = "moco"

// Scopes of MoCo's state: the key encoder's twins of the backbone and the head, and
// the queue.
const (
	KeyScope   = "moco_key"
	QueueScope = "moco_queue"
)

// QueueFraction is the default queue length as a fraction of the dataset: MoCo's
// 65536 keys for ImageNet's 1,281,167 images.
const QueueFraction = 65536.0 / 1281167

// MaxQueue is the reference's queue length, the default's ceiling.
const MaxQueue = 65536

// Config is MoCo v2's hyperparameters. Zero fields take the documented defaults,
// resolved by [Config.WithDefaults] against the run.
type Config struct {
	// Views is the augmentation: a first crop spec of the two global views (query view
	// first), then any local views' specs (multi-crop). Empty Crops means
	// augment.MoCoV2Views(input size) plus SmallCrops local views; empty Mean/Std mean
	// the run's, or else statistics of the data.
	Views augment.MultiCrop
	// SmallCrops adds that many local views of SmallCropSize pixels (default
	// max(size/2, min(size, 16)), scale 0.05–0.14) as extra queries: MoCo v2 with
	// multi-crop. 0: none. Used only when Views.Crops is empty; after WithDefaults
	// both describe the resolved Views.
	SmallCrops, SmallCropSize int
	// Loss is InfoNCE's τ; 0 means 0.2 (MoCo v2's moco-t).
	Loss contrastive.InfoNCEConfig
	// Momentum is the key encoder's m; 0 means 0.999 (moco-m).
	Momentum float64
	// QueueLength is K, the number of keys kept; 0 means the reference's share of the
	// dataset (QueueFraction: 3,069 → 3,072 for 60,000 images at batch 256), rounded
	// to a multiple of the batch size, at least one batch, at most MaxQueue.
	QueueLength int
}

// WithDefaults returns c with every default resolved for run.
func (c Config) WithDefaults(run method.Run) (Config, error) {
	if len(c.Views.Crops) == 0 {
		mean, std := c.Views.Mean, c.Views.Std
		c.Views = augment.MoCoV2Views(run.InputSize)
		if c.SmallCrops > 0 {
			if c.SmallCropSize == 0 {
				c.SmallCropSize = max(run.InputSize/2, min(run.InputSize, 16))
			}
			c.Views.Crops = append(c.Views.Crops, augment.CropSpec{Count: c.SmallCrops, Size: c.SmallCropSize, MinScale: 0.05, MaxScale: 0.14})
		}
		c.Views.Mean, c.Views.Std = mean, std
	}
	c.SmallCrops, c.SmallCropSize = 0, 0
	for _, g := range c.Views.Crops[1:] {
		c.SmallCrops += g.Count
	}
	if len(c.Views.Crops) > 1 {
		c.SmallCropSize = c.Views.Crops[1].Size
	}
	var err error
	if c.Views.Mean, c.Views.Std, err = run.Normalization("moco", c.Views.Mean, c.Views.Std); err != nil {
		return c, err
	}
	if c.Loss.Temperature == 0 {
		c.Loss = contrastive.DefaultInfoNCEConfig()
	}
	if c.Momentum == 0 {
		c.Momentum = memory.DefaultMomentum
	}
	if c.QueueLength == 0 {
		c.QueueLength = DefaultQueueLength(run.Images, run.BatchSize)
	}
	return c, nil
}

// DefaultQueueLength is K for a dataset of images and a batch size: images ·
// QueueFraction rounded to the nearest multiple of batchSize, at least batchSize, at
// most MaxQueue (rounded down to a multiple of the batch).
func DefaultQueueLength(images, batchSize int) int {
	if batchSize < 1 {
		return 0
	}
	k := int(math.Round(float64(images)*QueueFraction/float64(batchSize))) * batchSize
	k = min(k, MaxQueue-MaxQueue%batchSize)
	return max(k, batchSize)
}

// Validate reports the first problem with a resolved c for a model and batch size.
func (c Config) Validate(m model.Config, batchSize int) error {
	if err := c.Views.Validate(); err != nil {
		return fmt.Errorf("moco: views: %w", err)
	}
	if len(c.Views.Crops) == 0 || c.Views.Crops[0].Count != 2 {
		return fmt.Errorf("moco: the first crop spec must hold the 2 global views (query, key), got %+v", c.Views.Crops)
	}
	if len(c.Views.Mean) != m.InChannels {
		return fmt.Errorf("moco: %d normalisation channels for a model of %d", len(c.Views.Mean), m.InChannels)
	}
	if err := c.Loss.Validate(); err != nil {
		return fmt.Errorf("moco: %w", err)
	}
	if !(c.Momentum >= 0 && c.Momentum < 1) {
		return fmt.Errorf("moco: momentum m must be in [0, 1), got %g", c.Momentum)
	}
	if c.QueueLength < batchSize {
		return fmt.Errorf("moco: queue length K = %d must be at least the batch size %d", c.QueueLength, batchSize)
	}
	if m.OutDim == 0 {
		return errors.New("moco: the model needs a projection head (OutDim > 0)")
	}
	return nil
}

// Method is MoCo v2. Create it with [New]; a Method belongs to one run.
type Method struct {
	cfg   Config
	run   method.Run
	model model.Config
	queue *memory.Queue
	ema   *memory.EMA
}

// New returns MoCo v2 with cfg (its zero fields resolved at Setup).
func New(cfg Config) *Method { return &Method{cfg: cfg} }

// Name returns "moco".
func (*Method) Name() string { return Name }

// Setup resolves the configuration and returns MoCo v2's network: the run's backbone
// with the reference's MLP head — Linear(F, F) → ReLU → Linear(F, OutDim), F the
// backbone's feature size (builder.py's dim_mlp), no batch norm in the head — and no
// prototypes.
func (m *Method) Setup(run method.Run) (model.Config, error) {
	cfg, err := m.cfg.WithDefaults(run)
	if err != nil {
		return run.Model, err
	}
	net := run.Model
	net.Prototypes = 0
	net.HeadBatchNorm = false
	net.HiddenDim = net.FeatureDim()
	if net.OutDim == 0 {
		net.OutDim = 128
	}
	if err := net.Validate(); err != nil {
		return run.Model, fmt.Errorf("moco: %w", err)
	}
	if err := cfg.Validate(net, run.BatchSize); err != nil {
		return run.Model, err
	}
	if m.ema, err = memory.NewEMA("/"+KeyScope, cfg.Momentum, "/"+model.BackboneScope, "/"+model.ProjectionScope); err != nil {
		return run.Model, fmt.Errorf("moco: %w", err)
	}
	m.cfg, m.run, m.model = cfg, run, net
	return net, nil
}

// Resolved returns the configuration after Setup.
func (m *Method) Resolved() Config { return m.cfg }

// Config is the resolved configuration, as the checkpoint header records it.
func (m *Method) Config() any {
	c := m.cfg
	return map[string]any{
		"views": c.Views.Crops, "mean": c.Views.Mean, "std": c.Views.Std,
		"jitter": c.Views.Jitter, "jitter_p": c.Views.JitterP, "gray_p": c.Views.GrayP, "blur_p": c.Views.BlurP,
		"temperature": c.Loss.Temperature, "momentum": c.Momentum, "queue_length": c.QueueLength,
	}
}

// Views is the two-view augmentation, and the local views with multi-crop.
func (m *Method) Views() method.Views { return m.cfg.Views }

// Optimizer is MoCo v2's: SGD with momentum 0.9, weight decay 1e-4, learning rate 0.03
// per 256 images (main_moco.py's --lr 0.03 at batch 256), cosine decay, no LARS.
func (m *Method) Optimizer() method.Optimizer {
	return method.Optimizer{BaseLR: 0.03, WeightDecay: 1e-4, Momentum: 0.9}
}

// Scopes: the backbone and the head are the network; the key encoder and the queue
// are state.
func (m *Method) Scopes() method.Scopes {
	return method.Scopes{
		Network: []string{model.BackboneScope, model.ProjectionScope},
		State:   []string{KeyScope, QueueScope},
	}
}

// Metric names.
const (
	// MetricPositive is the mean cosine similarity of each query with its key.
	MetricPositive = "positive_cosine"
	// MetricNegative is the mean cosine similarity of the queries with the queue.
	MetricNegative = "negative_cosine"
)

// Metrics: the mean cosine of the positive pairs and of the query–queue pairs
// (InfoNCE learns when the first rises above the second).
func (m *Method) Metrics() []string { return []string{MetricPositive, MetricNegative} }

// Hooks: none.
func (m *Method) Hooks() []method.Hook { return nil }

// StepInputs: none.
func (m *Method) StepInputs(method.StepInfo) []any { return nil }

// Step is one MoCo v2 iteration. b.Views[0] holds the two global views, view-major
// ([2·B, S, S, C]: the B query views, then the B key views); with multi-crop each
// further group holds local views, view-major too ([n·B, s, s, C]).
func (m *Method) Step(ctx *context.Context, b method.Batch) method.Output {
	if want := len(m.cfg.Views.Crops); len(b.Views) != want {
		panic(fmt.Errorf("moco: %d view groups, want %d (the two global views, then the local ones)", len(b.Views), want))
	}
	views, B := b.Views[0], b.BatchSize
	if views.Shape().Dim(0) != 2*B {
		panic(fmt.Errorf("moco: %d views for %d images, want 2 each", views.Shape().Dim(0), B))
	}
	g := views.Graph()
	cfg := m.model
	xq := Slice(views, AxisRange(0, B))
	xk := Slice(views, AxisRange(B, 2*B))

	// The query encoder first: it creates the variables the momentum update reads.
	q := model.Embed(model.Projection(ctx, cfg, model.Backbone(ctx, cfg, xq, true), true))
	// Momentum update of the key encoder with the current θ, then the keys.
	m.ema.Update(ctx, g)
	kctx := ctx.In(KeyScope).Reuse()
	k := StopGradient(model.Embed(model.Projection(kctx, cfg, model.Backbone(kctx, cfg, xk, true), true)))

	if m.queue == nil {
		queue, err := memory.NewQueue(ctx.In(QueueScope), m.cfg.QueueLength, cfg.OutDim, dtypes.Float32, m.run.Seed)
		if err != nil {
			panic(fmt.Errorf("moco: %w", err))
		}
		m.queue = queue
	}
	negatives := m.queue.Keys(g)
	queries := []*Node{q}
	for _, x := range b.Views[1:] {
		queries = append(queries, model.Embed(model.Projection(ctx, cfg, model.Backbone(ctx, cfg, x, true), true)))
	}
	loss := multiQueryInfoNCE(queries, k, negatives, m.cfg.Loss)

	qd := StopGradient(q)
	positive := ReduceAllMean(ReduceSum(Mul(qd, k), -1))
	negative := ReduceAllMean(MatMul(qd, Transpose(ConvertDType(negatives, qd.DType()), 0, 1)))
	return method.Output{
		Loss:       loss,
		Metrics:    []*Node{positive, negative},
		PostUpdate: func(*context.Context) { m.queue.Push(k) },
	}
}

// multiQueryInfoNCE is InfoNCE averaged over every query: queries[i] holds n_i·B rows,
// view-major (row v·B + j is a view of image j), each matched with key row j against
// the same negatives. With one group of B rows it is contrastive.InfoNCE itself.
func multiQueryInfoNCE(queries []*Node, key, negatives *Node, cfg contrastive.InfoNCEConfig) *Node {
	if len(queries) == 1 && queries[0].Shape().Dim(0) == key.Shape().Dim(0) {
		return contrastive.InfoNCE(queries[0], key, negatives, cfg)
	}
	B := key.Shape().Dim(0)
	var keys []*Node
	for _, qs := range queries {
		n := qs.Shape().Dim(0)
		if n%B != 0 {
			panic(fmt.Errorf("moco: %d query rows for %d keys", n, B))
		}
		for range n / B {
			keys = append(keys, key)
		}
	}
	return contrastive.InfoNCE(Concatenate(queries, 0), Concatenate(keys, 0), negatives, cfg)
}
