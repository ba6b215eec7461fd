// Package simclr is SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive
// Learning of Visual Representations") as a pretraining method (package
// pretrain/method) over the training core (package pretrain/trainer).
//
// Two augmented views of every image go through the shared backbone and a projection
// MLP; the loss is NT-Xent (contrastive.NTXent): each view must pick its partner among
// the 2B − 1 other views of the batch, by cosine similarity over a temperature τ. The
// optimiser is SGD with momentum wrapped in LARS, as in the paper. Optionally the views
// are a multi-crop (SmallCrops local views beside the two global ones), as in the SwAV
// paper's ablation: pairs of two small crops are then left out of the loss.
package simclr

import (
	"errors"
	"flag"
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/contrastive"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/method"
)

// Name is SimCLR's registry name.
const Name = "simclr"

// SmallInput is the largest input size (pixels) that gets the small-image recipe (the
// trainer's threshold).
const SmallInput = 64

// Config is SimCLR's hyperparameters; zero fields take the defaults, resolved by
// [Config.WithDefaults] against the run.
type Config struct {
	// Views is the augmentation of the two global views. Empty Views.Crops:
	// augment.SimCLRViews(input size) (the paper's CIFAR recipe) up to 64 px; above,
	// the paper's ImageNet one (224 px crops of scale 0.08–1, colour jitter of strength
	// 1, blur p 0.5). Empty Mean/Std: the run's, or else statistics of the data.
	Views augment.MultiCrop
	// SmallCrops adds that many local views of SmallCropSize pixels (default
	// max(size/2, min(size, 16)), scale 0.05–0.14) to the two global ones: SimCLR with
	// multi-crop. 0: none. Used only when Views.Crops is empty.
	SmallCrops, SmallCropSize int
	// Temperature is NT-Xent's τ: 0 means 0.5 (the paper's CIFAR value; 0.1–0.5 are
	// sensible).
	Temperature float64
}

// SmallCropSize is the default size of the local views for inputs of size pixels.
func smallCropSize(size int) int { return max(size/2, min(size, 16)) }

// WithDefaults returns c with every default resolved for run.
func (c Config) WithDefaults(run method.Run) (Config, error) {
	if len(c.Views.Crops) == 0 {
		mean, std := c.Views.Mean, c.Views.Std
		if run.InputSize <= SmallInput {
			c.Views = augment.SimCLRViews(run.InputSize)
		} else {
			c.Views = augment.SimCLRViews(224)
			c.Views.Jitter = augment.ColorJitter{Brightness: 0.8, Contrast: 0.8, Saturation: 0.8, Hue: 0.2}
			c.Views.BlurP = 0.5
		}
		if c.SmallCrops > 0 {
			if c.SmallCropSize == 0 {
				c.SmallCropSize = smallCropSize(min(run.InputSize, 224))
			}
			c.Views.Crops = append(c.Views.Crops, augment.CropSpec{Count: c.SmallCrops, Size: c.SmallCropSize, MinScale: 0.05, MaxScale: 0.14})
		}
		c.Views.Mean, c.Views.Std = mean, std
	}
	c.SmallCrops = 0
	for _, g := range c.Views.Crops[1:] {
		c.SmallCrops += g.Count
	}
	if len(c.Views.Crops) > 1 {
		c.SmallCropSize = c.Views.Crops[1].Size
	} else {
		c.SmallCropSize = 0
	}
	var err error
	if c.Views.Mean, c.Views.Std, err = run.Normalization("simclr", c.Views.Mean, c.Views.Std); err != nil {
		return c, err
	}
	if c.Temperature == 0 {
		c.Temperature = contrastive.DefaultNTXentConfig().Temperature
	}
	return c, nil
}

// loss is the NT-Xent configuration of a resolved c: the first group's views are the
// large ones.
func (c Config) loss() contrastive.NTXentConfig {
	cfg := contrastive.NTXentConfig{Temperature: c.Temperature}
	if len(c.Views.Crops) > 1 {
		cfg.LargeViews = c.Views.Crops[0].Count
	}
	return cfg
}

// Validate reports the first problem with a resolved c.
func (c Config) Validate(channels int) error {
	if err := c.Views.Validate(); err != nil {
		return fmt.Errorf("simclr: views: %w", err)
	}
	if c.Views.Crops[0].Count < 2 {
		return fmt.Errorf("simclr: %d global views; NT-Xent needs at least 2", c.Views.Crops[0].Count)
	}
	if len(c.Views.Mean) != channels {
		return fmt.Errorf("simclr: %d normalisation channels for a model of %d", len(c.Views.Mean), channels)
	}
	if err := c.loss().Validate(c.Views.NumCrops()); err != nil {
		return fmt.Errorf("simclr: %w", err)
	}
	return nil
}

// Method is SimCLR. Create it with [New]; a Method belongs to one run.
type Method struct {
	cfg   Config
	run   method.Run
	model model.Config
}

// New returns SimCLR with cfg (its zero fields resolved at Setup).
func New(cfg Config) *Method { return &Method{cfg: cfg} }

// Name returns "simclr".
func (*Method) Name() string { return Name }

// Setup resolves the configuration and returns the network without prototypes: the
// backbone and the projection MLP (the model's head, 2048-128 for ResNet-50, 512-128
// for the small network).
func (m *Method) Setup(run method.Run) (model.Config, error) {
	cfg, err := m.cfg.WithDefaults(run)
	if err != nil {
		return run.Model, err
	}
	if err := cfg.Validate(run.Model.InChannels); err != nil {
		return run.Model, err
	}
	mc := run.Model
	mc.Prototypes = 0
	if mc.OutDim == 0 {
		return run.Model, errors.New("simclr: the model needs a projection head (OutDim > 0)")
	}
	m.cfg, m.run, m.model = cfg, run, mc
	return mc, nil
}

// Resolved returns the configuration after Setup.
func (m *Method) Resolved() Config { return m.cfg }

// Config is the resolved configuration, as the checkpoint header records it.
func (m *Method) Config() any {
	return map[string]any{"views": m.cfg.Views.Crops, "mean": m.cfg.Views.Mean, "std": m.cfg.Views.Std,
		"temperature": m.cfg.Temperature, "large_views": m.cfg.loss().LargeViews}
}

// Views is the two views (and the local ones with multi-crop).
func (m *Method) Views() method.Views { return m.cfg.Views }

// Optimizer is LARS over SGD with momentum 0.9 and weight decay 1e-6 (the paper's),
// trust coefficient 0.001; base learning rate 0.3 per 256 images at ImageNet size
// (the paper's), 4.8 up to 64 px (SwAV's measured small-image rate: with LARS each step
// moves a layer by lr·η of its norm, and the paper's rate leaves a small network near
// its initialisation in a short run).
func (m *Method) Optimizer() method.Optimizer {
	o := method.Optimizer{BaseLR: 0.3, WeightDecay: 1e-6, Momentum: 0.9, LARS: true, TrustCoefficient: 0.001}
	if m.run.InputSize <= SmallInput {
		o.BaseLR = 4.8
	}
	return o
}

// Scopes: the backbone and the projection head are the network; SimCLR has no state.
func (m *Method) Scopes() method.Scopes {
	return method.Scopes{Network: []string{model.BackboneScope, model.ProjectionScope}}
}

// MetricPositiveCosine is the mean cosine similarity of the two global views of each
// image: near 1 means the views are told apart from the others by matching, and a
// value near 1 together with a loss near ln(2B − 1) means collapse.
const MetricPositiveCosine = "positive_cosine"

// Metrics is the positive pairs' mean cosine.
func (m *Method) Metrics() []string { return []string{MetricPositiveCosine} }

// Hooks: none.
func (m *Method) Hooks() []method.Hook { return nil }

// StepInputs: none.
func (m *Method) StepInputs(method.StepInfo) []any { return nil }

// Step is one SimCLR iteration: one backbone pass per view resolution (batch-norm
// statistics of all views of that size together, as SwAV's multi-crop), the
// projection head on all views, NT-Xent over the views.
func (m *Method) Step(ctx *context.Context, b method.Batch) method.Output {
	cfg := m.model
	B := b.BatchSize
	feats := make([]*Node, len(b.Views))
	for i, x := range b.Views {
		feats[i] = model.Backbone(ctx, cfg, x, true)
	}
	z := model.Projection(ctx, cfg, Concatenate(feats, 0), true)
	numViews := m.cfg.Views.NumCrops()
	if got := z.Shape().Dimensions[0]; got != numViews*B {
		panic(fmt.Sprintf("simclr: %d projections for %d views of %d images", got, numViews, B))
	}
	views := make([]*Node, numViews)
	for v := range numViews {
		views[v] = Slice(z, AxisRange(v*B, (v+1)*B))
	}
	loss := contrastive.NTXent(views, m.cfg.loss())
	a, p := model.Embed(views[0]), model.Embed(views[1])
	cos := ReduceAllMean(ReduceSum(Mul(StopGradient(a), StopGradient(p)), -1))
	return method.Output{Loss: loss, Metrics: []*Node{cos}}
}

// Entry is SimCLR's registry entry.
func Entry() method.Entry {
	return method.Entry{
		Name:    Name,
		Summary: "SimCLR (Chen et al. 2020): NT-Xent between two augmented views (multi-crop optional), LARS",
		New:     func() method.Method { return New(Config{}) },
		Flags: func(fs *flag.FlagSet) func() (method.Method, error) {
			var c Config
			fs.Float64Var(&c.Temperature, "temperature", 0.5, "NT-Xent temperature τ (0.1–0.5)")
			fs.IntVar(&c.SmallCrops, "small-crops", 0, "local views added to the two global ones (multi-crop SimCLR; default 0: none)")
			fs.IntVar(&c.SmallCropSize, "small-crop-size", 0, "size of the local views in pixels (default max(size/2, 16) up to 64 px)")
			return func() (method.Method, error) {
				if c.Temperature <= 0 || c.SmallCrops < 0 || c.SmallCropSize < 0 {
					return nil, fmt.Errorf("simclr: --temperature %g must be > 0, --small-crops %d and --small-crop-size %d ≥ 0",
						c.Temperature, c.SmallCrops, c.SmallCropSize)
				}
				return New(c), nil
			}
		},
	}
}
