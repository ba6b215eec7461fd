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
// how, and what its linear-probe accuracy is. For natural photos, convert the paper's
// ResNet-50 (see package torchimport) or pretrain on your own images.
package swav

import (
	gocontext "context"
	_ "embed"
	"fmt"
	"math"
	"sort"

	"github.com/swav-go/swav/backend"
	"github.com/swav-go/swav/infer"
	"github.com/swav-go/swav/linearprobe"
)

//go:embed models/default.swav
var defaultModel []byte

// DefaultModelName names the embedded model in errors and logs.
const DefaultModelName = "embedded:models/default.swav"

// Model embeds images; it is safe for concurrent use. See package infer for the options.
type Model struct {
	*infer.Model
}

// Options configure a Model (output kind, normalisation, batch size, backend …); the
// zero value is ready to use.
type Options = infer.Options

// Load reads a model checkpoint written by `swav-embed pretrain`, `export` or `convert`.
func Load(path string, opts Options) (*Model, error) {
	m, err := infer.Load(path, opts)
	if err != nil {
		return nil, err
	}
	return &Model{m}, nil
}

// LoadDefault returns the embedded default model (small ResNet, Fashion-MNIST, 28×28
// grayscale input; other images are converted to grayscale and resized).
func LoadDefault(opts Options) (*Model, error) {
	m, err := infer.LoadBytes(defaultModel, DefaultModelName, opts)
	if err != nil {
		return nil, err
	}
	return &Model{m}, nil
}

// DefaultModelBytes returns the embedded default model checkpoint (do not modify it).
func DefaultModelBytes() []byte { return defaultModel }

// Cosine returns the cosine similarity of a and b (0 when either is zero). It panics if
// their lengths differ.
func Cosine(a, b []float32) float64 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("swav: Cosine of vectors of lengths %d and %d", len(a), len(b)))
	}
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
// similar first (ties by index). An exhaustive search: fine for up to ~10⁶ vectors.
func Nearest(query []float32, set [][]float32, k int) []Neighbor {
	out := make([]Neighbor, len(set))
	for i, v := range set {
		out[i] = Neighbor{Index: i, Similarity: Cosine(query, v)}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Similarity > out[j].Similarity })
	if k < len(out) {
		out = out[:max(k, 0)]
	}
	return out
}

// TrainProbe trains a linear classifier on frozen embeddings with the default backend
// (see linearprobe.TrainLinear for the options; the zero value uses the paper's recipe).
func TrainProbe(ctx gocontext.Context, train linearprobe.Dataset, opts linearprobe.LinearOptions) (*linearprobe.Probe, error) {
	be, err := backend.New()
	if err != nil {
		return nil, err
	}
	return linearprobe.TrainLinear(ctx, be, train, opts)
}
