package linearprobe

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/swav-go/swav/embedio"
)

// ErrEmbeddings is wrapped by ReadEmbeddings's errors about what an embeddings file or its
// .paths.txt sidecar holds: not an NPY file, a header this reader does not accept,
// a size that disagrees with the header, a sidecar with the wrong number of lines,
// non-finite values. It is embedio.ErrMalformed: ReadEmbeddings reads through embedio.Read.
var ErrEmbeddings = embedio.ErrMalformed

// Defaults of EmbeddingsOptions.
const (
	// DefaultMaxEmbeddingsBytes caps an embeddings file by default: 4 GiB, e.g. 500,000
	// 2048-d float32 embeddings (ResNet-50's pooled features) or 8 million 128-d ones.
	// The probe holds them all in memory (and trains on them), so larger sets are
	// better subsampled; set EmbeddingsOptions.MaxBytes to read one anyway.
	DefaultMaxEmbeddingsBytes = 4 << 30
	// DefaultMaxPathsBytes caps the .paths.txt sidecar by default: 1 GiB, several
	// million paths of any realistic length.
	DefaultMaxPathsBytes = 1 << 30
)

// EmbeddingsOptions bound ReadEmbeddingsWith. The zero value applies the defaults.
type EmbeddingsOptions struct {
	// MaxBytes caps the embeddings file's size, checked before reading; zero means
	// DefaultMaxEmbeddingsBytes, a negative value no cap.
	MaxBytes int64
	// MaxPathsBytes caps the sidecar's size; zero means DefaultMaxPathsBytes, a
	// negative value no cap.
	MaxPathsBytes int64
}

// orDefault is v, or def when v is zero.
func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// ReadEmbeddings reads embeddings saved by `swav-embed embed` — X.npy (an N×D float32
// array and its X.npy.paths.txt sidecar), X.jsonl or X.csv, the format told by the
// extension as embedio.Read does — as a labelled dataset: each file's class is the name
// of the folder holding it (the ImageFolder convention); classes are sorted by name.
//
// An .npy file may be any 2-d little-endian float32 or float64 array in NPY format 1.0, 2.0
// or 3.0, in C or Fortran order (float64 values are rounded to float32); the sidecar
// must hold exactly N non-empty lines, and every value must be finite. Both files are
// opened as regular files only (a FIFO, device or directory is refused by name and
// reason, wrapping userfile.ErrNotRegular) and capped in size as EmbeddingsOptions' defaults
// say (userfile.ErrTooLarge). Other errors about the files' contents wrap ErrEmbeddings; all
// name the file.
func ReadEmbeddings(path string) (Dataset, error) {
	return ReadEmbeddingsWith(path, EmbeddingsOptions{})
}

// ReadEmbeddingsWith is ReadEmbeddings with the size caps of opts.
func ReadEmbeddingsWith(path string, opts EmbeddingsOptions) (Dataset, error) {
	e, err := embedio.Read(path, embedio.ReadOptions{
		MaxBytes:      orDefault(opts.MaxBytes, DefaultMaxEmbeddingsBytes),
		MaxPathsBytes: orDefault(opts.MaxPathsBytes, DefaultMaxPathsBytes),
	})
	if err != nil {
		return Dataset{}, fmt.Errorf("embeddings: %w", err)
	}
	return labelledByFolder(e), nil
}

// labelledByFolder makes a dataset of the embeddings, labelled by each path's folder.
func labelledByFolder(e *embedio.Embeddings) Dataset {
	d := Dataset{Features: e.Data, N: e.Len(), D: e.Dim, Labels: make([]int, e.Len())}
	index := map[string]int{}
	for _, p := range e.Paths {
		index[classOf(p)] = 0
	}
	for c := range index {
		d.Classes = append(d.Classes, c)
	}
	sort.Strings(d.Classes)
	for i, c := range d.Classes {
		index[c] = i
	}
	for i, p := range e.Paths {
		d.Labels[i] = index[classOf(p)]
	}
	return d
}

// classOf is a path's class: the name of the folder holding it.
func classOf(path string) string { return filepath.Base(filepath.Dir(path)) }
