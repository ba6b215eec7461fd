package memory

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

type matrix = [][]float64

// newBackend returns the pure-Go backend, scheduled sequentially.
func newBackend(t *testing.T) backends.Backend {
	t.Helper()
	b, err := backends.NewWithConfig("go:ops_sequential")
	if err != nil {
		t.Fatalf("creating simplego backend: %v", err)
	}
	t.Cleanup(b.Finalize)
	return b
}

// variableMatrix reads a float64 rank-2 variable.
func variableMatrix(t *testing.T, v *context.Variable) matrix {
	t.Helper()
	value, err := v.Value()
	if err != nil {
		t.Fatalf("reading %s: %v", v.ScopeAndName(), err)
	}
	m, ok := value.Value().([][]float64)
	if !ok {
		t.Fatalf("%s holds %s, want a float64 matrix", v.ScopeAndName(), value.Shape())
	}
	return m
}

// unit returns v / ‖v‖.
func unit(v []float64) []float64 {
	n := 0.0
	for _, x := range v {
		n += x * x
	}
	n = math.Sqrt(n)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / n
	}
	return out
}

// assertRows fails unless got and want agree within tolerance.
func assertRows(t *testing.T, name string, got, want matrix, tolerance float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", name, len(got), len(want))
	}
	for i := range want {
		for j := range want[i] {
			if d := math.Abs(got[i][j] - want[i][j]); !(d <= tolerance) {
				t.Errorf("%s[%d][%d] = %.12g, want %.12g", name, i, j, got[i][j], want[i][j])
			}
		}
	}
}

// copyMatrix returns a deep copy.
func copyMatrix(m matrix) matrix {
	out := make(matrix, len(m))
	for i := range m {
		out[i] = append([]float64(nil), m[i]...)
	}
	return out
}

// cloneContext copies every variable's value into a fresh context, as a checkpoint
// save and load would.
func cloneContext(t *testing.T, ctx *context.Context) *context.Context {
	t.Helper()
	out := context.New()
	for v := range ctx.IterVariables() {
		value, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		clone, err := value.LocalClone()
		if err != nil {
			t.Fatal(err)
		}
		out.InAbsPath(v.Scope()).Checked(false).VariableWithValue(v.Name(), clone)
	}
	return out
}

// shapesOf is shapes.Make.
func shapesOf(dtype dtypes.DType, dims ...int) shapes.Shape { return shapes.Make(dtype, dims...) }
