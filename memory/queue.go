package memory

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/internal/panics"
)

const (
	// QueueKeysName is the name of the queue's K×D keys variable in the scope given
	// to [NewQueue].
	QueueKeysName = "keys"

	// QueuePointerName is the name of the queue's write pointer, an int64 scalar in
	// [0, K): the row the next push writes first.
	QueuePointerName = "pointer"
)

// Queue is MoCo's dictionary of negatives: the K most recent keys (D-dimensional),
// stored as a ring. A push of B keys writes rows pointer, pointer+1, … (mod K) and
// advances the pointer by B, so the oldest keys are the ones replaced, as the
// reference's _dequeue_and_enqueue (which needs K to be a multiple of B; here any
// B ≤ K works, the write wrapping around the end).
//
// The queue starts full of random unit vectors, as the reference's
// normalize(randn(D, K)), drawn on the host from a seeded generator so that a run is
// reproducible; they are flushed out after K/B steps.
//
// Within a training step, read [Queue.Keys] (the negatives of this step) before
// [Queue.Push] of this step's keys.
type Queue struct {
	length, dim int
	dtype       dtypes.DType
	keys        *context.Variable
	pointer     *context.Variable
}

// NewQueue creates (or reuses, e.g. after loading a checkpoint) the queue variables
// in the current scope of ctx: K = length rows of dimension dim, in dtype, filled
// with random unit vectors from seed, pointer 0. Use a dedicated scope, e.g.
// ctx.In("moco_queue").
func NewQueue(ctx *context.Context, length, dim int, dtype dtypes.DType, seed uint64) (*Queue, error) {
	if length <= 0 || dim <= 0 {
		return nil, fmt.Errorf("memory.NewQueue: length K (%d) and dim D (%d) must be > 0", length, dim)
	}
	if err := checkDType(dtype); err != nil {
		return nil, fmt.Errorf("memory.NewQueue: %w", err)
	}
	q := &Queue{length: length, dim: dim, dtype: dtype}
	err := panics.Catch(func() {
		ctx = ctx.Checked(false)
		init := randomUnitRows(rand.New(rand.NewPCG(seed, 0x6d6f636f)), length, dim, normalRow)
		q.keys = ctx.VariableWithValue(QueueKeysName, toDType(init, length, dim, dtype)).SetTrainable(false)
		q.pointer = ctx.VariableWithValue(QueuePointerName, int64(0)).SetTrainable(false)
	})
	if err != nil {
		return nil, fmt.Errorf("memory.NewQueue: creating variables in scope %q: %w", ctx.Scope(), err)
	}
	if err := checkReused("memory.NewQueue", "queue", q.keys, shapes.Make(dtype, length, dim)); err != nil {
		return nil, err
	}
	return q, nil
}

// Length returns K.
func (q *Queue) Length() int { return q.length }

// KeysVariable returns the K×D variable of the keys.
func (q *Queue) KeysVariable() *context.Variable { return q.keys }

// PointerVariable returns the int64 scalar variable of the write pointer.
func (q *Queue) PointerVariable() *context.Variable { return q.pointer }

// Pointer reads the write pointer on the host.
func (q *Queue) Pointer() (int, error) {
	t, err := q.pointer.Value()
	if err != nil {
		return 0, fmt.Errorf("memory.Queue.Pointer: reading %s: %w", q.pointer.ScopeAndName(), err)
	}
	v, ok := t.Value().(int64)
	if !ok {
		return 0, fmt.Errorf("memory.Queue.Pointer: %s holds %s, want an int64 scalar", q.pointer.ScopeAndName(), t.Shape())
	}
	return int(v), nil
}

// Keys returns the K×D keys as they are in this graph (before this step's push when
// called first), with no gradient.
func (q *Queue) Keys(g *graph.Graph) *graph.Node {
	return graph.StopGradient(q.keys.ValueGraph(g))
}

// Push enqueues the B×D keys (detached, converted to the queue's dtype), B ≤ K:
// key b goes to row (pointer + b) mod K, and the pointer becomes (pointer + B) mod K.
func (q *Queue) Push(keys *graph.Node) {
	if keys.Rank() != 2 || keys.Shape().Dim(1) != q.dim || !keys.DType().IsFloat() {
		panic(fmt.Errorf("memory.Queue.Push: keys must be a B×D float matrix with D=%d, got shape %s", q.dim, keys.Shape()))
	}
	batch := keys.Shape().Dim(0)
	if batch < 1 || batch > q.length {
		panic(fmt.Errorf("memory.Queue.Push: batch size B=%d must be in [1, K=%d]", batch, q.length))
	}
	g := keys.Graph()
	keys = graph.StopGradient(graph.ConvertDType(keys, q.dtype))
	current := q.keys.ValueGraph(g)
	pointer := q.pointer.ValueGraph(g)
	// Row r receives key (r − pointer) mod K when that is < B.
	rows := graph.Iota(g, shapes.Make(dtypes.Int64, q.length), 0)
	offset := graph.Rem(graph.AddScalar(graph.Sub(rows, pointer), q.length), graph.Scalar(g, dtypes.Int64, q.length))
	written := graph.LessThan(offset, graph.Scalar(g, dtypes.Int64, batch))
	source := graph.MinScalar(offset, batch-1)
	gathered := graph.Gather(keys, graph.InsertAxes(source, -1)) // K×D
	mask := graph.BroadcastToDims(graph.InsertAxes(written, -1), q.length, q.dim)
	q.keys.SetValueGraph(graph.Where(mask, gathered, current))
	next := graph.Rem(graph.AddScalar(pointer, batch), graph.Scalar(g, dtypes.Int64, q.length))
	q.pointer.SetValueGraph(next)
}

// rowSampler fills one row with random values.
type rowSampler func(rng *rand.Rand, row []float64)

// normalRow draws standard normal values (MoCo's randn).
func normalRow(rng *rand.Rand, row []float64) {
	for i := range row {
		row[i] = rng.NormFloat64()
	}
}

// randomUnitRows returns rows×dim values (row-major) drawn by sample, each row
// L2-normalised (a zero row, which has probability 0, becomes e₀).
func randomUnitRows(rng *rand.Rand, rows, dim int, sample rowSampler) []float64 {
	out := make([]float64, rows*dim)
	for r := range rows {
		row := out[r*dim : (r+1)*dim]
		sample(rng, row)
		norm := 0.0
		for _, v := range row {
			norm += v * v
		}
		if norm == 0 {
			row[0], norm = 1, 1
		}
		norm = math.Sqrt(norm)
		for i := range row {
			row[i] /= norm
		}
	}
	return out
}

// checkReused reports a variable that an earlier run (or a checkpoint) left in the
// scope with another shape than want: a state of another size or dtype (kind: "queue",
// "bank"); fn is the constructor, for the message.
func checkReused(fn, kind string, v *context.Variable, want shapes.Shape) error {
	if v.Shape().Equal(want) {
		return nil
	}
	return fmt.Errorf("%s: %s holds %s, want %s (a %s of another size or dtype in this scope?)",
		fn, v.ScopeAndName(), v.Shape(), want, kind)
}

// checkDType accepts the dtypes state tensors are kept in.
func checkDType(dtype dtypes.DType) error {
	if dtype != dtypes.Float32 && dtype != dtypes.Float64 {
		return fmt.Errorf("dtype must be float32 or float64, got %s", dtype)
	}
	return nil
}

// toDType returns the rows×dim tensor of values in dtype (float32 or float64).
func toDType(values []float64, rows, dim int, dtype dtypes.DType) *tensors.Tensor {
	switch dtype {
	case dtypes.Float64:
		return tensors.FromFlatDataAndDimensions(values, rows, dim)
	case dtypes.Float32:
		f := make([]float32, len(values))
		for i, v := range values {
			f[i] = float32(v)
		}
		return tensors.FromFlatDataAndDimensions(f, rows, dim)
	}
	panic(fmt.Errorf("memory: dtype %s is not supported for state tensors (use float32 or float64)", dtype))
}
