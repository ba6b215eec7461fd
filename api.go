// Package swav is the small facade a Go program imports to use SwAV image embeddings
// (Caron et al. 2020, "Unsupervised Learning of Visual Features by Contrasting Cluster
// Assignments"): load a model (a checkpoint file, or the embedded default model), embed
// images or files, compare embeddings, find nearest neighbours, and train a linear probe
// on a few labels.
//
// The facade is embed-only and stays light: it pulls in no plotting, progress-bar or
// network packages (a test checks its dependencies). To pretrain a model on your own
// unlabelled images, import package pretrain (pretrain.Run) or use the swav-embed
// command.
//
// Everything runs in pure Go (no cgo, no Python). The compute backend is swav-go's
// pure-Go default unless the GOMLX_BACKEND environment variable names another.
//
// The embedded default model is a small ResNet pretrained with SwAV on Fashion-MNIST
// (28×28 grayscale) by this project's own `swav-embed pretrain`; README.md says exactly
// how, and what its linear-probe accuracy is. It is no model for photos, and a Model says
// so (once, through Options.Warn) when given colour or large images: for natural photos,
// download the paper's ResNet-50
// (https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar), convert it
// with `swav-embed convert swav_800ep_pretrain.pth.tar --out swav-rn50.swav` (package
// torchimport) and Load it, or pretrain on your own images.
package swav

import (
	gocontext "context"
	_ "embed"
	"fmt"
	"image"
	"log"
	"math"
	"sort"

	"github.com/swav-go/swav/backend"
	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/infer"
	"github.com/swav-go/swav/linearprobe"
	"github.com/swav-go/swav/model"
)

//go:embed models/default.swav
var defaultModel []byte

// DefaultModelName names the embedded model in errors and logs.
const DefaultModelName = "embedded:models/default.swav"

// Model embeds images; it is safe for concurrent use. Its methods are listed below;
// Close it when done to release its compiled graphs and weights.
type Model struct {
	// Model is the underlying inference model, for the packages that take one (such as
	// evaluate.Embed). Model's own methods cover all of its methods.
	*infer.Model
}

// Options configure a Model (output kind, normalisation, batch size, backend, warnings
// …); the zero value is ready to use. See infer.Options.
type Options = infer.Options

// Embeddings is the result of Model.EmbedFiles: the vectors of the files that were
// embedded, with their paths, and the files that failed (see infer.Embeddings).
type Embeddings = infer.Embeddings

// FileError is the failure of one file in Model.EmbedFiles (see infer.FileError).
type FileError = infer.FileError

// ErrClosed is returned by the embedding methods of a closed Model.
var ErrClosed = infer.ErrClosed

// Load reads a model checkpoint written by `swav-embed pretrain`, `export` or `convert`.
// A file that is no model (a linear probe saved by `swav-embed probe --save-probe`, say)
// is refused with an error saying what it is (an *infer.NotModelError). Unless
// opts.Warn is set, warnings about inputs that do not fit the model go to the standard
// logger (log.Print); set Warn to func(string) {} to silence them.
func Load(path string, opts Options) (*Model, error) {
	m, err := infer.Load(path, withWarn(opts))
	if err != nil {
		return nil, err
	}
	return &Model{m}, nil
}

// LoadDefault returns the embedded default model: a small ResNet trained on
// Fashion-MNIST, taking 28×28 grayscale input (other images are converted to grayscale
// and resized, and the Model warns once that they do not fit; see Load for the warning
// and the package documentation for what to use for photos).
func LoadDefault(opts Options) (*Model, error) {
	m, err := infer.LoadBytes(defaultModel, DefaultModelName, withWarn(opts))
	if err != nil {
		return nil, err
	}
	return &Model{m}, nil
}

// withWarn returns opts with Warn defaulting to the standard logger.
func withWarn(opts Options) Options {
	if opts.Warn == nil {
		opts.Warn = func(msg string) { log.Print("swav: warning: ", msg) }
	}
	return opts
}

// DefaultModelBytes returns the embedded default model checkpoint (do not modify it).
func DefaultModelBytes() []byte { return defaultModel }

// EmbedFiles decodes, preprocesses and embeds the files at paths. A file that cannot be
// read or decoded does not stop the others: it is listed in the result's Failed, and the
// result's Paths and Vectors hold the files that were embedded, in input order (every
// vector set, of length Dim). The error is for the run as a whole (a cancelled context,
// a closed Model); the result is then nil. Use the result's Err method to treat any
// failed file as an error.
func (m *Model) EmbedFiles(ctx gocontext.Context, paths []string) (*Embeddings, error) {
	return m.Model.EmbedFiles(ctx, paths)
}

// Embed returns one vector per decoded image, in order; a nil or empty image fails the
// whole call.
func (m *Model) Embed(ctx gocontext.Context, images []image.Image) ([][]float32, error) {
	return m.Model.Embed(ctx, images)
}

// EachFile streams the vectors of paths to fn in input order, with the file's error
// instead of a vector when it could not be read, in memory bounded by one batch; an
// error returned by fn stops the run and is returned.
func (m *Model) EachFile(ctx gocontext.Context, paths []string, fn func(i int, vec []float32, err error) error) error {
	return m.Model.EachFile(ctx, paths, fn)
}

// EachImage is EachFile over the images of a dataset source (dataset.Glob,
// dataset.IDX …), in index order.
func (m *Model) EachImage(ctx gocontext.Context, src dataset.Source, fn func(i int, vec []float32, err error) error) error {
	return m.Model.EachImage(ctx, src, fn)
}

// EmbedTensors embeds inputs already prepared by Prepare or PrepareInput, in order.
func (m *Model) EmbedTensors(ctx gocontext.Context, inputs []imageio.Tensor) ([][]float32, error) {
	return m.Model.EmbedTensors(ctx, inputs)
}

// Prepare turns a decoded image into the model's input tensor; it panics on an image
// that cannot be prepared (an empty one), which PrepareInput returns as an error.
func (m *Model) Prepare(img image.Image) imageio.Tensor { return m.Model.Prepare(img) }

// PrepareInput turns a decoded image into the model's input tensor (resize, centre crop,
// normalisation, as the checkpoint's header says).
func (m *Model) PrepareInput(img image.Image) (imageio.Tensor, error) {
	return m.Model.PrepareInput(img)
}

// Fingerprint returns the Model's normalised vectors of a few fixed synthetic inputs, by
// which a saved linear probe recognises the model it was trained on
// (see infer.Model.Fingerprint).
func (m *Model) Fingerprint(ctx gocontext.Context) ([]float32, error) {
	return m.Model.Fingerprint(ctx)
}

// Dim is the length of the vectors the Model returns.
func (m *Model) Dim() int { return m.Model.Dim() }

// Config returns the network's architecture, as the checkpoint describes it.
func (m *Model) Config() model.Config { return m.Model.Config() }

// Preprocess returns the preprocessing the Model applies (input size, channels, mean
// and std …).
func (m *Model) Preprocess() checkpoint.Preprocess { return m.Model.Preprocess() }

// Header returns the header of the checkpoint the Model was loaded from.
func (m *Model) Header() checkpoint.Header { return m.Model.Header() }

// Prototypes returns the SwAV prototypes [K][D] stored in the checkpoint (L2-normalised
// rows), or nil when it has none.
func (m *Model) Prototypes() ([][]float32, error) { return m.Model.Prototypes() }

// Close releases the Model's compiled graphs and weights (and its backend, when it
// created it). It waits for a running batch; afterwards the embedding methods return
// ErrClosed. It is idempotent and always returns nil.
func (m *Model) Close() error { return m.Model.Close() }

// Cosine returns the cosine similarity of a and b, in [-1, 1] (0 when either is all
// zeros). It returns an error, not a value, when they are empty or their lengths differ
// (vectors of two different models or outputs, say).
func Cosine(a, b []float32) (float64, error) {
	if len(a) != len(b) || len(a) == 0 {
		return 0, fmt.Errorf("swav: Cosine of vectors of lengths %d and %d: want two non-empty vectors of one length", len(a), len(b))
	}
	return cosine(a, b), nil
}

// cosine is Cosine for two vectors of one length.
func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// Neighbor is one result of Nearest.
type Neighbor struct {
	// Index is the position in the searched set.
	Index int
	// Similarity is the cosine similarity to the query.
	Similarity float64
}

// Nearest returns the k vectors of set most similar to query by cosine similarity, most
// similar first (ties by index; a NaN similarity, from a vector holding NaN, ranks
// last). It searches nothing and returns an error naming the first offending position
// when query is empty or a vector of set has another length than query. An exhaustive
// search: fine for up to ~10⁶ vectors (package neighbors has an index for more).
func Nearest(query []float32, set [][]float32, k int) ([]Neighbor, error) {
	if len(query) == 0 {
		return nil, fmt.Errorf("swav: Nearest of an empty query")
	}
	for i, v := range set {
		if len(v) != len(query) {
			return nil, fmt.Errorf("swav: Nearest: set[%d] has %d values, the query %d", i, len(v), len(query))
		}
	}
	out := make([]Neighbor, len(set))
	for i, v := range set {
		out[i] = Neighbor{Index: i, Similarity: cosine(query, v)}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Similarity, out[j].Similarity
		return a > b || (!math.IsNaN(a) && math.IsNaN(b))
	})
	if k < len(out) {
		out = out[:max(k, 0)]
	}
	return out, nil
}

// TrainProbe trains a linear classifier on frozen embeddings with the default backend
// (see linearprobe.TrainLinear for the options; the zero value uses the paper's recipe).
// Build train with evaluate.Embed over a labelled dataset.Glob folder, or from vectors.
func TrainProbe(ctx gocontext.Context, train linearprobe.Dataset, opts linearprobe.LinearOptions) (*linearprobe.Probe, error) {
	be, err := backend.New()
	if err != nil {
		return nil, err
	}
	return linearprobe.TrainLinear(ctx, be, train, opts)
}
