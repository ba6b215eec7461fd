// Package pirl is PIRL (Misra & van der Maaten 2020, "Self-Supervised Learning of
// Pretext-Invariant Representations") as a pretraining method (package
// pretrain/method) over the training core (package pretrain/trainer), following the
// authors' implementation in VISSL (configs pretrain/pirl, loss nce_loss_with_memory).
//
// One step:
//
//  1. the views are the jigsaw's (package augment): an augmented view of each image
//     and nine shuffled patches of another crop;
//  2. the backbone embeds the image views (one batch-norm batch) and, as a shared
//     encoder, all 9·B patches (another batch-norm batch);
//  3. the image head f is one linear layer (VISSL's mlp [2048, 128]); the patch head
//     g is a linear layer per patch (shared, [F, D]), the nine outputs concatenated
//     in the patches' shuffled order, and a linear layer [9·D, D] (VISSL's
//     siamese_concat_view then mlp [1152, 128]);
//  4. the loss is λ·NCE(g, m) + (1−λ)·NCE(f, m), λ 0.5, against the memory-bank
//     entry m of each image and K negatives drawn from the bank, τ 0.07 (package
//     contrastive); VISSL's other loss type, InfoNCE against the same negatives, is
//     Config.Objective "infonce";
//  5. after the optimiser's update, the bank entries of the batch's images move to
//     normalise(0.5·m + 0.5·f) (package memory); the NCE constant Z is set on the
//     first step and kept.
package pirl

import (
	"errors"
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/contrastive"
	"github.com/swav-go/swav/memory"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/method"
)

// Name is PIRL's registry name.
const Name = "pirl"

// Scopes of PIRL's own variables: the patch head (trained, but not part of the
// exported network) and the memory bank.
const (
	PatchHeadScope = "pirl_patch_head"
	BankScope      = "pirl_bank"
)

// NegativesFraction is the default number of negatives as a fraction of the
// dataset: VISSL's 32,000 for ImageNet's 1,281,167 images.
const NegativesFraction = 32000.0 / 1281167

// Config is PIRL's hyperparameters. Zero fields take the documented defaults,
// resolved by [Config.WithDefaults] against the run.
type Config struct {
	// Views is the jigsaw. Empty Image.Crops means augment.DefaultJigsaw(input size);
	// empty Mean/Std mean the run's, or else statistics of the data.
	Views augment.Jigsaw
	// Loss holds τ (0.07) and λ (0.5); its DataSize is the run's number of images.
	// A zero Temperature means the defaults for both.
	Loss contrastive.PIRLConfig
	// Negatives is K, the bank entries drawn as negatives per step; 0 means VISSL's
	// share of the dataset (NegativesFraction: 1,499 for 60,000 images), at least 1.
	Negatives int
	// BankMomentum is the bank's μ; 0 means 0.5.
	BankMomentum float64
	// Objective is the loss of each term: ObjectiveNCE (the default, "" means it:
	// VISSL's PIRL config, loss_type nce) or ObjectiveInfoNCE (VISSL's loss_type
	// cross_entropy: the softmax cross-entropy of [s⁺, s⁻]/τ with the positive first,
	// package contrastive's InfoNCE against the bank negatives).
	Objective string
}

// The objectives of Config.Objective.
const (
	ObjectiveNCE     = "nce"
	ObjectiveInfoNCE = "infonce"
)

// DefaultNegatives is K for a dataset of images: images · NegativesFraction, rounded,
// at least 1.
func DefaultNegatives(images int) int {
	return max(1, int(math.Round(float64(images)*NegativesFraction)))
}

// WithDefaults returns c with every default resolved for run.
func (c Config) WithDefaults(run method.Run) (Config, error) {
	if len(c.Views.Image.Crops) == 0 {
		mean, std := c.Views.Image.Mean, c.Views.Image.Std
		c.Views = augment.DefaultJigsaw(run.InputSize)
		c.Views.Image.Mean, c.Views.Image.Std = mean, std
	}
	mean, std, err := run.Normalization("pirl", c.Views.Image.Mean, c.Views.Image.Std)
	if err != nil {
		return c, err
	}
	c.Views.Image.Mean, c.Views.Image.Std = mean, std
	c.Views.Patches.Mean, c.Views.Patches.Std = mean, std
	if c.Loss.NCE.Temperature == 0 {
		c.Loss = contrastive.DefaultPIRLConfig(run.Images)
	}
	c.Loss.NCE.DataSize = run.Images
	if c.Negatives == 0 {
		c.Negatives = DefaultNegatives(run.Images)
	}
	if c.BankMomentum == 0 {
		c.BankMomentum = memory.DefaultBankMomentum
	}
	if c.Objective == "" {
		c.Objective = ObjectiveNCE
	}
	return c, nil
}

// Validate reports the first problem with a resolved c for a model.
func (c Config) Validate(m model.Config) error {
	if err := c.Views.Validate(); err != nil {
		return fmt.Errorf("pirl: views: %w", err)
	}
	if len(c.Views.Image.Mean) != m.InChannels {
		return fmt.Errorf("pirl: %d normalisation channels for a model of %d", len(c.Views.Image.Mean), m.InChannels)
	}
	if err := c.Loss.Validate(); err != nil {
		return fmt.Errorf("pirl: %w", err)
	}
	if c.Negatives < 1 {
		return fmt.Errorf("pirl: negatives K must be ≥ 1, got %d", c.Negatives)
	}
	if !(c.BankMomentum >= 0 && c.BankMomentum < 1) {
		return fmt.Errorf("pirl: bank momentum μ must be in [0, 1), got %g", c.BankMomentum)
	}
	if m.OutDim == 0 {
		return errors.New("pirl: the model needs an embedding size (OutDim > 0)")
	}
	if c.Objective != ObjectiveNCE && c.Objective != ObjectiveInfoNCE {
		return fmt.Errorf("pirl: objective %q is not available, objectives are: %s, %s", c.Objective, ObjectiveNCE, ObjectiveInfoNCE)
	}
	return nil
}

// Method is PIRL. Create it with [New]; a Method belongs to one run.
type Method struct {
	cfg   Config
	run   method.Run
	model model.Config
	bank  *memory.Bank
}

// New returns PIRL with cfg (its zero fields resolved at Setup).
func New(cfg Config) *Method { return &Method{cfg: cfg} }

// Name returns "pirl".
func (*Method) Name() string { return Name }

// Setup resolves the configuration and returns PIRL's network: the run's backbone with
// a single linear image head (VISSL's [2048, 128]: HiddenDim 0) and no prototypes.
func (m *Method) Setup(run method.Run) (model.Config, error) {
	cfg, err := m.cfg.WithDefaults(run)
	if err != nil {
		return run.Model, err
	}
	net := run.Model
	net.Prototypes = 0
	net.HiddenDim = 0
	net.HeadBatchNorm = false
	if net.OutDim == 0 {
		net.OutDim = 128
	}
	if err := net.Validate(); err != nil {
		return run.Model, fmt.Errorf("pirl: %w", err)
	}
	if err := cfg.Validate(net); err != nil {
		return run.Model, err
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
		"image_crop": c.Views.Image.Crops, "patch_crop": c.Views.Patches.Crops, "patch_size": c.Views.PatchSize,
		"mean": c.Views.Image.Mean, "std": c.Views.Image.Std, "jitter": c.Views.Image.Jitter,
		"temperature": c.Loss.NCE.Temperature, "lambda": c.Loss.Lambda, "negatives": c.Negatives,
		"bank_momentum": c.BankMomentum, "bank_size": c.Loss.NCE.DataSize, "objective": c.Objective,
	}
}

// Views is the jigsaw.
func (m *Method) Views() method.Views { return m.cfg.Views }

// Optimizer is VISSL's PIRL recipe: SGD with momentum 0.9, weight decay 1e-4, learning
// rate 0.03 per 256 images (base_value 0.03 at base_lr_batch_size 256), cosine decay,
// no LARS.
func (m *Method) Optimizer() method.Optimizer {
	return method.Optimizer{BaseLR: 0.03, WeightDecay: 1e-4, Momentum: 0.9}
}

// Scopes: the backbone and the image head are the network. The patch head and the
// memory bank are state: saved in training checkpoints, dropped by export (the patch
// head is trained, but only the jigsaw loss uses it).
func (m *Method) Scopes() method.Scopes {
	return method.Scopes{
		Network: []string{model.BackboneScope, model.ProjectionScope},
		State:   []string{PatchHeadScope, BankScope},
	}
}

// Metric names.
const (
	// MetricJigsawCosine is the mean cosine of the jigsaw embedding g with the bank entry.
	MetricJigsawCosine = "jigsaw_bank_cosine"
	// MetricImageCosine is the mean cosine of the image embedding f with the bank entry.
	MetricImageCosine = "image_bank_cosine"
	// MetricPartition is the NCE constant Z this step used (0 with the InfoNCE
	// objective, which has none).
	MetricPartition = "nce_z"
)

// Metrics: the cosines of both embeddings with their bank entries, and Z.
func (m *Method) Metrics() []string {
	return []string{MetricJigsawCosine, MetricImageCosine, MetricPartition}
}

// Hooks: none.
func (m *Method) Hooks() []method.Hook { return nil }

// StepInputs: none.
func (m *Method) StepInputs(method.StepInfo) []any { return nil }

// Step is one PIRL iteration. b.Views[0] holds the B image views, b.Views[1] the 9·B
// patches view-major (patch j of image i at row j·B + i), b.Indices the images'
// dataset indices (their bank entries).
func (m *Method) Step(ctx *context.Context, b method.Batch) method.Output {
	if len(b.Views) != 2 {
		panic(fmt.Errorf("pirl: %d view groups, want 2 (image, patches)", len(b.Views)))
	}
	B, cfg := b.BatchSize, m.model
	images, patches := b.Views[0], b.Views[1]
	if images.Shape().Dim(0) != B || patches.Shape().Dim(0) != augment.JigsawCells*B {
		panic(fmt.Errorf("pirl: %d image views and %d patches for %d images", images.Shape().Dim(0), patches.Shape().Dim(0), B))
	}
	g := images.Graph()
	d := cfg.OutDim

	f := model.Projection(ctx, cfg, model.Backbone(ctx, cfg, images, true), true) // [B, D]
	perPatch := linear(ctx.In(PatchHeadScope).In("patch"), model.Backbone(ctx, cfg, patches, true), d)
	// [9·B, D] view-major → [B, 9·D]: each image's patch embeddings side by side, in
	// the shuffled order.
	concat := Reshape(TransposeAllAxes(Reshape(perPatch, augment.JigsawCells, B, d), 1, 0, 2), B, augment.JigsawCells*d)
	jig := linear(ctx.In(PatchHeadScope).In("concat"), concat, d) // [B, D]

	if m.bank == nil {
		bank, err := memory.NewBank(ctx.In(BankScope), m.cfg.Loss.NCE.DataSize, d, m.cfg.BankMomentum, dtypes.Float32, m.run.Seed)
		if err != nil {
			panic(fmt.Errorf("pirl: %w", err))
		}
		m.bank = bank
	}
	positive := m.bank.Rows(b.Indices)
	negatives, _ := m.bank.Negatives(g, m.cfg.Negatives)
	z := m.bank.Partition(g)
	var loss, used, estimate *Node
	if m.cfg.Objective == ObjectiveInfoNCE {
		// λ·InfoNCE(g, m) + (1−λ)·InfoNCE(f, m); no normalisation constant (Z stays 0).
		ce := contrastive.InfoNCEConfig{Temperature: m.cfg.Loss.NCE.Temperature}
		lambda := m.cfg.Loss.Lambda
		loss = Add(MulScalar(contrastive.InfoNCE(jig, positive, negatives, ce), lambda),
			MulScalar(contrastive.InfoNCE(f, positive, negatives, ce), 1-lambda))
		used = z
	} else {
		loss, estimate = contrastive.PIRL(jig, f, positive, negatives, z, m.cfg.Loss)
		used = Where(GreaterThan(z, ZerosLike(z)), z, estimate)
	}

	cosine := func(x *Node) *Node {
		return ReduceAllMean(ReduceSum(Mul(L2Normalize(StopGradient(x), -1), positive), -1))
	}
	return method.Output{
		Loss:    loss,
		Metrics: []*Node{cosine(jig), cosine(f), used},
		PostUpdate: func(*context.Context) {
			m.bank.Update(b.Indices, f)
			if estimate != nil {
				m.bank.KeepPartition(estimate)
			}
		},
	}
}

// linear is a dense layer x·W + b with W [in, out], initialised as PyTorch's nn.Linear
// (U(−1/√in, 1/√in) for both), the product a 1×1 convolution as in package model
// (whose gradients the backends run as matrix products).
func linear(ctx *context.Context, x *Node, out int) *Node {
	n, in := x.Shape().Dim(0), x.Shape().Dim(1)
	bound := 1 / math.Sqrt(float64(in))
	init := ctx.WithInitializer(initializers.RandomUniformFn(ctx, -bound, bound))
	w := init.VariableWithShape("kernel", shapes.Make(x.DType(), in, out)).ValueGraph(x.Graph())
	bias := init.VariableWithShape("bias", shapes.Make(x.DType(), out)).ValueGraph(x.Graph())
	y := Convolve(Reshape(x, n, 1, 1, in), Reshape(w, 1, 1, in, out)).
		StridePerAxis(1, 1).
		DilationPerAxis(1, 1).
		PaddingPerDim([][2]int{{0, 0}, {0, 0}}).
		Done()
	return Add(Reshape(y, n, out), InsertAxes(bias, 0))
}
