// Package infer embeds images with a trained swav-go model: it loads a checkpoint, rebuilds
// the network from the checkpoint's header alone, preprocesses images as the header says
// (decode, EXIF orientation, resize of the shorter side, centre crop, normalisation) and
// returns pooled backbone features (the representation the paper evaluates) or
// projection-head outputs, L2-normalised unless asked otherwise.
//
// A Model compiles its graph once per padded batch size (a power of two up to
// Options.BatchSize)
// and is safe for concurrent use by many goroutines. The package imports no training or
// CLI code.
package infer

import (
	gocontext "context"
	"fmt"
	"image"
	"math"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/backend"
	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/model"
)

// Output selects what Embed returns.
type Output int

const (
	// Features are the globally pooled backbone features (FeatureDim values): the
	// representation the paper evaluates with a linear probe. The default.
	Features Output = iota
	// Projection is the projection head's output (OutDim values), the space the
	// prototypes live in.
	Projection
)

// String names the output.
func (o Output) String() string {
	switch o {
	case Features:
		return "features"
	case Projection:
		return "projection"
	}
	return fmt.Sprintf("Output(%d)", int(o))
}

// ParseOutput parses "features" or "projection".
func ParseOutput(s string) (Output, error) {
	switch strings.ToLower(s) {
	case "features", "":
		return Features, nil
	case "projection":
		return Projection, nil
	}
	return 0, fmt.Errorf("output %q is not valid, outputs are: features, projection", s)
}

// Options configure a Model. The zero value is ready to use.
type Options struct {
	// Backend computes the graphs; nil means backend.New() ($GOMLX_BACKEND or swav-go's
	// pure-Go default).
	Backend backends.Backend
	// Output selects features (default) or projection-head outputs.
	Output Output
	// Raw returns vectors as computed; by default they are L2-normalised.
	Raw bool
	// BatchSize is the largest number of images per forward pass (default 64). Smaller
	// batches are padded to a power of two, so at most log₂(BatchSize)+1 graphs are
	// compiled.
	BatchSize int
	// Workers decode and preprocess files in parallel in EmbedFiles (default 2).
	Workers int
	// Decode limits image decoding (pixel limit, alpha background).
	Decode imageio.Options
}

// Model is a loaded network ready to embed images. It is safe for concurrent use.
type Model struct {
	cfg    model.Config
	pre    checkpoint.Preprocess
	header checkpoint.Header
	opts   Options
	ctx    *context.Context
	exec   *context.Exec
	protos []checkpoint.Tensor
	mu     sync.Mutex // serialises executions: each already uses every core
}

// Load reads the checkpoint at path and prepares the model for inference.
func Load(path string, opts Options) (*Model, error) {
	f, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	return FromFile(f, path, opts)
}

// LoadBytes is Load for a checkpoint held in memory (e.g. embedded with go:embed); name
// is used in error messages.
func LoadBytes(data []byte, name string, opts Options) (*Model, error) {
	f, err := checkpoint.Decode(data, name)
	if err != nil {
		return nil, err
	}
	return FromFile(f, name, opts)
}

// FromFile prepares a decoded checkpoint for inference; name is used in errors.
func FromFile(f *checkpoint.File, name string, opts Options) (*Model, error) {
	cfg, err := model.ParseConfig(f.Header.Model)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", name, err)
	}
	if f.Header.Preprocess == nil {
		return nil, fmt.Errorf("checkpoint %s: header has no preprocessing section", name)
	}
	pre := *f.Header.Preprocess
	if err := validatePreprocess(pre, cfg); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", name, err)
	}
	if opts.Output == Projection && cfg.OutDim == 0 {
		return nil, fmt.Errorf("checkpoint %s: the model has no projection head", name)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 64
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.Backend == nil {
		if opts.Backend, err = backend.New(); err != nil {
			return nil, err
		}
	}
	keep := func(n string) bool {
		return strings.HasPrefix(n, model.BackboneScope+"/") ||
			(opts.Output == Projection && strings.HasPrefix(n, model.ProjectionScope+"/"))
	}
	ctx := context.New()
	if err := model.ImportVariables(ctx, f.Tensors, keep); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", name, err)
	}
	m := &Model{cfg: cfg, pre: pre, header: f.Header, opts: opts, ctx: ctx.Reuse()}
	for _, t := range f.Tensors {
		if strings.HasPrefix(t.Name, model.PrototypesScope+"/") {
			m.protos = append(m.protos, t)
		}
	}
	m.exec, err = context.NewExec(opts.Backend, m.ctx, m.graph)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", name, err)
	}
	return m, nil
}

func validatePreprocess(p checkpoint.Preprocess, cfg model.Config) error {
	if p.InputSize <= 0 || p.ResizeSize < p.InputSize {
		return fmt.Errorf("preprocess: input size %d and resize size %d must satisfy 0 < input ≤ resize", p.InputSize, p.ResizeSize)
	}
	if p.Channels != cfg.InChannels {
		return fmt.Errorf("preprocess: %d channels, but the model takes %d", p.Channels, cfg.InChannels)
	}
	if len(p.Mean) != p.Channels || len(p.Std) != p.Channels {
		return fmt.Errorf("preprocess: mean %v and std %v need %d values", p.Mean, p.Std, p.Channels)
	}
	for _, s := range p.Std {
		if !(s > 0) {
			return fmt.Errorf("preprocess: std %v must be positive", p.Std)
		}
	}
	return nil
}

// graph is the inference graph: images [B, H, W, C] → vectors [B, D].
func (m *Model) graph(ctx *context.Context, images *Node) *Node {
	y := model.Backbone(ctx, m.cfg, images, false)
	if m.opts.Output == Projection {
		y = model.Projection(ctx, m.cfg, y, false)
	}
	if !m.opts.Raw {
		y = model.Embed(y)
	}
	return y
}

// Config returns the model's architecture.
func (m *Model) Config() model.Config { return m.cfg }

// Preprocess returns the preprocessing the model applies.
func (m *Model) Preprocess() checkpoint.Preprocess { return m.pre }

// Header returns the checkpoint header the model was loaded from.
func (m *Model) Header() checkpoint.Header { return m.header }

// Dim is the length of the vectors Embed returns.
func (m *Model) Dim() int {
	if m.opts.Output == Projection {
		return m.cfg.OutDim
	}
	return m.cfg.FeatureDim()
}

// Prototypes returns the SwAV prototypes [K][D] stored in the checkpoint (L2-normalised
// rows), or nil when it has none.
func (m *Model) Prototypes() ([][]float32, error) {
	for _, t := range m.protos {
		if t.Name != model.PrototypesScope+"/"+model.KernelVar || len(t.Shape) != 2 {
			continue
		}
		v, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		d, k := t.Shape[0], t.Shape[1]
		out := make([][]float32, k)
		for j := range out {
			row := make([]float32, d)
			var n float64
			for i := range row {
				row[i] = v[i*k+j]
				n += float64(row[i]) * float64(row[i])
			}
			if n > 0 {
				inv := float32(1 / math.Sqrt(n))
				for i := range row {
					row[i] *= inv
				}
			}
			out[j] = row
		}
		return out, nil
	}
	return nil, nil
}

// Prepare turns a decoded image into the model's normalised input tensor.
func (m *Model) Prepare(img image.Image) imageio.Tensor { return PrepareImage(m.pre, img) }

// PrepareImage turns a decoded image into a network input as pre describes: channels,
// resize of the shorter side and centre crop (unless the image already has the input
// size), then per-channel normalisation.
func PrepareImage(pre checkpoint.Preprocess, img image.Image) imageio.Tensor {
	t := imageio.ToTensor(img, pre.Channels)
	if t.H != pre.InputSize || t.W != pre.InputSize {
		t = imageio.ResizeShorter(t, pre.ResizeSize)
		t = imageio.CenterCrop(t, pre.InputSize, pre.InputSize)
	}
	mean := make([]float32, len(pre.Mean))
	std := make([]float32, len(pre.Std))
	for i := range mean {
		mean[i], std[i] = float32(pre.Mean[i]), float32(pre.Std[i])
	}
	t.Normalize(mean, std)
	return t
}

// Embed returns one vector per image, in order.
func (m *Model) Embed(ctx gocontext.Context, images []image.Image) ([][]float32, error) {
	inputs := make([]imageio.Tensor, len(images))
	for i, img := range images {
		if img == nil {
			return nil, fmt.Errorf("infer: image %d is nil", i)
		}
		inputs[i] = m.Prepare(img)
	}
	return m.EmbedTensors(ctx, inputs)
}

// EmbedTensors embeds already prepared inputs (see Prepare), in order.
func (m *Model) EmbedTensors(ctx gocontext.Context, inputs []imageio.Tensor) ([][]float32, error) {
	out := make([][]float32, 0, len(inputs))
	for start := 0; start < len(inputs); start += m.opts.BatchSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+m.opts.BatchSize, len(inputs))
		vecs, err := m.runBatch(inputs[start:end])
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// runBatch runs one padded batch through the network.
func (m *Model) runBatch(batch []imageio.Tensor) (vecs [][]float32, err error) {
	s := m.pre.InputSize
	c := m.pre.Channels
	per := s * s * c
	// Pad to the next power of two (at most BatchSize): few graph shapes to compile, and
	// little wasted work on small requests.
	padded := 1
	for padded < len(batch) {
		padded *= 2
	}
	padded = min(padded, m.opts.BatchSize)
	flat := make([]float32, padded*per)
	for i, t := range batch {
		if t.H != s || t.W != s || t.C != c {
			return nil, fmt.Errorf("infer: input %d is %d×%d×%d, the model takes %d×%d×%d", i, t.H, t.W, t.C, s, s, c)
		}
		copy(flat[i*per:], t.Pix)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("infer: %v", r)
		}
	}()
	res, err := m.exec.Exec1(tensors.FromFlatDataAndDimensions(flat, padded, s, s, c))
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	all := tensors.MustCopyFlatData[float32](res)
	res.FinalizeAll()
	d := len(all) / padded
	vecs = make([][]float32, len(batch))
	for i := range vecs {
		vecs[i] = all[i*d : (i+1)*d : (i+1)*d]
	}
	return vecs, nil
}
