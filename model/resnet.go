package model

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Scopes of the three parts of the network in the context.
const (
	BackboneScope   = "backbone"
	ProjectionScope = "projection"
	PrototypesScope = "prototypes"
)

// Backbone runs the ResNet on images [B, H, W, InChannels] and returns the globally
// average-pooled features [B, FeatureDim]. train selects batch statistics (and updates the
// running estimates) instead of the running estimates. It panics on a bad config or input
// shape (graph-building code; callers convert panics at their API boundary).
func Backbone(ctx *context.Context, cfg Config, images *Node, train bool) *Node {
	fm := FeatureMap(ctx, cfg, images, train)
	return ReduceMean(fm, 1, 2)
}

// FeatureMap is Backbone without the final pooling: [B, h, w, FeatureDim].
func FeatureMap(ctx *context.Context, cfg Config, images *Node, train bool) *Node {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if images.Rank() != 4 || images.Shape().Dimensions[3] != cfg.InChannels {
		panic(fmt.Sprintf("model: images must be [B, H, W, %d], got %s", cfg.InChannels, images.Shape()))
	}
	ctx = ctx.In(BackboneScope)
	bn := func(ctx *context.Context, x *Node) *Node {
		return batchNorm(ctx, x, cfg.BNMomentum, cfg.BNEpsilon, train)
	}
	mult := cfg.WidthMultiplier
	stemWidth := cfg.Widths[0] * mult
	x := images
	if cfg.Stem == ImageNetStem {
		x = conv2d(ctx.In("conv1"), x, stemWidth, 7, 2, 3)
		x = relu(bn(ctx.In("bn1"), x))
		x = MaxPool(x).Window(3).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
	} else {
		x = conv2d(ctx.In("conv1"), x, stemWidth, 3, 1, 1)
		x = relu(bn(ctx.In("bn1"), x))
	}
	for s, blocks := range cfg.Layers {
		width := cfg.Widths[s] * mult
		for b := 0; b < blocks; b++ {
			stride := 1
			if b == 0 && s > 0 {
				stride = 2
			}
			bctx := ctx.Inf("layer%d", s+1).Inf("%d", b)
			if cfg.Block == BottleneckBlock {
				x = bottleneck(bctx, x, width, stride, bn)
			} else {
				x = basicBlock(bctx, x, width, stride, bn)
			}
		}
	}
	return x
}

type bnFn func(ctx *context.Context, x *Node) *Node

// shortcut is the identity, or a 1×1 strided conv + BN when the shape changes.
func shortcut(ctx *context.Context, x *Node, out, stride int, bn bnFn) *Node {
	if stride == 1 && x.Shape().Dimensions[3] == out {
		return x
	}
	d := ctx.In("downsample")
	return bn(d.In("1"), conv2d(d.In("0"), x, out, 1, stride, 0))
}

// basicBlock: 3×3 (stride) → BN → ReLU → 3×3 → BN, plus the shortcut, then ReLU.
func basicBlock(ctx *context.Context, x *Node, width, stride int, bn bnFn) *Node {
	y := relu(bn(ctx.In("bn1"), conv2d(ctx.In("conv1"), x, width, 3, stride, 1)))
	y = bn(ctx.In("bn2"), conv2d(ctx.In("conv2"), y, width, 3, 1, 1))
	return relu(Add(y, shortcut(ctx, x, width, stride, bn)))
}

// bottleneck: 1×1 → 3×3 (stride, as torchvision v1.5 and the reference) → 1×1 ×4, plus
// the shortcut, then ReLU.
func bottleneck(ctx *context.Context, x *Node, width, stride int, bn bnFn) *Node {
	out := width * 4
	y := relu(bn(ctx.In("bn1"), conv2d(ctx.In("conv1"), x, width, 1, 1, 0)))
	y = relu(bn(ctx.In("bn2"), conv2d(ctx.In("conv2"), y, width, 3, stride, 1)))
	y = bn(ctx.In("bn3"), conv2d(ctx.In("conv3"), y, out, 1, 1, 0))
	return relu(Add(y, shortcut(ctx, x, out, stride, bn)))
}

// Projection is the SwAV projection head on features [B, FeatureDim]: Linear → BN → ReLU
// → Linear (or a single Linear when HiddenDim is 0; no BN when HeadBatchNorm is false).
// The output is not normalised; see Embed. With OutDim 0 it returns features unchanged.
func Projection(ctx *context.Context, cfg Config, features *Node, train bool) *Node {
	if cfg.OutDim == 0 {
		return features
	}
	ctx = ctx.In(ProjectionScope)
	if cfg.HiddenDim == 0 {
		return linear(ctx.In("0"), features, cfg.OutDim, true)
	}
	h := linear(ctx.In("0"), features, cfg.HiddenDim, true)
	if cfg.HeadBatchNorm {
		h = batchNorm(ctx.In("1"), h, cfg.BNMomentum, cfg.BNEpsilon, train)
	}
	h = relu(h)
	return linear(ctx.In("3"), h, cfg.OutDim, true)
}

// Embed L2-normalises the projection (the reference's nn.functional.normalize, eps 1e-12).
func Embed(z *Node) *Node {
	return L2NormalizeWithEpsilon(z, 1e-12, -1)
}

// PrototypesVariable returns the prototypes C as the variable "prototypes/kernel" [D, K]
// (columns are prototypes), creating it with PyTorch's nn.Linear initialisation when
// absent. The trainer L2-normalises its columns before every step, as the reference does.
func PrototypesVariable(ctx *context.Context, cfg Config, dtype dtypes.DType) *context.Variable {
	if cfg.Prototypes == 0 {
		panic("model: config has no prototypes")
	}
	return linearKernel(ctx.In(PrototypesScope), cfg.EmbeddingDim(), cfg.Prototypes, dtype)
}

// Scores returns the prototype scores z·C [B, K] for normalised embeddings z [B, D].
func Scores(ctx *context.Context, cfg Config, z *Node) *Node {
	return ScoresWith(z, PrototypesVariable(ctx, cfg, z.DType()).ValueGraph(z.Graph()))
}

// ScoresWith returns z·C for embeddings z [B, D] and prototypes C [D, K].
func ScoresWith(z, prototypes *Node) *Node {
	return matmul(z, prototypes)
}
