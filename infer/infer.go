// Package infer embeds images with a trained swav-go model: it loads a checkpoint, rebuilds
// the network from the checkpoint's header alone, preprocesses images as the header says
// (decode, EXIF orientation, resize of the shorter side, centre crop, normalisation) and
// returns pooled backbone features (the representation the paper evaluates) or
// projection-head outputs, L2-normalised unless asked otherwise.
//
// A Model compiles its graph once per padded batch size (a power of two up to
// Options.BatchSize) and is safe for concurrent use by many goroutines; Close releases
// the compiled graphs and the weights. The package imports no training or CLI code, and
// prints nothing: warnings about inputs that do not fit the model go to Options.Warn.
package infer

import (
	gocontext "context"
	"errors"
	"fmt"
	"image"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/backend"
	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/internal/panics"
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
	// Read limits reading the checkpoint in Load and LoadBytes (file and tensor sizes,
	// see checkpoint.ReadOptions). Its Validate hook, if set, runs after infer's own
	// checks (see Validate), before the tensors are read.
	Read checkpoint.ReadOptions
	// Warn, when set, receives one warning, at most once per Model, when an input image
	// clearly does not fit the model (see CheckFit: a colour image given to a grayscale
	// model, or a shorter side far from the model's input side); the message says what
	// to use instead. It may be called from any goroutine of Embed, EmbedFiles,
	// EachFile, EachImage or PrepareInput. nil (the default) checks nothing: package
	// infer prints nothing. Package swav defaults it to the standard logger.
	Warn func(msg string)
}

// ErrClosed is returned by every embedding method of a Model after Close.
var ErrClosed = errors.New("infer: the model is closed")

// Model is a loaded network ready to embed images. It is safe for concurrent use.
type Model struct {
	name   string
	cfg    model.Config
	pre    checkpoint.Preprocess
	header checkpoint.Header
	opts   Options
	ctx    *context.Context
	exec   *context.Exec
	protos []checkpoint.Tensor
	ownBE  bool // the backend was created by FromFile: Close finalizes it

	mu     sync.Mutex // serialises executions (each already uses every core) and Close
	closed bool       // guarded by mu

	warnOnce sync.Once
	warned   atomic.Bool // set once Warn was called: later images are not checked
}

// Load reads the checkpoint at path and prepares the model for inference. The header
// and the tensor table are validated (see Validate) before any tensor is read or
// allocated, so a hostile header is refused before anything proportional to the sizes
// it declares is allocated.
func Load(path string, opts Options) (*Model, error) {
	f, err := checkpoint.LoadWith(path, readOptions(opts, path))
	if err != nil {
		return nil, err
	}
	return FromFile(f, path, opts)
}

// LoadBytes is Load for a checkpoint held in memory (e.g. embedded with go:embed); name
// is used in error messages.
func LoadBytes(data []byte, name string, opts Options) (*Model, error) {
	f, err := checkpoint.DecodeWith(data, name, readOptions(opts, name))
	if err != nil {
		return nil, err
	}
	return FromFile(f, name, opts)
}

// readOptions returns opts.Read with Validate run on the header and tensor table of the
// checkpoint name before the payload is read, then the caller's own hook.
func readOptions(opts Options, name string) checkpoint.ReadOptions {
	ro := opts.Read
	user := ro.Validate
	ro.Validate = func(info *checkpoint.Info) error {
		table := make([]model.TensorSpec, len(info.Tensors))
		for i, t := range info.Tensors {
			table[i] = model.TensorSpec{Name: t.Name, DType: t.DType, Shape: t.Shape}
		}
		cfg, err := Validate(info.Header, table)
		if err != nil {
			return named(err, name)
		}
		if err := checkOutput(cfg, opts.Output); err != nil {
			return err
		}
		if user != nil {
			return user(info)
		}
		return nil
	}
	return ro
}

// Kinds of checkpoint (checkpoint.Header.Kind) that Validate tells apart. A model is
// written by `swav-embed pretrain` (a training checkpoint, which loads as its network),
// `export` and `convert`; a linear probe by `swav-embed probe --save-probe`
// (linearprobe.ProbeKind).
const (
	ModelKind    = model.Kind      // "swav-model": a network ready for inference
	TrainingKind = "swav-training" // pretrain.KindTraining: network, optimiser state, queue
	ProbeKind    = "linear-probe"  // linearprobe.ProbeKind: not a network
)

// NotModelError is Validate's error (and Load's, LoadBytes' and FromFile's) for a
// checkpoint that holds no network: a linear probe, or a file of another kind. Its
// message says what the file is and which file to give instead.
type NotModelError struct {
	// Name is the checkpoint's path or name ("" from Validate, which has none).
	Name string
	// Kind is the checkpoint's Header.Kind.
	Kind string
}

// Error implements error.
func (e *NotModelError) Error() string {
	name := e.Name
	if name == "" {
		name = "FILE"
	}
	if e.Kind == ProbeKind {
		return "this file is a linear probe (saved by swav-embed probe --save-probe), not a model: " +
			"use it with swav-embed predict --probe " + name + " (linearprobe.LoadProbe in Go), and give --model " +
			"(swav.Load, infer.Load) a model file, written by swav-embed pretrain, export or convert"
	}
	if e.Kind == "" {
		return "this file has no kind and no model section: it is not a SwAV model " +
			"(a model file is written by swav-embed pretrain, export or convert)"
	}
	return fmt.Sprintf("this file is a checkpoint of kind %q, not a SwAV model (kind %q, or %q for a training checkpoint): "+
		"give a model file, written by swav-embed pretrain, export or convert", e.Kind, ModelKind, TrainingKind)
}

// named returns err with the checkpoint's name filled in when it is a *NotModelError.
func named(err error, name string) error {
	var nm *NotModelError
	if errors.As(err, &nm) && nm.Name == "" {
		return &NotModelError{Name: name, Kind: nm.Kind}
	}
	return err
}

// Validate checks what a checkpoint declares, its header and its tensor table, for
// inference, from those alone (nothing proportional to the sizes they declare is
// allocated), and returns the network's architecture:
//   - the kind a network (ModelKind or TrainingKind; a file without a kind but with a
//     model section is read as a model), else a *NotModelError, e.g. for a linear probe;
//   - the model section within model.Config's documented bounds (model.ParseConfig);
//   - the preprocessing section present and within its bounds for that network
//     (model.ValidatePreprocess);
//   - every variable of the network in the table with its shape, as float32 or
//     float16, and no other tensor in the network's scopes (model.CheckTensors).
//
// A header problem reads "header model.out_dim = 1099511627776 is above the limit
// 65536" (the error wraps a *model.FieldError), a table problem "tensor
// backbone/conv1/kernel is missing: the header's model needs it as float32 [3 3 1 4]"
// (a *model.TensorError); Load, LoadBytes and FromFile prefix "checkpoint <name>: ".
func Validate(h checkpoint.Header, table []model.TensorSpec) (model.Config, error) {
	switch h.Kind {
	case ModelKind, TrainingKind:
	case "":
		if len(h.Model) == 0 {
			return model.Config{}, &NotModelError{}
		}
	default:
		return model.Config{}, &NotModelError{Kind: h.Kind}
	}
	cfg, err := model.ParseConfig(h.Model)
	if err != nil {
		return model.Config{}, fmt.Errorf("header %w", err)
	}
	if h.Preprocess == nil {
		return model.Config{}, fmt.Errorf("header %w", &model.FieldError{Field: "preprocess", Problem: "section is missing"})
	}
	if err := model.ValidatePreprocess(*h.Preprocess, cfg); err != nil {
		return model.Config{}, fmt.Errorf("header %w", err)
	}
	if err := model.CheckTensors(cfg, table); err != nil {
		return model.Config{}, err
	}
	return cfg, nil
}

// checkOutput reports whether the network cfg can give output o.
func checkOutput(cfg model.Config, o Output) error {
	if o == Projection && cfg.OutDim == 0 {
		return errors.New("the model has no projection head")
	}
	return nil
}

// FromFile prepares a decoded checkpoint for inference; name is used in errors. The
// checkpoint is validated as Load does (see Validate) before any graph is built.
func FromFile(f *checkpoint.File, name string, opts Options) (*Model, error) {
	cfg, err := Validate(f.Header, model.TensorSpecs(f.Tensors))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", name, named(err, name))
	}
	if err := checkOutput(cfg, opts.Output); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", name, err)
	}
	pre := *f.Header.Preprocess
	if opts.BatchSize <= 0 {
		opts.BatchSize = 64
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	ownBE := opts.Backend == nil
	if ownBE {
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
	m := &Model{name: name, cfg: cfg, pre: pre, header: f.Header, opts: opts, ctx: ctx.Reuse(), ownBE: ownBE}
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

// Close releases what the Model holds on its backend: the compiled graphs, the weights,
// and the backend itself when the Model created it (Options.Backend nil; a backend the
// caller passed stays the caller's). It waits for a batch already running to finish;
// afterwards the embedding methods (Embed, EmbedTensors, EmbedFiles, EachFile,
// EachImage) return ErrClosed, while Config, Preprocess, Header, Dim, Prototypes and
// Prepare keep working (they read the checkpoint, not the backend). Close is idempotent
// and safe to call concurrently with other methods; it always returns nil.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.exec.Finalize()
	m.ctx.Finalize()
	if m.ownBE {
		m.opts.Backend.Finalize()
	}
	m.exec, m.ctx = nil, nil
	return nil
}

// open returns ErrClosed once the Model is closed.
func (m *Model) open() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
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

// Prepare turns a decoded image into the model's normalised input tensor. It panics if
// the image cannot be prepared (see PrepareInput, which returns the error).
func (m *Model) Prepare(img image.Image) imageio.Tensor { return PrepareImage(m.pre, img) }

// PrepareInput is Prepare returning an error, e.g. for an empty image. With
// Options.Warn set it also checks that the image fits the model (see CheckFit).
func (m *Model) PrepareInput(img image.Image) (imageio.Tensor, error) {
	return m.prepare("an input image", img)
}

// prepare is PrepareInput for the image called name in a warning.
func (m *Model) prepare(name string, img image.Image) (imageio.Tensor, error) {
	m.checkFit(name, img)
	return PrepareInput(m.pre, img)
}

// PrepareImage is PrepareInput for a pre and an image known to be valid: it panics on
// an error.
func PrepareImage(pre checkpoint.Preprocess, img image.Image) imageio.Tensor {
	t, err := PrepareInput(pre, img)
	if err != nil {
		panic("infer: " + err.Error())
	}
	return t
}

// PrepareInput turns a decoded image into a network input as pre describes: channels,
// resize of the shorter side and centre crop (unless the image already has the input
// size), then per-channel normalisation. The resize computes only the pixels the crop
// keeps (imageio.ResizeShorterCrop), so an elongated image costs no more than its
// decoding. pre must be valid (see model.ValidatePreprocess); an empty image is an error.
func PrepareInput(pre checkpoint.Preprocess, img image.Image) (imageio.Tensor, error) {
	if pre.Channels != 1 && pre.Channels != 3 {
		return imageio.Tensor{}, fmt.Errorf("preprocess: %d channels, want 1 or 3", pre.Channels)
	}
	if len(pre.Mean) != pre.Channels || len(pre.Std) != pre.Channels {
		return imageio.Tensor{}, fmt.Errorf("preprocess: mean %v and std %v need %d values", pre.Mean, pre.Std, pre.Channels)
	}
	t := imageio.ToTensor(img, pre.Channels)
	if t.H != pre.InputSize || t.W != pre.InputSize {
		var err error
		if t, err = imageio.ResizeShorterCrop(t, pre.ResizeSize, pre.InputSize, pre.InputSize); err != nil {
			return imageio.Tensor{}, fmt.Errorf("preprocess: %w", err)
		}
	}
	mean := make([]float32, len(pre.Mean))
	std := make([]float32, len(pre.Std))
	for i := range mean {
		mean[i], std[i] = float32(pre.Mean[i]), float32(pre.Std[i])
	}
	t.Normalize(mean, std)
	return t, nil
}

// Embed returns one vector per image, in order. A nil or empty image fails the whole
// call (its error names the image's index), so every returned vector is set.
func (m *Model) Embed(ctx gocontext.Context, images []image.Image) ([][]float32, error) {
	if err := m.open(); err != nil {
		return nil, err
	}
	inputs := make([]imageio.Tensor, len(images))
	for i, img := range images {
		if img == nil {
			return nil, fmt.Errorf("infer: image %d is nil", i)
		}
		in, err := m.prepare(fmt.Sprintf("image %d", i), img)
		if err != nil {
			return nil, fmt.Errorf("infer: image %d: %w", i, err)
		}
		inputs[i] = in
	}
	return m.EmbedTensors(ctx, inputs)
}

// EmbedTensors embeds already prepared inputs (see Prepare), in order.
func (m *Model) EmbedTensors(ctx gocontext.Context, inputs []imageio.Tensor) ([][]float32, error) {
	if err := m.open(); err != nil {
		return nil, err
	}
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
	if m.closed {
		return nil, ErrClosed
	}
	var all []float32
	if perr := panics.Catch(func() {
		var res *tensors.Tensor
		if res, err = m.exec.Exec1(tensors.FromFlatDataAndDimensions(flat, padded, s, s, c)); err != nil {
			return
		}
		defer res.FinalizeAll()
		all, err = tensors.CopyFlatData[float32](res)
	}); perr != nil {
		err = perr
	}
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	d := len(all) / padded
	vecs = make([][]float32, len(batch))
	for i := range vecs {
		vecs[i] = all[i*d : (i+1)*d : (i+1)*d]
	}
	return vecs, nil
}
