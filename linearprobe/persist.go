package linearprobe

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/swav-go/swav/checkpoint"
)

// ProbeKind is the checkpoint Header.Kind of a saved linear probe.
const ProbeKind = "linear-probe"

// Names of the tensors and Header.Extra entries of a probe checkpoint.
const (
	tensorWeight       = "weight" // [D, C]
	tensorBias         = "bias"   // [C]
	tensorMean         = "mean"   // [D], only when standardised
	tensorStd          = "std"    // [D], only when standardised
	extraClasses       = "classes"
	extraNamedClasses  = "named_classes"
	extraStandardized  = "standardized"
	extraHyperparams   = "hyperparameters"
	extraGridSelection = "grid"
	extraSource        = "source"
)

// probeHyperparameters is the JSON form of the training settings stored in
// a probe checkpoint.
type probeHyperparameters struct {
	LR          float64 `json:"lr"`
	WeightDecay float64 `json:"weight_decay"`
	Epochs      int     `json:"epochs"`
	BatchSize   int     `json:"batch_size"`
	Momentum    float64 `json:"momentum"`
}

// Checkpoint converts the probe into a checkpoint file of kind ProbeKind:
// tensors "weight" (D×C), "bias" (C) and, when standardised, "mean" and
// "std" (D); class names, whether they were given, the standardisation flag,
// the hyperparameters, the grid-search results and the Source (when recorded) go to
// Header.Extra.
func (p *Probe) Checkpoint() (*checkpoint.File, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	extra := map[string]json.RawMessage{}
	put := func(key string, v any) error {
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("linearprobe: encoding probe %s: %w", key, err)
		}
		extra[key] = raw
		return nil
	}
	hyper := probeHyperparameters{LR: p.LR, WeightDecay: p.WeightDecay, Epochs: p.Epochs,
		BatchSize: p.BatchSize, Momentum: p.Momentum}
	grid := p.Grid
	if grid == nil {
		grid = []GridResult{}
	}
	for _, kv := range []struct {
		key string
		v   any
	}{
		{extraClasses, p.Classes},
		{extraNamedClasses, p.NamedClasses},
		{extraStandardized, p.Mean != nil},
		{extraHyperparams, hyper},
		{extraGridSelection, grid},
	} {
		if err := put(kv.key, kv.v); err != nil {
			return nil, err
		}
	}
	if p.Source != nil {
		if err := put(extraSource, p.Source); err != nil {
			return nil, err
		}
	}
	f := &checkpoint.File{
		Header: checkpoint.Header{Kind: ProbeKind, Extra: extra},
		Tensors: []checkpoint.Tensor{
			checkpoint.Float32Tensor(tensorWeight, []int{p.D, p.C}, p.W),
			checkpoint.Float32Tensor(tensorBias, []int{p.C}, p.B),
		},
	}
	if p.Mean != nil {
		f.Tensors = append(f.Tensors,
			checkpoint.Float32Tensor(tensorMean, []int{p.D}, p.Mean),
			checkpoint.Float32Tensor(tensorStd, []int{p.D}, p.Std))
	}
	return f, nil
}

// ProbeFromCheckpoint rebuilds a probe from a checkpoint written by
// Probe.Checkpoint, validating its kind, shapes and metadata.
func ProbeFromCheckpoint(f *checkpoint.File) (*Probe, error) {
	if f == nil {
		return nil, fmt.Errorf("linearprobe: nil checkpoint")
	}
	if f.Header.Kind != ProbeKind {
		return nil, fmt.Errorf("linearprobe: checkpoint kind is %q, want %q", f.Header.Kind, ProbeKind)
	}
	get := func(key string, v any) error {
		raw, ok := f.Header.Extra[key]
		if !ok {
			return fmt.Errorf("linearprobe: probe checkpoint lacks extra %q", key)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("linearprobe: decoding probe checkpoint extra %q: %w", key, err)
		}
		return nil
	}
	p := &Probe{}
	var standardized bool
	var hyper probeHyperparameters
	for _, kv := range []struct {
		key string
		v   any
	}{
		{extraClasses, &p.Classes},
		{extraNamedClasses, &p.NamedClasses},
		{extraStandardized, &standardized},
		{extraHyperparams, &hyper},
		{extraGridSelection, &p.Grid},
	} {
		if err := get(kv.key, kv.v); err != nil {
			return nil, err
		}
	}
	if _, ok := f.Header.Extra[extraSource]; ok { // optional: older probes lack it
		p.Source = &Source{}
		if err := get(extraSource, p.Source); err != nil {
			return nil, err
		}
	}
	p.LR, p.WeightDecay, p.Epochs, p.BatchSize, p.Momentum =
		hyper.LR, hyper.WeightDecay, hyper.Epochs, hyper.BatchSize, hyper.Momentum
	if len(p.Grid) == 0 {
		p.Grid = nil
	}

	tensor := func(name string, shape ...int) ([]float32, error) {
		t, ok := f.Tensor(name)
		if !ok {
			return nil, fmt.Errorf("linearprobe: probe checkpoint lacks tensor %q", name)
		}
		if !slices.Equal(t.Shape, shape) {
			return nil, fmt.Errorf("linearprobe: probe checkpoint tensor %q has shape %v, want %v", name, t.Shape, shape)
		}
		v, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("linearprobe: decoding probe checkpoint tensor %q: %w", name, err)
		}
		return v, nil
	}
	w, ok := f.Tensor(tensorWeight)
	if !ok || len(w.Shape) != 2 {
		return nil, fmt.Errorf("linearprobe: probe checkpoint needs a rank-2 %q tensor", tensorWeight)
	}
	p.D, p.C = w.Shape[0], w.Shape[1]
	var err error
	if p.W, err = tensor(tensorWeight, p.D, p.C); err != nil {
		return nil, err
	}
	if p.B, err = tensor(tensorBias, p.C); err != nil {
		return nil, err
	}
	if standardized {
		if p.Mean, err = tensor(tensorMean, p.D); err != nil {
			return nil, err
		}
		if p.Std, err = tensor(tensorStd, p.D); err != nil {
			return nil, err
		}
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("linearprobe: inconsistent probe checkpoint: %w", err)
	}
	return p, nil
}

// SaveProbe writes p to path as a checkpoint of kind ProbeKind (float32
// tensors, default compression).
func SaveProbe(path string, p *Probe) error {
	f, err := p.Checkpoint()
	if err != nil {
		return err
	}
	if err := checkpoint.Save(path, f, checkpoint.EncodeOptions{}); err != nil {
		return fmt.Errorf("linearprobe: saving probe to %s: %w", path, err)
	}
	return nil
}

// LoadProbe reads a probe saved by SaveProbe.
func LoadProbe(path string) (*Probe, error) {
	f, err := checkpoint.Load(path)
	if err != nil {
		return nil, fmt.Errorf("linearprobe: loading probe: %w", err)
	}
	p, err := ProbeFromCheckpoint(f)
	if err != nil {
		return nil, fmt.Errorf("linearprobe: %s: %w", path, err)
	}
	return p, nil
}
