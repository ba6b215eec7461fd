package neighbors

import (
	"fmt"
	"math"

	"github.com/swav-go/swav/embedio"
)

// MaxFileSize caps an embeddings file (and its sidecar) read by Read: 16 GiB, e.g. 8·10⁶
// vectors of 512 float32s.
const MaxFileSize = 16 << 30

// Set is a collection of embeddings: one L2-normalised vector per path, row-major.
// Its methods do not modify it, so it is safe for concurrent use.
type Set struct {
	// Paths names the image of each row.
	Paths []string
	// Dim is the length of every vector.
	Dim int
	// Vectors holds Len()·Dim values, row i at [i·Dim, (i+1)·Dim), each row of unit norm.
	Vectors []float32
}

// NewSet builds a Set from paths and their vectors, L2-normalising copies of them. Every
// vector must have the same non-zero length, finite values and a non-zero norm.
func NewSet(paths []string, vecs [][]float32) (*Set, error) {
	if len(paths) != len(vecs) {
		return nil, fmt.Errorf("neighbors: %d paths for %d vectors", len(paths), len(vecs))
	}
	s := &Set{Paths: append([]string(nil), paths...)}
	for i, v := range vecs {
		if i == 0 {
			s.Dim = len(v)
			s.Vectors = make([]float32, 0, len(vecs)*len(v))
		}
		if len(v) != s.Dim || len(v) == 0 {
			return nil, fmt.Errorf("neighbors: vector %d (%s) has %d values, want %d", i, paths[i], len(v), s.Dim)
		}
		s.Vectors = append(s.Vectors, v...)
	}
	if err := s.normalize("vectors"); err != nil {
		return nil, err
	}
	return s, nil
}

// Len is the number of vectors.
func (s *Set) Len() int { return len(s.Paths) }

// Row returns vector i (a view into Vectors; do not modify it).
func (s *Set) Row(i int) []float32 { return s.Vectors[i*s.Dim : (i+1)*s.Dim : (i+1)*s.Dim] }

// Find returns the row of path, or -1 when the set does not hold it. When a path occurs
// more than once, the first row is returned.
func (s *Set) Find(path string) int {
	for i, p := range s.Paths {
		if p == path {
			return i
		}
	}
	return -1
}

// normalize L2-normalises every row in place; name is used in errors.
func (s *Set) normalize(name string) error {
	for i := range s.Len() {
		row := s.Row(i)
		var ss float64
		for j, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("neighbors: %s: row %d (%s) value %d is %v", name, i, s.Paths[i], j, v)
			}
			ss += float64(v) * float64(v)
		}
		if ss == 0 {
			return fmt.Errorf("neighbors: %s: row %d (%s) is a zero vector, which has no direction to compare", name, i, s.Paths[i])
		}
		inv := 1 / math.Sqrt(ss)
		for j, v := range row {
			row[j] = float32(float64(v) * inv)
		}
	}
	return nil
}

// Read loads an embeddings file written by `swav-embed embed` in any of its formats,
// chosen by the extension: .npy (float32 or float64 N×D in C or Fortran order, with the
// X.npy.paths.txt sidecar embedio writes), .jsonl ({"path","embedding"} per line) or .csv
// (a "path,v0,…" header and one row per image), read by embedio.Read with MaxFileSize
// as the cap of the file and of its sidecar. Vectors are L2-normalised on reading, so
// files written with --raw work too; a zero or non-finite vector is an error naming its
// row and path.
func Read(path string) (*Set, error) {
	e, err := embedio.Read(path, embedio.ReadOptions{MaxBytes: MaxFileSize, MaxPathsBytes: MaxFileSize})
	if err != nil {
		return nil, fmt.Errorf("neighbors: %w", err)
	}
	s := &Set{Paths: e.Paths, Dim: e.Dim, Vectors: e.Data}
	if err := s.normalize(path); err != nil {
		return nil, err
	}
	return s, nil
}
