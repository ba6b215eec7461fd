package model

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/checkpoint"
)

// Kind is the checkpoint kind of a SwAV network ready for inference (no optimiser state).
const Kind = "swav-model"

// IsNetworkVariable reports whether a checkpoint name belongs to the network (not to the
// optimiser, the queue or the random generator).
func IsNetworkVariable(name string) bool {
	for _, scope := range []string{BackboneScope, ProjectionScope, PrototypesScope} {
		if strings.HasPrefix(name, scope+"/") {
			return true
		}
	}
	return false
}

// File packs the network variables of ctx into a model checkpoint (kind
// Kind): no optimiser state or queue, ready for inference.
func File(ctx *context.Context, cfg Config, pre checkpoint.Preprocess, training *checkpoint.Training) (*checkpoint.File, error) {
	ts, err := ExportVariables(ctx, IsNetworkVariable)
	if err != nil {
		return nil, err
	}
	return &checkpoint.File{
		Header:  checkpoint.Header{Kind: Kind, Model: cfg.MarshalJSONConfig(), Preprocess: &pre, Training: training},
		Tensors: ts,
	}, nil
}

// Interpolation is the only resize filter the inference pipeline implements (imageio's
// antialiased bilinear, as PIL and torchvision); a header's preprocess.interpolation
// must name it.
const Interpolation = "bilinear"

// Bounds on a checkpoint's preprocessing, checked by ValidatePreprocess. They admit every
// real evaluation pipeline (224 px crops of 256 px resizes, inputs up to 1024 px, the
// usual [0, 1]-scale and 0–255-scale normalisations) and keep one image's tensors small.
const (
	// MaxInputSize bounds preprocess.input_size, the side of the square network input.
	MaxInputSize = 1024
	// MaxResizeSize bounds preprocess.resize_size, the shorter side before the centre crop.
	MaxResizeSize = 2 * MaxInputSize
	// MaxNormMean bounds |preprocess.mean[c]|.
	MaxNormMean = 1e6
	// MinNormStd and MaxNormStd bound preprocess.std[c].
	MinNormStd, MaxNormStd = 1e-6, 1e6
)

// ValidatePreprocess reports the first problem with a header's preprocessing for the
// network cfg (which must be valid), or nil: a *FieldError naming the value as
// "preprocess.<json name>". Channels must be 1 or 3 and equal cfg.InChannels; input_size
// in [1, MaxInputSize] with cfg's largest feature map at most MaxFeatureMapValues;
// resize_size in [input_size, MaxResizeSize]; one finite mean and std per channel within
// their bounds (as float32, the precision they are applied in); interpolation
// Interpolation.
func ValidatePreprocess(p checkpoint.Preprocess, cfg Config) error {
	switch {
	case p.Channels != 1 && p.Channels != 3:
		return fieldError("preprocess.channels", p.Channels, "is not supported, channels are 1 (grayscale) and 3 (RGB)")
	case p.Channels != cfg.InChannels:
		return fieldError("preprocess.channels", p.Channels, "differs from model.in_channels = %d", cfg.InChannels)
	}
	if err := checkRange("preprocess.input_size", p.InputSize, 1, MaxInputSize); err != nil {
		return err
	}
	if p.ResizeSize < p.InputSize {
		return fieldError("preprocess.resize_size", p.ResizeSize, "is below preprocess.input_size = %d", p.InputSize)
	}
	if err := checkRange("preprocess.resize_size", p.ResizeSize, p.InputSize, MaxResizeSize); err != nil {
		return err
	}
	for _, s := range []struct {
		field  string
		values []float64
		lo, hi float64
	}{{"preprocess.mean", p.Mean, -MaxNormMean, MaxNormMean}, {"preprocess.std", p.Std, MinNormStd, MaxNormStd}} {
		if len(s.values) != p.Channels {
			return fieldError(s.field, s.values, "has %d values, preprocess.channels is %d", len(s.values), p.Channels)
		}
		for i, v := range s.values {
			if f := float64(float32(v)); !(f >= s.lo && f <= s.hi) {
				return fieldError(fmt.Sprintf("%s[%d]", s.field, i), v, "is outside [%g, %g]", s.lo, s.hi)
			}
		}
	}
	if p.Interpolation != Interpolation {
		return fieldError("preprocess.interpolation", p.Interpolation, "is not supported, interpolations are: %q", Interpolation)
	}
	n, err := cfg.FeatureMapValues(p.InputSize)
	if err != nil {
		return err
	}
	if n > MaxFeatureMapValues {
		return fieldError("preprocess.input_size", p.InputSize,
			"gives the model a feature map of %d values per image, above the limit %d", n, MaxFeatureMapValues)
	}
	return nil
}

// TensorSpec describes a stored tensor without its data, as a checkpoint's tensor table
// does.
type TensorSpec struct {
	Name  string
	DType checkpoint.DType
	Shape []int
}

// TensorSpecs describes decoded tensors.
func TensorSpecs(ts []checkpoint.Tensor) []TensorSpec {
	out := make([]TensorSpec, len(ts))
	for i, t := range ts {
		out[i] = TensorSpec{Name: t.Name, DType: t.DType, Shape: t.Shape}
	}
	return out
}

// TensorError reports a tensor of a checkpoint that disagrees with the network its
// header describes: missing, of another shape or dtype, or not part of that network.
type TensorError struct {
	// Name is the tensor's checkpoint name, e.g. "backbone/conv1/kernel".
	Name string
	// Problem says what is wrong and what was expected.
	Problem string
}

// Error implements error.
func (e *TensorError) Error() string { return "tensor " + e.Name + " " + e.Problem }

// CheckTensors checks a checkpoint's tensor table against the network cfg describes
// (cfg must be valid): every variable of cfg.Variables exists, as float32 or float16,
// with its shape, and no other tensor lies in the network's scopes (see
// IsNetworkVariable; optimiser state and the queue live elsewhere and are ignored). The
// first disagreement is returned as a *TensorError naming the tensor and what the
// header's model needs.
func CheckTensors(cfg Config, table []TensorSpec) error {
	want, err := cfg.Variables()
	if err != nil {
		return err
	}
	have := make(map[string]TensorSpec, len(table))
	for _, t := range table {
		have[t.Name] = t
	}
	expected := make(map[string]bool, len(want))
	for _, v := range want {
		expected[v.Name] = true
		t, ok := have[v.Name]
		if !ok {
			return &TensorError{Name: v.Name, Problem: fmt.Sprintf("is missing: the header's model needs it as float32 %v", v.Shape)}
		}
		if t.DType != checkpoint.Float32 && t.DType != checkpoint.Float16 {
			return &TensorError{Name: v.Name, Problem: fmt.Sprintf("is %s %v, the header's model needs float32 (or float16) %v", t.DType, t.Shape, v.Shape)}
		}
		if !slices.Equal(t.Shape, v.Shape) {
			return &TensorError{Name: v.Name, Problem: fmt.Sprintf("has shape %v, the header's model needs %v", t.Shape, v.Shape)}
		}
	}
	for _, t := range table {
		if IsNetworkVariable(t.Name) && !expected[t.Name] {
			return &TensorError{Name: t.Name, Problem: fmt.Sprintf("(%s %v) is not a variable of the network the header describes", t.DType, t.Shape)}
		}
	}
	return nil
}
