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
	"fmt"
	"math"
	"sort"
	"strconv"
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

// Bounds on a Config, checked by Validate. Every real SwAV network is far inside them
// (ResNet-50 ×5: stage widths 64…512, multiplier 5, 10240 feature channels, 586 M values;
// the paper's heads: 2048–10240 hidden, 128 out, 3000 prototypes), while every size
// derived from a valid Config (channels, tensor shapes, the value count) stays far from
// int64 overflow, so a checkpoint header cannot make the model allocate without bound.
const (
	// MaxStages bounds len(Layers) (ResNets have 4 stages).
	MaxStages = 8
	// MaxBlocksPerStage bounds each Layers[i] (ResNet-152 and -200 have 36).
	MaxBlocksPerStage = 64
	// MaxWidth bounds each base width Widths[i] (ResNets: 64 to 512).
	MaxWidth = 4096
	// MaxWidthMultiplier bounds WidthMultiplier (the paper's widest model is ×5).
	MaxWidthMultiplier = 16
	// MaxChannels bounds the channels of every layer: Widths[i]·WidthMultiplier, times 4
	// for bottleneck blocks (ResNet-50 ×5: 10240).
	MaxChannels = 1 << 15
	// MaxInChannels bounds InChannels (images have 1, 3 or 4).
	MaxInChannels = 4
	// MaxHiddenDim bounds HiddenDim (reference 2048; the wide models up to 10240).
	MaxHiddenDim = 1 << 16
	// MaxOutDim bounds OutDim (reference 128).
	MaxOutDim = 1 << 16
	// MaxPrototypes bounds Prototypes (the paper's K is 3000; its ablations go to 30000).
	MaxPrototypes = 1 << 16
	// MaxBNEpsilon bounds BNEpsilon (PyTorch 1e-5, GoMLX 1e-3).
	MaxBNEpsilon = 1.0
	// MaxValues bounds the number of values of all the network's variables, batch-norm
	// running statistics included: 2^31, 8 GiB in float32 (ResNet-50 ×5 with its head:
	// about 0.6·2^30).
	MaxValues = 1 << 31
	// MaxFeatureMapValues bounds the values of the largest feature map one image produces
	// (see FeatureMapValues): 2^28, 1 GiB in float32 (ResNet-50 ×5 at 1024 px: 2^26.3).
	MaxFeatureMapValues = 1 << 28
)

// FieldError reports a value of a checkpoint header (or of a Config or Preprocess built
// in code) that is outside its documented bounds. Its text reads
// "model.out_dim = 1099511627776 is above the limit 65536".
type FieldError struct {
	// Field is the value's path in the header's JSON, e.g. "model.out_dim",
	// "model.widths[2]" or "preprocess.std[0]".
	Field string
	// Value is the offending value as text ("" when the problem is not one value's, as
	// for a parameter count).
	Value string
	// Problem says what is wrong, e.g. "is above the limit 65536".
	Problem string
}

// Error implements error.
func (e *FieldError) Error() string {
	if e.Value == "" {
		return e.Field + " " + e.Problem
	}
	return e.Field + " = " + e.Value + " " + e.Problem
}

// fieldError returns a *FieldError for field holding value.
func fieldError(field string, value any, format string, args ...any) *FieldError {
	var v string
	switch x := value.(type) {
	case string:
		v = strconv.Quote(x)
	case float64:
		v = strconv.FormatFloat(x, 'g', -1, 64)
	default:
		v = fmt.Sprint(x)
	}
	return &FieldError{Field: field, Value: v, Problem: fmt.Sprintf(format, args...)}
}

// checkRange returns a *FieldError unless lo ≤ v ≤ hi.
func checkRange(field string, v, lo, hi int) error {
	if v < lo {
		return fieldError(field, v, "is below the minimum %d", lo)
	}
	if v > hi {
		return fieldError(field, v, "is above the limit %d", hi)
	}
	return nil
}

// Validate reports the first problem with c, or nil: a *FieldError naming the value
// (as "model.<json name>") and its bound. Besides each field's bounds above, the
// channels of every layer must be at most MaxChannels and the whole network at most
// MaxValues values; all products are computed with overflow checks.
func (c Config) Validate() error {
	if err := c.validateFields(); err != nil {
		return err
	}
	n, ok := c.values()
	if !ok || n > MaxValues {
		if !ok {
			return &FieldError{Field: "model", Problem: "has more values than an int64 holds"}
		}
		return &FieldError{Field: "model", Problem: fmt.Sprintf("has %d values (variables and batch-norm statistics), above the limit %d", n, int64(MaxValues))}
	}
	return nil
}

// validateFields checks every field against its bounds and the channels of every layer;
// after it succeeds no shape of the network overflows.
func (c Config) validateFields() error {
	switch c.Block {
	case BasicBlock, BottleneckBlock:
	default:
		return fieldError("model.block", c.Block, "is not valid, blocks are %q and %q", BasicBlock, BottleneckBlock)
	}
	switch c.Stem {
	case ImageNetStem, SmallStem:
	default:
		return fieldError("model.stem", c.Stem, "is not valid, stems are %q and %q", ImageNetStem, SmallStem)
	}
	if len(c.Layers) == 0 || len(c.Layers) > MaxStages {
		return fieldError("model.layers", c.Layers, "has %d stages, want 1 to %d", len(c.Layers), MaxStages)
	}
	if len(c.Widths) != len(c.Layers) {
		return fieldError("model.widths", c.Widths, "has %d stages but model.layers has %d", len(c.Widths), len(c.Layers))
	}
	for i := range c.Layers {
		if err := checkRange(fmt.Sprintf("model.layers[%d]", i), c.Layers[i], 1, MaxBlocksPerStage); err != nil {
			return err
		}
		if err := checkRange(fmt.Sprintf("model.widths[%d]", i), c.Widths[i], 1, MaxWidth); err != nil {
			return err
		}
	}
	if err := checkRange("model.width_multiplier", c.WidthMultiplier, 1, MaxWidthMultiplier); err != nil {
		return err
	}
	for i, w := range c.Widths {
		ch, ok := mul64(int64(w), int64(c.WidthMultiplier), int64(c.expansion()))
		if !ok || ch > MaxChannels {
			return fieldError(fmt.Sprintf("model.widths[%d]", i), w,
				"times model.width_multiplier %d (and 4 for bottleneck blocks) is %d channels, above the limit %d", c.WidthMultiplier, ch, MaxChannels)
		}
	}
	if err := checkRange("model.in_channels", c.InChannels, 1, MaxInChannels); err != nil {
		return err
	}
	if err := checkRange("model.hidden_dim", c.HiddenDim, 0, MaxHiddenDim); err != nil {
		return err
	}
	if err := checkRange("model.out_dim", c.OutDim, 0, MaxOutDim); err != nil {
		return err
	}
	if err := checkRange("model.prototypes", c.Prototypes, 0, MaxPrototypes); err != nil {
		return err
	}
	if c.HiddenDim > 0 && c.OutDim == 0 {
		return fieldError("model.hidden_dim", c.HiddenDim, "needs model.out_dim > 0 (a head's output layer)")
	}
	if !(c.BNMomentum > 0 && c.BNMomentum <= 1) {
		return fieldError("model.bn_momentum", c.BNMomentum, "must be in (0, 1]")
	}
	if !(c.BNEpsilon > 0 && c.BNEpsilon <= MaxBNEpsilon) {
		return fieldError("model.bn_epsilon", c.BNEpsilon, "must be in (0, %g]", float64(MaxBNEpsilon))
	}
	return nil
}

// mul64 returns the product of non-negative xs and whether it fits in an int64.
func mul64(xs ...int64) (int64, bool) {
	p := int64(1)
	for _, x := range xs {
		if x < 0 {
			return 0, false
		}
		if x != 0 && p > math.MaxInt64/x {
			return 0, false
		}
		p *= x
	}
	return p, true
}

// add64 returns a+b for non-negative a, b and whether it fits in an int64.
func add64(a, b int64) (int64, bool) {
	if a < 0 || b < 0 || a > math.MaxInt64-b {
		return 0, false
	}
	return a + b, true
}

// values counts the values of every variable of c's network (after validateFields),
// with overflow checks.
func (c Config) values() (int64, bool) {
	total := int64(0)
	for _, v := range c.variables() {
		dims := make([]int64, len(v.Shape))
		for i, d := range v.Shape {
			dims[i] = int64(d)
		}
		n, ok := mul64(dims...)
		if !ok {
			return 0, false
		}
		if total, ok = add64(total, n); !ok {
			return 0, false
		}
	}
	return total, true
}

// FeatureMapValues returns the number of values of the largest feature map (input
// included) that one inputSize×inputSize image produces in c's backbone, or an error
// when c is invalid or the count overflows. Backends may need a small multiple of it
// as scratch space per image.
func (c Config) FeatureMapValues(inputSize int) (int64, error) {
	if err := c.validateFields(); err != nil {
		return 0, err
	}
	if inputSize < 1 {
		return 0, fmt.Errorf("model: input size %d must be ≥ 1", inputSize)
	}
	largest := int64(0)
	ok := true
	see := func(side, channels int) {
		n, fits := mul64(int64(side), int64(side), int64(channels))
		ok = ok && fits
		largest = max(largest, n)
	}
	// down is the output side of a stride-2 conv or pool that keeps "same" padding
	// (k=7 p=3, k=3 p=1, k=1 p=0): ⌊(h−1)/2⌋+1.
	down := func(h int) int { return (h-1)/2 + 1 }
	h := inputSize
	see(h, c.InChannels)
	in := c.Widths[0] * c.WidthMultiplier
	if c.Stem == ImageNetStem {
		h = down(h)
		see(h, in)
		h = down(h)
	} else {
		see(h, in)
	}
	for s, blocks := range c.Layers {
		width := c.Widths[s] * c.WidthMultiplier
		for b := 0; b < blocks; b++ {
			hin := h
			if b == 0 && s > 0 {
				h = down(h)
			}
			if c.Block == BottleneckBlock {
				see(hin, width) // conv1 (1×1) runs before the stride
				see(h, 4*width)
			} else {
				see(h, width)
			}
		}
	}
	if !ok {
		return 0, fmt.Errorf("model: feature maps of a %d px input overflow int64", inputSize)
	}
	return largest, nil
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

// ParseConfig decodes and validates a Config stored in a checkpoint header (its "model"
// section); errors of Validate are *FieldError values.
func ParseConfig(raw json.RawMessage) (Config, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return Config{}, &FieldError{Field: "model", Problem: "section is missing"}
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("model section: %w", err)
	}
	return c, c.Validate()
}

// VariableSpec is one variable of a network: its checkpoint name and shape. The
// variables are float32 in memory (float16 in an exported checkpoint).
type VariableSpec struct {
	Name  string
	Shape []int
}

// Variables lists the variables c's network has (backbone, projection head and
// prototypes: the names and shapes Backbone, Projection and PrototypesVariable create),
// sorted by name, computed from c alone without building a graph; c must be valid.
func (c Config) Variables() ([]VariableSpec, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c.variables(), nil
}

// variables is Variables for a Config that passed validateFields.
func (c Config) variables() []VariableSpec {
	var vs []VariableSpec
	add := func(name string, shape ...int) { vs = append(vs, VariableSpec{Name: name, Shape: shape}) }
	bn := func(scope string, ch int) {
		for _, v := range []string{BiasVar, RunningMeanVar, RunningVarVar, WeightVar} {
			add(scope+"/"+v, ch)
		}
	}
	conv := func(scope string, k, in, out int) { add(scope+"/"+KernelVar, k, k, in, out) }

	b := BackboneScope
	in := c.Widths[0] * c.WidthMultiplier
	stemK := 3
	if c.Stem == ImageNetStem {
		stemK = 7
	}
	conv(b+"/conv1", stemK, c.InChannels, in)
	bn(b+"/bn1", in)
	for s, blocks := range c.Layers {
		width := c.Widths[s] * c.WidthMultiplier
		out := width * c.expansion()
		for i := 0; i < blocks; i++ {
			stride := 1
			if i == 0 && s > 0 {
				stride = 2
			}
			scope := fmt.Sprintf("%s/layer%d/%d", b, s+1, i)
			if c.Block == BottleneckBlock {
				conv(scope+"/conv1", 1, in, width)
				bn(scope+"/bn1", width)
				conv(scope+"/conv2", 3, width, width)
				bn(scope+"/bn2", width)
				conv(scope+"/conv3", 1, width, out)
				bn(scope+"/bn3", out)
			} else {
				conv(scope+"/conv1", 3, in, width)
				bn(scope+"/bn1", width)
				conv(scope+"/conv2", 3, width, width)
				bn(scope+"/bn2", width)
			}
			if stride != 1 || in != out {
				conv(scope+"/downsample/0", 1, in, out)
				bn(scope+"/downsample/1", out)
			}
			in = out
		}
	}
	if c.OutDim > 0 {
		p := ProjectionScope
		if c.HiddenDim == 0 {
			add(p+"/0/"+KernelVar, in, c.OutDim)
			add(p+"/0/"+BiasVar, c.OutDim)
		} else {
			add(p+"/0/"+KernelVar, in, c.HiddenDim)
			add(p+"/0/"+BiasVar, c.HiddenDim)
			if c.HeadBatchNorm {
				bn(p+"/1", c.HiddenDim)
			}
			add(p+"/3/"+KernelVar, c.HiddenDim, c.OutDim)
			add(p+"/3/"+BiasVar, c.OutDim)
		}
	}
	if c.Prototypes > 0 {
		add(PrototypesScope+"/"+KernelVar, c.EmbeddingDim(), c.Prototypes)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Name < vs[j].Name })
	return vs
}
