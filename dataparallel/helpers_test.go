package dataparallel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// newBackend returns GoMLX's pure-Go backend with sequential op scheduling (as the other
// packages' tests use it).
func newBackend(t *testing.T) backends.Backend {
	t.Helper()
	b, err := backends.NewWithConfig("go:ops_sequential")
	if err != nil {
		t.Fatalf("creating the simplego backend: %v", err)
	}
	t.Cleanup(b.Finalize)
	return b
}

// randomMatrix returns rows×cols values uniform in [lo, hi).
func randomMatrix(rng *rand.Rand, rows, cols int, lo, hi float64) [][]float64 {
	m := make([][]float64, rows)
	for i := range m {
		m[i] = make([]float64, cols)
		for j := range m[i] {
			m[i][j] = lo + (hi-lo)*rng.Float64()
		}
	}
	return m
}

// toTensor converts a matrix to a tensor of dtype (Float32 or Float64).
func toTensor(t *testing.T, m [][]float64, dtype dtypes.DType) *tensors.Tensor {
	t.Helper()
	switch dtype {
	case dtypes.Float64:
		return tensors.FromValue(m)
	case dtypes.Float32:
		f := make([][]float32, len(m))
		for i, row := range m {
			f[i] = make([]float32, len(row))
			for j, v := range row {
				f[i][j] = float32(v)
			}
		}
		return tensors.FromValue(f)
	}
	t.Fatalf("unsupported dtype %s", dtype)
	return nil
}

// toMatrix reads a rank-2 float tensor as float64.
func toMatrix(t *testing.T, x *tensors.Tensor) [][]float64 {
	t.Helper()
	switch v := x.Value().(type) {
	case [][]float64:
		return v
	case [][]float32:
		m := make([][]float64, len(v))
		for i, row := range v {
			m[i] = make([]float64, len(row))
			for j, e := range row {
				m[i][j] = float64(e)
			}
		}
		return m
	}
	t.Fatalf("tensor %s is not a float matrix", x.Shape())
	return nil
}

// maxAbsDiff returns max |a−b| over two equally shaped matrices, failing on a shape
// mismatch.
func maxAbsDiff(t *testing.T, name string, a, b [][]float64) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d rows vs %d", name, len(a), len(b))
	}
	d := 0.0
	for i := range a {
		if len(a[i]) != len(b[i]) {
			t.Fatalf("%s: row %d has %d columns vs %d", name, i, len(a[i]), len(b[i]))
		}
		for j := range a[i] {
			if math.IsNaN(a[i][j]) || math.IsNaN(b[i][j]) {
				t.Fatalf("%s: NaN at [%d][%d]", name, i, j)
			}
			d = math.Max(d, math.Abs(a[i][j]-b[i][j]))
		}
	}
	return d
}
