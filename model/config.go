// Package model defines the SwAV network: a ResNet backbone in NHWC layout, the projection
// head and the prototypes, as plain functions over a GoMLX context scope.
//
// Variables are named by stable scopes that read like a PyTorch state dict, so checkpoints
// are readable and PyTorch weights map onto them one to one:
//
//	backbone/conv1/kernel                 [kh, kw, in, out] (PyTorch: conv1.weight, OIHW)
//	backbone/bn1/{weight,bias,running_mean,running_var}
//	backbone/layer1/0/conv1/kernel …       (PyTorch: layer1.0.conv1.weight)
//	backbone/layer2/0/downsample/0/kernel, backbone/layer2/0/downsample/1/…
//	projection/0/{kernel,bias}            [in, out] (PyTorch: projection_head.0, weight is [out, in])
//	projection/1/{weight,bias,running_mean,running_var}
//	projection/3/{kernel,bias}
//	prototypes/kernel                     [D, K] (PyTorch: prototypes.weight, [K, D])
//
// Batch norm follows PyTorch's conventions (momentum 0.1, epsilon 1e-5, biased variance to
// normalise, unbiased variance in the running estimate) so that imported weights behave
// the same; weights are initialised as the reference (Kaiming normal, fan-out, for convs;
// BN weight 1, bias 0; PyTorch's default uniform for linear layers).
package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Block kinds.
const (
	BasicBlock      = "basic"      // two 3×3 convs (ResNet-18/34)
	BottleneckBlock = "bottleneck" // 1×1, 3×3, 1×1 with expansion 4 (ResNet-50)
)

// Stems.
const (
	ImageNetStem = "imagenet" // 7×7/2 conv + BN + ReLU + 3×3/2 max-pool
	SmallStem    = "small"    // 3×3/1 conv + BN + ReLU, no pool: for 28–64 px inputs
)

// Config is the architecture of a SwAV network. It is stored in every checkpoint, so a
// model is rebuilt from the file alone.
type Config struct {
	// Block is BasicBlock or BottleneckBlock.
	Block string `json:"block"`
	// Layers is the number of blocks per stage, e.g. [2 2 2 2] for ResNet-18.
	Layers []int `json:"layers"`
	// Widths is the base width (channels before the bottleneck expansion) of each stage,
	// e.g. [64 128 256 512]. The stem has Widths[0]·WidthMultiplier channels.
	Widths []int `json:"widths"`
	// WidthMultiplier widens every layer (the paper's ×2, ×4, ×5 models). Default 1.
	WidthMultiplier int `json:"width_multiplier"`
	// Stem is ImageNetStem or SmallStem.
	Stem string `json:"stem"`
	// InChannels is the number of image channels (1 for grayscale, 3 for RGB).
	InChannels int `json:"in_channels"`
	// HiddenDim is the projection head's hidden size (reference 2048); 0 makes the head a
	// single linear layer.
	HiddenDim int `json:"hidden_dim"`
	// HeadBatchNorm puts batch norm in the projection head after the hidden layer
	// (reference: true; the released ×5 model has none).
	HeadBatchNorm bool `json:"head_batch_norm"`
	// OutDim is the embedding size the prototypes score (reference 128). 0 means no
	// projection head at all: prototypes score the backbone features.
	OutDim int `json:"out_dim"`
	// Prototypes is the number of prototypes K (reference 3000). 0 means none.
	Prototypes int `json:"prototypes"`
	// BNMomentum is PyTorch's batch-norm momentum (0.1).
	BNMomentum float64 `json:"bn_momentum"`
	// BNEpsilon is batch norm's epsilon (1e-5).
	BNEpsilon float64 `json:"bn_epsilon"`
}

// ResNet50 is the paper's backbone with its SwAV head (2048 hidden, 128 out, 3000 prototypes).
func ResNet50() Config {
	return Config{Block: BottleneckBlock, Layers: []int{3, 4, 6, 3}, Widths: []int{64, 128, 256, 512},
		WidthMultiplier: 1, Stem: ImageNetStem, InChannels: 3, HiddenDim: 2048, HeadBatchNorm: true,
		OutDim: 128, Prototypes: 3000, BNMomentum: 0.1, BNEpsilon: 1e-5}
}

// ResNet18 is a ResNet-18 with the ImageNet stem and the paper's head sizes scaled to its
// 512-d features (512 hidden, 128 out, 3000 prototypes).
func ResNet18() Config {
	return Config{Block: BasicBlock, Layers: []int{2, 2, 2, 2}, Widths: []int{64, 128, 256, 512},
		WidthMultiplier: 1, Stem: ImageNetStem, InChannels: 3, HiddenDim: 512, HeadBatchNorm: true,
		OutDim: 128, Prototypes: 3000, BNMomentum: 0.1, BNEpsilon: 1e-5}
}

// Small is the small-image ResNet used for Fashion-MNIST in this project and in the
// reference comparison: a 3×3 stem, three stages of two basic blocks with widths
// 32/64/128 (161 MFLOP per 28×28 image), a 512-hidden head with 128-d output and 200
// prototypes (the reference run's K), for inputs of 28–64 px with inChannels channels.
func Small(inChannels int) Config {
	return Config{Block: BasicBlock, Layers: []int{2, 2, 2}, Widths: []int{32, 64, 128},
		WidthMultiplier: 1, Stem: SmallStem, InChannels: inChannels, HiddenDim: 512, HeadBatchNorm: true,
		OutDim: 128, Prototypes: 200, BNMomentum: 0.1, BNEpsilon: 1e-5}
}

// Validate reports the first problem with c, or nil.
func (c Config) Validate() error {
	switch c.Block {
	case BasicBlock, BottleneckBlock:
	default:
		return fmt.Errorf("model: block %q is not valid, blocks are %q and %q", c.Block, BasicBlock, BottleneckBlock)
	}
	switch c.Stem {
	case ImageNetStem, SmallStem:
	default:
		return fmt.Errorf("model: stem %q is not valid, stems are %q and %q", c.Stem, ImageNetStem, SmallStem)
	}
	if len(c.Layers) == 0 || len(c.Layers) != len(c.Widths) {
		return fmt.Errorf("model: layers %v and widths %v must be non-empty and of equal length", c.Layers, c.Widths)
	}
	for i := range c.Layers {
		if c.Layers[i] < 1 || c.Widths[i] < 1 {
			return fmt.Errorf("model: stage %d has %d blocks of width %d, both must be ≥ 1", i+1, c.Layers[i], c.Widths[i])
		}
	}
	if c.WidthMultiplier < 1 {
		return fmt.Errorf("model: width multiplier %d must be ≥ 1", c.WidthMultiplier)
	}
	if c.InChannels < 1 {
		return fmt.Errorf("model: in_channels %d must be ≥ 1", c.InChannels)
	}
	if c.HiddenDim < 0 || c.OutDim < 0 || c.Prototypes < 0 {
		return errors.New("model: hidden_dim, out_dim and prototypes must be ≥ 0")
	}
	if c.HiddenDim > 0 && c.OutDim == 0 {
		return errors.New("model: hidden_dim needs out_dim > 0")
	}
	if c.BNMomentum <= 0 || c.BNMomentum > 1 || c.BNEpsilon <= 0 {
		return fmt.Errorf("model: batch norm momentum %g must be in (0,1] and epsilon %g > 0", c.BNMomentum, c.BNEpsilon)
	}
	return nil
}

// expansion is the ratio of a block's output channels to its base width.
func (c Config) expansion() int {
	if c.Block == BottleneckBlock {
		return 4
	}
	return 1
}

// FeatureDim is the size of the pooled backbone features.
func (c Config) FeatureDim() int {
	return c.Widths[len(c.Widths)-1] * c.WidthMultiplier * c.expansion()
}

// EmbeddingDim is the size of the projection head's output (FeatureDim when there is no head).
func (c Config) EmbeddingDim() int {
	if c.OutDim == 0 {
		return c.FeatureDim()
	}
	return c.OutDim
}

// MarshalJSONConfig returns c as JSON, for checkpoint headers.
func (c Config) MarshalJSONConfig() json.RawMessage {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("model: marshalling config: %v", err)) // cannot happen: plain fields
	}
	return b
}

// ParseConfig decodes and validates a Config stored in a checkpoint header.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("model: config: %w", err)
	}
	return c, c.Validate()
}
