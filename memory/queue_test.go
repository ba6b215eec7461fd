package memory

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/internal/panics"
)

// TestQueuePushWrapsAround: K = 5, pushes of B = 2. Rows 0-1 then 2-3 are replaced,
// then the third push writes row 4 and wraps to row 0; the pointer goes 0 → 2 → 4 → 1.
// Each step also returns the keys as read before its push.
func TestQueuePushWrapsAround(t *testing.T) {
	ctx := context.New()
	q, err := NewQueue(ctx.In("queue"), 5, 2, dtypes.Float64, 7)
	if err != nil {
		t.Fatal(err)
	}
	initial := copyMatrix(variableMatrix(t, q.KeysVariable()))
	for i, row := range initial {
		if n := math.Hypot(row[0], row[1]); math.Abs(n-1) > 1e-12 {
			t.Errorf("initial row %d has norm %g, want 1", i, n)
		}
	}
	exec, err := context.NewExec(newBackend(t), ctx, func(ctx *context.Context, keys *graph.Node) *graph.Node {
		before := q.Keys(keys.Graph())
		q.Push(keys)
		return before
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := matrix{{1, 1}, {2, 2}}, matrix{{3, 3}, {4, 4}}, matrix{{5, 5}, {6, 6}}
	want := copyMatrix(initial)
	steps := []struct {
		keys    matrix
		rows    []int
		pointer int
	}{{a, []int{0, 1}, 2}, {b, []int{2, 3}, 4}, {c, []int{4, 0}, 1}}
	for s, step := range steps {
		out, err := exec.Exec(tensors.FromValue(step.keys))
		if err != nil {
			t.Fatal(err)
		}
		assertRows(t, "keys before the push", out[0].Value().([][]float64), want, 0)
		for i, r := range step.rows {
			want[r] = step.keys[i]
		}
		assertRows(t, "keys after the push", variableMatrix(t, q.KeysVariable()), want, 0)
		if p, err := q.Pointer(); err != nil || p != step.pointer {
			t.Errorf("step %d: pointer %d (%v), want %d", s, p, err, step.pointer)
		}
	}
	// Rows 1, 2, 3 are b's and a's survivors, row 0 and 4 c's: the oldest went first.
	assertRows(t, "final", variableMatrix(t, q.KeysVariable()), matrix{{6, 6}, {2, 2}, {3, 3}, {4, 4}, {5, 5}}, 0)
}

// TestQueueFullBatch: B = K replaces every row and leaves the pointer where it was.
func TestQueueFullBatch(t *testing.T) {
	ctx := context.New()
	q, err := NewQueue(ctx.In("queue"), 3, 1, dtypes.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := context.NewExec(newBackend(t), ctx, func(ctx *context.Context, keys *graph.Node) { q.Push(keys) })
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := exec.Exec(tensors.FromValue([][]float32{{1}, {2}, {3}})); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := q.KeysVariable().Value()
	if v := got.Value().([][]float32); v[0][0] != 1 || v[1][0] != 2 || v[2][0] != 3 {
		t.Errorf("keys %v, want [[1] [2] [3]]", v)
	}
	if p, _ := q.Pointer(); p != 0 {
		t.Errorf("pointer %d, want 0", p)
	}
}

// TestQueueInitIsSeeded: the same seed gives the same initial keys, another seed others.
func TestQueueInitIsSeeded(t *testing.T) {
	rows := func(seed uint64) matrix {
		q, err := NewQueue(context.New(), 4, 3, dtypes.Float64, seed)
		if err != nil {
			t.Fatal(err)
		}
		return variableMatrix(t, q.KeysVariable())
	}
	a, b, c := rows(1), rows(1), rows(2)
	assertRows(t, "same seed", a, b, 0)
	if a[0][0] == c[0][0] {
		t.Errorf("seeds 1 and 2 give the same first key %v", a[0])
	}
}

// TestQueueRejects: bad sizes, dtypes and pushes are refused with the reason.
func TestQueueRejects(t *testing.T) {
	if _, err := NewQueue(context.New(), 0, 3, dtypes.Float32, 0); err == nil || !strings.Contains(err.Error(), "length K") {
		t.Errorf("K = 0: %v", err)
	}
	if _, err := NewQueue(context.New(), 4, 3, dtypes.Int32, 0); err == nil || !strings.Contains(err.Error(), "dtype") {
		t.Errorf("int32: %v", err)
	}
	ctx := context.New()
	if _, err := NewQueue(ctx, 4, 3, dtypes.Float32, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := NewQueue(ctx, 5, 3, dtypes.Float32, 0); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("reusing a scope with another size: %v", err)
	}
	q, _ := NewQueue(context.New(), 2, 3, dtypes.Float32, 0)
	for _, tc := range []struct {
		dims []int
		want string
	}{{[]int{3, 3}, "B=3"}, {[]int{2, 2}, "D=3"}} {
		err := panics.Catch(func() {
			g := graph.NewGraph(newBackend(t), "push")
			q.Push(graph.Zeros(g, shapesOf(dtypes.Float32, tc.dims...)))
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("push %v: %v, want %q", tc.dims, err, tc.want)
		}
	}
}

// TestCheckReused: a variable of the wanted shape passes; another shape is refused by
// a message naming the constructor, the variable, both shapes and the kind of state.
func TestCheckReused(t *testing.T) {
	ctx := context.New().In("q").Checked(false)
	v := ctx.VariableWithValue("keys", [][]float32{{1, 2}, {3, 4}, {5, 6}})
	if err := checkReused("memory.NewQueue", "queue", v, shapesOf(dtypes.Float32, 3, 2)); err != nil {
		t.Errorf("same shape refused: %v", err)
	}
	err := checkReused("memory.NewBank", "bank", v, shapesOf(dtypes.Float64, 3, 2))
	want := "memory.NewBank: /q/keys holds (Float32)[3 2], want (Float64)[3 2] (a bank of another size or dtype in this scope?)"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}
