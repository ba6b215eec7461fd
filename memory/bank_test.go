package memory

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestBankInit: entries are unit vectors, the same for the same seed; Z starts unset.
func TestBankInit(t *testing.T) {
	b, err := NewBank(context.New(), 6, 3, DefaultBankMomentum, dtypes.Float64, 3)
	if err != nil {
		t.Fatal(err)
	}
	entries := variableMatrix(t, b.EntriesVariable())
	for i, row := range entries {
		n := math.Sqrt(row[0]*row[0] + row[1]*row[1] + row[2]*row[2])
		if math.Abs(n-1) > 1e-12 {
			t.Errorf("entry %d has norm %g", i, n)
		}
	}
	again, _ := NewBank(context.New(), 6, 3, DefaultBankMomentum, dtypes.Float64, 3)
	assertRows(t, "same seed", variableMatrix(t, again.EntriesVariable()), entries, 0)
	z, _ := b.PartitionVariable().Value()
	if z.Value().(float64) != 0 {
		t.Errorf("initial Z = %v, want 0 (unset)", z.Value())
	}
}

// TestBankUpdate: with μ = 0.5, m_i ← normalise(0.5·m_i + 0.5·f_i/‖f_i‖) for the
// batch's indices; the other rows are untouched, bit for bit; an index twice in the
// batch is updated once, from its old value, with the last of its embeddings. Rows
// read the entries as they were before the update in the same graph.
func TestBankUpdate(t *testing.T) {
	ctx := context.New()
	b, err := NewBank(ctx.In("bank"), 5, 2, 0.5, dtypes.Float64, 11)
	if err != nil {
		t.Fatal(err)
	}
	// Known entries: row i = unit(i+1, 1).
	known := matrix{}
	for i := range 5 {
		known = append(known, unit([]float64{float64(i + 1), 1}))
	}
	if err := b.EntriesVariable().SetValue(tensors.FromValue(known)); err != nil {
		t.Fatal(err)
	}
	exec, err := context.NewExec(newBackend(t), ctx, func(ctx *context.Context, indices, embeddings *graph.Node) *graph.Node {
		rows := b.Rows(indices)
		b.Update(indices, embeddings)
		return rows
	})
	if err != nil {
		t.Fatal(err)
	}
	indices := []int32{3, 1, 3}
	embeddings := matrix{{0, 2}, {-3, 0}, {4, 4}} // index 3 twice: (4, 4) is the last
	out, err := exec.Exec(tensors.FromValue(indices), tensors.FromValue(embeddings))
	if err != nil {
		t.Fatal(err)
	}
	assertRows(t, "rows before the update", out[0].Value().([][]float64), matrix{known[3], known[1], known[3]}, 0)
	want := copyMatrix(known)
	mix := func(m, f []float64) []float64 {
		u := unit(f)
		return unit([]float64{0.5*m[0] + 0.5*u[0], 0.5*m[1] + 0.5*u[1]})
	}
	want[1] = mix(known[1], embeddings[1])
	want[3] = mix(known[3], embeddings[2])
	got := variableMatrix(t, b.EntriesVariable())
	assertRows(t, "entries", got, want, 1e-12)
	for _, i := range []int{0, 2, 4} {
		if !slices.Equal(got[i], known[i]) {
			t.Errorf("untouched entry %d changed: %v, was %v", i, got[i], known[i])
		}
	}
}

// TestBankNegativesAreSeededAndResume: the sampler draws indices in [0, N), about
// uniformly; the same seed draws the same sequence; and a run interrupted after one
// step, its variables copied to a new context (a checkpoint) and resumed, draws
// what the uninterrupted run draws.
func TestBankNegativesAreSeededAndResume(t *testing.T) {
	const n, count = 4, 1000
	draw := func(ctx *context.Context, b *Bank, steps int) [][]int32 {
		exec, err := context.NewExec(newBackend(t), ctx, func(ctx *context.Context, g *graph.Graph) []*graph.Node {
			neg, idx := b.Negatives(g, count)
			return []*graph.Node{neg, idx}
		})
		if err != nil {
			t.Fatal(err)
		}
		var out [][]int32
		entries := variableMatrix(t, b.EntriesVariable())
		for range steps {
			res, err := exec.Exec()
			if err != nil {
				t.Fatal(err)
			}
			idx := res[1].Value().([]int32)
			neg := res[0].Value().([][]float64)
			for k, i := range idx {
				if i < 0 || i >= n {
					t.Fatalf("index %d out of [0, %d)", i, n)
				}
				if !slices.Equal(neg[k], entries[i]) {
					t.Fatalf("negative %d is %v, entry %d is %v", k, neg[k], i, entries[i])
				}
			}
			out = append(out, idx)
		}
		return out
	}
	newBank := func() (*context.Context, *Bank) {
		ctx := context.New()
		b, err := NewBank(ctx.In("bank"), n, 2, 0.5, dtypes.Float64, 5)
		if err != nil {
			t.Fatal(err)
		}
		return ctx, b
	}
	ctx, b := newBank()
	full := draw(ctx, b, 3)
	if slices.Equal(full[0], full[1]) {
		t.Error("two steps drew the same negatives")
	}
	counts := make([]int, n)
	for _, step := range full {
		for _, i := range step {
			counts[i]++
		}
	}
	for i, c := range counts { // 3000 draws: 750 expected, σ ≈ 24
		if c < 650 || c > 850 {
			t.Errorf("index %d drawn %d times of %d, want about %d", i, c, 3*count, 3*count/n)
		}
	}

	ctx2, b2 := newBank()
	first := draw(ctx2, b2, 1)
	resumed := cloneContext(t, ctx2)
	b3, err := NewBank(resumed.In("bank"), n, 2, 0.5, dtypes.Float64, 999) // the seed of a loaded bank no longer matters
	if err != nil {
		t.Fatal(err)
	}
	rest := draw(resumed, b3, 2)
	for s, got := range append(first, rest...) {
		if !slices.Equal(got, full[s]) {
			t.Errorf("step %d: resumed run drew %v…, uninterrupted %v…", s, got[:5], full[s][:5])
		}
	}
}

// TestBankKeepPartition: Z takes the first step's estimate and keeps it.
func TestBankKeepPartition(t *testing.T) {
	ctx := context.New()
	b, err := NewBank(ctx.In("bank"), 3, 2, 0.5, dtypes.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := context.NewExec(newBackend(t), ctx, func(ctx *context.Context, estimate *graph.Node) *graph.Node {
		z := b.Partition(estimate.Graph())
		b.KeepPartition(estimate)
		return z
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct{ estimate, before, after float32 }{{5, 0, 5}, {7, 5, 5}, {9, 5, 5}} {
		out, err := exec.Exec(tc.estimate)
		if err != nil {
			t.Fatal(err)
		}
		z, _ := b.PartitionVariable().Value()
		if out[0].Value().(float32) != tc.before || z.Value().(float32) != tc.after {
			t.Errorf("step %d: Z read %v, then %v; want %v, then %v", i, out[0].Value(), z.Value(), tc.before, tc.after)
		}
	}
}

// TestBankRejects: bad arguments are refused with the reason.
func TestBankRejects(t *testing.T) {
	for _, tc := range []struct {
		size, dim int
		momentum  float64
		dtype     dtypes.DType
		want      string
	}{
		{0, 2, 0.5, dtypes.Float32, "size N"},
		{3, 0, 0.5, dtypes.Float32, "dim D"},
		{3, 2, 1, dtypes.Float32, "momentum"},
		{3, 2, -0.1, dtypes.Float32, "momentum"},
		{3, 2, 0.5, dtypes.Float16, "dtype"},
	} {
		if _, err := NewBank(context.New(), tc.size, tc.dim, tc.momentum, tc.dtype, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewBank(%d, %d, %g, %s): %v, want %q", tc.size, tc.dim, tc.momentum, tc.dtype, err, tc.want)
		}
	}
}
