package torchimport

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/internal/panics"
	"github.com/swav-go/swav/model"
)

// Kind is the checkpoint kind Convert writes, the one infer.Load reads.
const Kind = "swav-model"

// ExtraKey is the header's Extra entry in which Convert records the import: the source
// file (when known), the keys it ignored, and the PyTorch-to-swav-go name mapping rule.
const ExtraKey = "torchimport"

// ConvertOptions adjust Convert and ConvertFile. The zero value converts with the
// settings of SwAV's own evaluation.
type ConvertOptions struct {
	// Float16 makes ConvertFile store the weights as float16, halving the file, for
	// inference (Convert itself always returns float32 tensors).
	Float16 bool
	// Preprocess replaces the preprocessing written in the header. The default is
	// SwAV's evaluation transform: resize the shorter side to 256 (bilinear), centre-crop
	// 224, normalise with mean (0.485, 0.456, 0.406) and std (0.228, 0.224, 0.225), which
	// needs a 3-channel model; other models must set it.
	Preprocess *checkpoint.Preprocess
	// WidthMultiplier, when positive, sets how the stage widths are factored into
	// Config.Widths × Config.WidthMultiplier (an equivalent network either way). By
	// default widths of 64k, 128k, 256k, 512k… become the paper's ×k (e.g. RN50-w2 is
	// Widths [64 128 256 512] × 2), and other widths are kept with multiplier 1.
	WidthMultiplier int
	// BNEpsilon and BNMomentum set batch norm's epsilon and momentum, which a state dict
	// does not record; zero means PyTorch's defaults (1e-5 and 0.1), which SwAV uses.
	BNEpsilon, BNMomentum float64
	// BackboneOnly drops the projection head and the prototypes: the checkpoint then
	// computes pooled features only.
	BackboneOnly bool
	// Source names the original file in the header; ConvertFile fills it in when empty.
	Source string
	// Read bounds how ConvertFile reads its input (see ReadStateDictWith); the zero
	// value caps the file at DefaultMaxFileBytes.
	Read ReadOptions
	// Logf, when set, receives a line for each decision worth knowing: the keys ignored,
	// the "module." prefix removed, the inferred architecture.
	Logf func(format string, args ...any)
}

func (o ConvertOptions) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// DefaultPreprocess is the preprocessing Convert writes by default: SwAV's evaluation
// transform (its eval_linear.py uses std 0.228 for red, not torchvision's 0.229).
func DefaultPreprocess() checkpoint.Preprocess {
	return checkpoint.Preprocess{InputSize: 224, ResizeSize: 256, Mean: []float64{0.485, 0.456, 0.406},
		Std: []float64{0.228, 0.224, 0.225}, Channels: 3, Interpolation: "bilinear"}
}

// ConvertFile reads the PyTorch checkpoint in (see ReadStateDict), converts it (see
// Convert) and saves the swav-go checkpoint to out atomically, as float16 when
// opts.Float16 is set. It refuses to overwrite in.
func ConvertFile(in, out string, opts ConvertOptions) error {
	if same(in, out) {
		return fmt.Errorf("torchimport: %s: the output would overwrite the input", out)
	}
	sd, err := ReadStateDictWith(in, opts.Read)
	if err != nil {
		return err
	}
	if opts.Source == "" {
		opts.Source = filepath.Base(in)
	}
	f, err := convertSafe(sd, opts)
	if err != nil {
		return fmt.Errorf("torchimport: %s: %w", in, err)
	}
	if err := checkpoint.Save(out, f, checkpoint.EncodeOptions{Float16: opts.Float16}); err != nil {
		return fmt.Errorf("torchimport: converting %s: %w", in, err)
	}
	return nil
}

// same reports whether two paths name the same file (or the same path).
func same(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// Convert turns a PyTorch state dict of a torchvision-layout ResNet (as ReadStateDict
// returns it), optionally with SwAV's projection head and prototypes, into a swav-go
// checkpoint that infer.Load reads.
//
// The architecture is inferred from the keys and shapes alone: the block type from
// layer1.0.conv3, the number of stages and blocks from the layerS.B indices, the widths
// from each stage's first conv, the stem from conv1's kernel (7×7 ImageNet, 3×3 small),
// the input channels from conv1, and the head from projection_head (a Linear; or
// Linear, BatchNorm1d, ReLU, Linear; or Linear, ReLU, Linear without batch norm) and
// prototypes.weight. A "module." prefix (DataParallel) is removed; torchvision's
// classifier (fc.*) and batch norm's num_batches_tracked are ignored. Any other key the
// inferred network does not have, any key it needs that is missing, and any shape that
// differs from what it expects are reported together in one error wrapping
// ErrArchitecture.
//
// Every tensor the network uses must be floating point (float32, float16, bfloat16 or
// float64): a weight, bias or batch-norm statistic stored as an integer or bool type
// is refused (ErrArchitecture, naming the tensors and their types), as PyTorch would
// not train or load one; num_batches_tracked, an int64 counter, is ignored as said.
// Their values must be finite, and batch norms' running variances non-negative:
// otherwise the error wraps ErrInvalidValues and names the tensors (a diverged
// training's NaN weights would make every embedding NaN). A tensor whose Data does not
// hold exactly the elements its Shape needs is refused with ErrCorrupt.
//
// Convolution weights are transposed from PyTorch's [out, in, kh, kw] to swav-go's
// [kh, kw, in, out] and linear weights from [out, in] to [in, out]; values are not
// otherwise changed.
func Convert(stateDict map[string]Tensor, opts ConvertOptions) (*checkpoint.File, error) {
	f, err := convertSafe(stateDict, opts)
	if err != nil {
		return nil, fmt.Errorf("torchimport: %w", err)
	}
	return f, nil
}

// convertSafe is convert with panics (bugs) turned into errors.
func convertSafe(stateDict map[string]Tensor, opts ConvertOptions) (*checkpoint.File, error) {
	f, err := panics.Call(func() (*checkpoint.File, error) { return convert(stateDict, opts) })
	var p *panics.Error
	if errors.As(err, &p) {
		return nil, fmt.Errorf("internal error while converting: %v", p.Value)
	}
	return f, err
}

func convert(stateDict map[string]Tensor, opts ConvertOptions) (*checkpoint.File, error) {
	if len(stateDict) == 0 {
		return nil, fmt.Errorf("%w: the state dict is empty", ErrArchitecture)
	}
	sd, ignored, err := normalizeKeys(stateDict, opts)
	if err != nil {
		return nil, err
	}
	cfg, head, err := inferConfig(sd, opts)
	if err != nil {
		return nil, err
	}
	params := layout(cfg, head)
	if err := compare(sd, params); err != nil {
		return nil, err
	}
	if err := checkValues(sd, params); err != nil {
		return nil, err
	}
	pre := DefaultPreprocess()
	if opts.Preprocess != nil {
		pre = *opts.Preprocess
		pre.Mean = append([]float64(nil), pre.Mean...)
		pre.Std = append([]float64(nil), pre.Std...)
	}
	if err := checkPreprocess(pre, cfg); err != nil {
		return nil, err
	}

	tensors := make([]checkpoint.Tensor, 0, len(params))
	for _, p := range params {
		t := sd[p.torch]
		var shape []int
		var data []float32
		switch p.kind {
		case convParam:
			shape, data = convToHWIO(p.shape, t.Data)
		case linearParam:
			shape, data = transpose2D(p.shape, t.Data)
		default:
			shape, data = append([]int(nil), p.shape...), append([]float32(nil), t.Data...)
		}
		tensors = append(tensors, checkpoint.Float32Tensor(p.name, shape, data))
	}
	sort.Slice(tensors, func(i, j int) bool { return tensors[i].Name < tensors[j].Name })

	extra, err := json.Marshal(struct {
		Source  string   `json:"source,omitempty"`
		Format  string   `json:"format"`
		Ignored []string `json:"ignored_keys,omitempty"`
	}{opts.Source, "pytorch state dict", ignored})
	if err != nil {
		return nil, err
	}
	opts.logf("architecture: %s", describe(cfg))
	return &checkpoint.File{
		Header: checkpoint.Header{
			Kind:       Kind,
			Model:      cfg.MarshalJSONConfig(),
			Preprocess: &pre,
			Extra:      map[string]json.RawMessage{ExtraKey: extra},
		},
		Tensors: tensors,
	}, nil
}

// describe summarises a config for the log.
func describe(c model.Config) string {
	s := fmt.Sprintf("%s ResNet, layers %v, widths %v ×%d, %s stem, %d input channels, %d-d features",
		c.Block, c.Layers, c.Widths, c.WidthMultiplier, c.Stem, c.InChannels, c.FeatureDim())
	switch {
	case c.OutDim == 0:
		s += ", no projection head"
	case c.HiddenDim == 0:
		s += fmt.Sprintf(", linear head to %d", c.OutDim)
	default:
		bn := "with"
		if !c.HeadBatchNorm {
			bn = "without"
		}
		s += fmt.Sprintf(", head %d→%d→%d %s batch norm", c.FeatureDim(), c.HiddenDim, c.OutDim, bn)
	}
	if c.Prototypes > 0 {
		s += fmt.Sprintf(", %d prototypes", c.Prototypes)
	}
	return s
}

// normalizeKeys removes the "module." prefix, checks every tensor's data against its
// shape, and sets aside the keys Convert ignores.
func normalizeKeys(in map[string]Tensor, opts ConvertOptions) (map[string]Tensor, []string, error) {
	out := make(map[string]Tensor, len(in))
	var ignored, bad []string
	stripped, fc, tracked := 0, 0, 0
	for k, t := range in {
		n := 1
		for _, d := range t.Shape {
			if d < 0 || (d > 0 && n > (1<<40)/d) {
				n = -1
				break
			}
			n *= d
		}
		if n != len(t.Data) {
			bad = append(bad, fmt.Sprintf("%s (shape %s, %d values)", short(k), short(fmt.Sprint(t.Shape)), len(t.Data)))
			continue
		}
		key := k
		if s, ok := strings.CutPrefix(k, "module."); ok {
			key = s
			stripped++
		}
		switch {
		case strings.HasSuffix(key, ".num_batches_tracked"):
			tracked++
			ignored = append(ignored, k)
			continue
		case strings.HasPrefix(key, "fc."):
			fc++
			ignored = append(ignored, k)
			continue
		case opts.BackboneOnly && (strings.HasPrefix(key, "projection_head.") || key == "projection_head" ||
			strings.HasPrefix(key, "prototypes.")):
			ignored = append(ignored, k)
			continue
		}
		if _, dup := out[key]; dup {
			return nil, nil, fmt.Errorf("%w: keys %q and %q both map to %q", ErrArchitecture, short("module."+key), short(key), short(key))
		}
		out[key] = t
	}
	if len(bad) > 0 {
		return nil, nil, fmt.Errorf("%w: tensors whose data does not match their shape: %s", ErrCorrupt, list(bad))
	}
	sort.Strings(ignored)
	if stripped > 0 {
		opts.logf("removed the \"module.\" prefix of %d keys", stripped)
	}
	if fc > 0 {
		opts.logf("ignored torchvision's classifier (%d fc.* keys)", fc)
	}
	if tracked > 0 {
		opts.logf("ignored %d num_batches_tracked counters", tracked)
	}
	if opts.BackboneOnly {
		opts.logf("dropped the projection head and prototypes (backbone only)")
	}
	return out, ignored, nil
}

// headKeys are the PyTorch module names of the projection head's layers ("" for none).
type headKeys struct {
	first, bn, last string
}

var layerKey = regexp.MustCompile(`^layer([1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,3})\.`)

// Bounds on inferred sizes, far above any real ResNet.
const (
	maxStages = 16
	maxBlocks = 1000
)

// inferConfig reads the architecture off the keys and shapes of a normalised state dict.
func inferConfig(sd map[string]Tensor, opts ConvertOptions) (model.Config, headKeys, error) {
	var head headKeys
	cfg := model.Config{WidthMultiplier: 1, BNMomentum: 0.1, BNEpsilon: 1e-5}
	if opts.BNMomentum != 0 {
		cfg.BNMomentum = opts.BNMomentum
	}
	if opts.BNEpsilon != 0 {
		cfg.BNEpsilon = opts.BNEpsilon
	}
	conv1, ok := sd["conv1.weight"]
	if !ok || len(conv1.Shape) != 4 {
		return cfg, head, fmt.Errorf("%w: no 4-d conv1.weight, so not a ResNet; the state dict holds %s", ErrArchitecture, listShapes(sd))
	}
	switch k := conv1.Shape[2]; {
	case k != conv1.Shape[3]:
		return cfg, head, fmt.Errorf("%w: conv1.weight %v has a non-square kernel", ErrArchitecture, conv1.Shape)
	case k == 7:
		cfg.Stem = model.ImageNetStem
	case k == 3:
		cfg.Stem = model.SmallStem
	default:
		return cfg, head, fmt.Errorf("%w: conv1 has a %d×%d kernel; swav-go's stems have 7×7 (ImageNet) or 3×3 (small)", ErrArchitecture, k, k)
	}
	cfg.InChannels = conv1.Shape[1]

	var layers []int
	for k := range sd {
		m := layerKey.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		s, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		if s > maxStages || b >= maxBlocks {
			return cfg, head, fmt.Errorf("%w: key %s is beyond %d stages of %d blocks", ErrArchitecture, short(k), maxStages, maxBlocks)
		}
		for len(layers) < s {
			layers = append(layers, 0)
		}
		layers[s-1] = max(layers[s-1], b+1)
	}
	if len(layers) == 0 {
		return cfg, head, fmt.Errorf("%w: no layerS.B.* keys, so not a ResNet; the state dict holds %s", ErrArchitecture, listShapes(sd))
	}
	for s, n := range layers {
		if n == 0 {
			return cfg, head, fmt.Errorf("%w: stage layer%d has no blocks but layer%d has", ErrArchitecture, s+1, len(layers))
		}
	}
	cfg.Layers = layers
	cfg.Block = model.BasicBlock
	if _, ok := sd["layer1.0.conv3.weight"]; ok {
		cfg.Block = model.BottleneckBlock
	}

	widths := make([]int, len(layers))
	for s := range layers {
		key := fmt.Sprintf("layer%d.0.conv1.weight", s+1)
		w, ok := sd[key]
		if !ok || len(w.Shape) != 4 || w.Shape[0] < 1 {
			return cfg, head, fmt.Errorf("%w: cannot read stage %d's width: %s is missing or not 4-d", ErrArchitecture, s+1, key)
		}
		widths[s] = w.Shape[0]
	}
	if conv1.Shape[0] != widths[0] {
		return cfg, head, fmt.Errorf("%w: the stem has %d channels but layer1 is %d wide; swav-go's ResNets need them equal "+
			"(torchvision's wide_resnet and width_per_group variants widen only the bottlenecks)", ErrArchitecture, conv1.Shape[0], widths[0])
	}
	mult := opts.WidthMultiplier
	if mult <= 0 {
		mult = 1
		if k := widths[0] / 64; k >= 1 && widths[0]%64 == 0 {
			paper := true
			for s, w := range widths {
				paper = paper && w == 64<<s*k
			}
			if paper {
				mult = k
			}
		}
	}
	cfg.WidthMultiplier = mult
	cfg.Widths = make([]int, len(widths))
	for s, w := range widths {
		if w%mult != 0 {
			return cfg, head, fmt.Errorf("%w: width multiplier %d does not divide stage %d's width %d", ErrArchitecture, mult, s+1, w)
		}
		cfg.Widths[s] = w / mult
	}

	if !opts.BackboneOnly {
		head, err := inferHead(sd, &cfg)
		if err != nil {
			return cfg, head, err
		}
		if err := cfg.Validate(); err != nil {
			return cfg, head, fmt.Errorf("%w: %v", ErrArchitecture, err)
		}
		return cfg, head, nil
	}
	if err := cfg.Validate(); err != nil {
		return cfg, head, fmt.Errorf("%w: %v", ErrArchitecture, err)
	}
	return cfg, head, nil
}

// inferHead reads the projection head and prototypes off the state dict.
func inferHead(sd map[string]Tensor, cfg *model.Config) (headKeys, error) {
	var head headKeys
	has := func(k string) bool { _, ok := sd[k]; return ok }
	rows := func(k string) int {
		if t := sd[k]; len(t.Shape) == 2 {
			return t.Shape[0]
		}
		return 0
	}
	switch {
	case has("projection_head.weight"):
		head.first = "projection_head"
		cfg.OutDim = rows("projection_head.weight")
	case has("projection_head.0.weight"):
		head.first = "projection_head.0"
		switch {
		case has("projection_head.1.weight") || has("projection_head.1.running_mean"):
			head.bn, head.last = "projection_head.1", "projection_head.3"
			if !has("projection_head.3.weight") {
				return head, fmt.Errorf("%w: the projection head has batch norm (projection_head.1) but no final linear layer projection_head.3", ErrArchitecture)
			}
		case has("projection_head.2.weight"):
			head.last = "projection_head.2"
		}
		if head.last == "" {
			cfg.OutDim = rows("projection_head.0.weight")
		} else {
			cfg.HiddenDim = rows("projection_head.0.weight")
			cfg.OutDim = rows(head.last + ".weight")
			cfg.HeadBatchNorm = head.bn != ""
		}
	}
	if head.first != "" && cfg.OutDim == 0 {
		return head, fmt.Errorf("%w: the projection head's weights are not 2-d", ErrArchitecture)
	}
	if has("prototypes.prototypes0.weight") {
		return head, fmt.Errorf("%w: several sets of prototypes (SwAV's MultiPrototypes) are not supported", ErrArchitecture)
	}
	if has("prototypes.weight") {
		if cfg.Prototypes = rows("prototypes.weight"); cfg.Prototypes == 0 {
			return head, fmt.Errorf("%w: prototypes.weight is not 2-d", ErrArchitecture)
		}
	}
	return head, nil
}

// Kinds of parameters, by how their layout changes.
const (
	vectorParam = iota // unchanged
	convParam          // [out, in, kh, kw] → [kh, kw, in, out]
	linearParam        // [out, in] → [in, out]
)

// param is one tensor of a network: its PyTorch key and shape, its swav-go name.
type param struct {
	torch string
	name  string
	shape []int
	kind  int
}

// layout lists the parameters of cfg's network with their PyTorch keys (torchvision's
// ResNet names and head's module names) and swav-go variable names, mirroring
// model.Backbone, model.Projection and model.PrototypesVariable.
func layout(cfg model.Config, head headKeys) []param {
	var ps []param
	conv := func(torch, name string, out, in, k int) {
		ps = append(ps, param{torch + ".weight", name + "/" + model.KernelVar, []int{out, in, k, k}, convParam})
	}
	bn := func(torch, name string, c int) {
		for _, v := range []string{model.WeightVar, model.BiasVar, model.RunningMeanVar, model.RunningVarVar} {
			ps = append(ps, param{torch + "." + v, name + "/" + v, []int{c}, vectorParam})
		}
	}
	linear := func(torch, name string, out, in int, bias bool) {
		ps = append(ps, param{torch + ".weight", name + "/" + model.KernelVar, []int{out, in}, linearParam})
		if bias {
			ps = append(ps, param{torch + ".bias", name + "/" + model.BiasVar, []int{out}, vectorParam})
		}
	}
	bb := model.BackboneScope + "/"
	mult := cfg.WidthMultiplier
	c := cfg.Widths[0] * mult
	k := 7
	if cfg.Stem == model.SmallStem {
		k = 3
	}
	conv("conv1", bb+"conv1", c, cfg.InChannels, k)
	bn("bn1", bb+"bn1", c)
	for s, blocks := range cfg.Layers {
		w := cfg.Widths[s] * mult
		for b := 0; b < blocks; b++ {
			stride := 1
			if b == 0 && s > 0 {
				stride = 2
			}
			t := fmt.Sprintf("layer%d.%d.", s+1, b)
			n := fmt.Sprintf("%slayer%d/%d/", bb, s+1, b)
			out := w
			if cfg.Block == model.BottleneckBlock {
				out = 4 * w
				conv(t+"conv1", n+"conv1", w, c, 1)
				bn(t+"bn1", n+"bn1", w)
				conv(t+"conv2", n+"conv2", w, w, 3)
				bn(t+"bn2", n+"bn2", w)
				conv(t+"conv3", n+"conv3", out, w, 1)
				bn(t+"bn3", n+"bn3", out)
			} else {
				conv(t+"conv1", n+"conv1", w, c, 3)
				bn(t+"bn1", n+"bn1", w)
				conv(t+"conv2", n+"conv2", w, w, 3)
				bn(t+"bn2", n+"bn2", w)
			}
			if stride != 1 || c != out {
				conv(t+"downsample.0", n+"downsample/0", out, c, 1)
				bn(t+"downsample.1", n+"downsample/1", out)
			}
			c = out
		}
	}
	pj := model.ProjectionScope + "/"
	if cfg.OutDim > 0 {
		if cfg.HiddenDim == 0 {
			linear(head.first, pj+"0", cfg.OutDim, c, true)
		} else {
			linear(head.first, pj+"0", cfg.HiddenDim, c, true)
			if cfg.HeadBatchNorm {
				bn(head.bn, pj+"1", cfg.HiddenDim)
			}
			linear(head.last, pj+"3", cfg.OutDim, cfg.HiddenDim, true)
		}
	}
	if cfg.Prototypes > 0 {
		linear("prototypes", model.PrototypesScope, cfg.Prototypes, cfg.EmbeddingDim(), false)
	}
	return ps
}

// compare checks a state dict against the expected parameters and reports every unknown
// key, missing key and shape mismatch at once.
func compare(sd map[string]Tensor, params []param) error {
	want := make(map[string]param, len(params))
	var missing, mismatched, unknown []string
	for _, p := range params {
		want[p.torch] = p
		t, ok := sd[p.torch]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("%s %v", p.torch, p.shape))
		case !equalInts(t.Shape, p.shape):
			mismatched = append(mismatched, fmt.Sprintf("%s is %s, expected %v", p.torch, short(fmt.Sprint(t.Shape)), p.shape))
		}
	}
	for k, t := range sd {
		if _, ok := want[k]; !ok {
			unknown = append(unknown, fmt.Sprintf("%s %s", short(k), short(fmt.Sprint(t.Shape))))
		}
	}
	if len(missing)+len(mismatched)+len(unknown) == 0 {
		return nil
	}
	var parts []string
	for _, g := range []struct {
		what string
		list []string
	}{{"unknown keys", unknown}, {"missing keys", missing}, {"shape mismatches", mismatched}} {
		if len(g.list) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s: %s", len(g.list), g.what, list(g.list)))
		}
	}
	return fmt.Errorf("%w: %s", ErrArchitecture, strings.Join(parts, "; "))
}

// floatDTypes are the element types a parameter may be stored with ("" is a tensor
// built in Go, float32).
var floatDTypes = map[string]bool{"": true, "float32": true, "float16": true, "bfloat16": true, "float64": true}

// checkValues checks the element type and values of every tensor the network uses,
// reporting all the offending tensors at once.
func checkValues(sd map[string]Tensor, params []param) error {
	var nonFloat, invalid []string
	for _, p := range params {
		t := sd[p.torch]
		if !floatDTypes[t.DType] {
			nonFloat = append(nonFloat, fmt.Sprintf("%s (%s)", p.torch, t.DType))
			continue
		}
		nonFinite, negative, first := 0, 0, -1
		variance := strings.HasSuffix(p.torch, "."+model.RunningVarVar)
		for i, v := range t.Data {
			switch {
			case math.IsNaN(float64(v)) || math.IsInf(float64(v), 0):
				nonFinite++
			case variance && v < 0:
				negative++
			default:
				continue
			}
			if first < 0 {
				first = i
			}
		}
		switch {
		case nonFinite > 0 && negative > 0:
			invalid = append(invalid, fmt.Sprintf("%s (%d NaN or infinite and %d negative values of %d, the first at index %d: %v)",
				p.torch, nonFinite, negative, len(t.Data), first, t.Data[first]))
		case nonFinite > 0:
			invalid = append(invalid, fmt.Sprintf("%s (%d NaN or infinite values of %d, the first at index %d: %v)",
				p.torch, nonFinite, len(t.Data), first, t.Data[first]))
		case negative > 0:
			invalid = append(invalid, fmt.Sprintf("%s (%d negative variances of %d, the first at index %d: %v)",
				p.torch, negative, len(t.Data), first, t.Data[first]))
		}
	}
	if len(nonFloat) > 0 {
		return fmt.Errorf("%w: parameters must be float32, float16, bfloat16 or float64; %d are not: %s",
			ErrArchitecture, len(nonFloat), list(nonFloat))
	}
	if len(invalid) > 0 {
		return fmt.Errorf("%w: %d tensors: %s", ErrInvalidValues, len(invalid), list(invalid))
	}
	return nil
}

// list sorts and joins items for an error message, at most 20 of them.
func list(items []string) string {
	sort.Strings(items)
	if len(items) > 20 {
		items = append(items[:20:20], fmt.Sprintf("and %d more", len(items)-20))
	}
	return strings.Join(items, ", ")
}

// short shortens a name from the file for an error message.
func short(s string) string {
	if len(s) > maxShown {
		return fmt.Sprintf("%s… (%d bytes)", s[:maxShown], len(s))
	}
	return s
}

// listShapes lists a state dict's keys with their shapes, for errors (at most 40).
func listShapes(sd map[string]Tensor) string {
	keys := make([]string, 0, len(sd))
	for k := range sd {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i == 40 {
			fmt.Fprintf(&b, ", and %d more", len(keys)-40)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", short(k), short(fmt.Sprint(sd[k].Shape)))
	}
	return b.String()
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// convToHWIO transposes a convolution kernel from [out, in, kh, kw] to [kh, kw, in, out].
func convToHWIO(shape []int, v []float32) ([]int, []float32) {
	o, in, kh, kw := shape[0], shape[1], shape[2], shape[3]
	out := make([]float32, len(v))
	for a := 0; a < o; a++ {
		for b := 0; b < in; b++ {
			for h := 0; h < kh; h++ {
				for w := 0; w < kw; w++ {
					out[((h*kw+w)*in+b)*o+a] = v[((a*in+b)*kh+h)*kw+w]
				}
			}
		}
	}
	return []int{kh, kw, in, o}, out
}

// transpose2D transposes a matrix [r, c] to [c, r].
func transpose2D(shape []int, v []float32) ([]int, []float32) {
	r, c := shape[0], shape[1]
	out := make([]float32, len(v))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out[j*r+i] = v[i*c+j]
		}
	}
	return []int{c, r}, out
}

// checkPreprocess checks the header's preprocessing against the model, as infer.Load
// will (model.ValidatePreprocess: channels, sizes, finite mean and std within bounds,
// a known interpolation).
func checkPreprocess(p checkpoint.Preprocess, cfg model.Config) error {
	if err := model.ValidatePreprocess(p, cfg); err != nil {
		return fmt.Errorf("%w (set ConvertOptions.Preprocess to suit this model)", err)
	}
	return nil
}
