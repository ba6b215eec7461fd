package swavloss

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/internal/panics"
)

const (
	// QueueEmbeddingsName is the name of the queue's embeddings variable, shaped
	// [number of assignment crops, L, D], in the scope given to [NewQueue].
	QueueEmbeddingsName = "embeddings"

	// QueueFilledName is the name of the queue's fill counter, an int64 scalar
	// variable in the scope given to [NewQueue]: how many rows of each crop's queue
	// hold real embeddings (0 to L).
	QueueFilledName = "filled"
)

// Queue is the reference's feature queue: for each assignment crop, a FIFO of the
// L most recent embeddings (D-dimensional) of that crop. Its scores with the
// current prototypes are prepended to the batch scores before Sinkhorn, which makes
// the equipartition constraint hold over L+B samples instead of B (useful for small
// batches).
//
// State lives in two non-trainable context variables (so it is checkpointed with
// the model): [QueueEmbeddingsName] and [QueueFilledName].
//
// "Full" is tracked with the explicit counter [QueueFilledName] rather than by
// testing the last row for zeros as the reference does (use_the_queue once
// queue[i, -1] is non-zero). Each push adds B and saturates at L; the queue is used
// once the counter reaches L. Because every assignment crop is pushed at every step,
// one counter serves all crops, and this is the same step at which the reference's
// last row becomes non-zero (its embeddings are L2-normalised, never zero). The
// reference's use_the_queue flag is also shared by all crops and never turns off,
// as the counter never decreases.
//
// Within a training-step graph, call [Queue.Scores] first (it reads the queue
// before this step's push, with the current prototypes, before the optimiser
// updates them) and [Queue.Push] after it.
//
// The reference only creates its queue from epoch epoch_queue_starts on: either
// build the step graph without the queue until then, or pass Push a boolean
// "active" node that is false until then (the queue then stays empty and unused).
type Queue struct {
	numCrops, length, dim int
	dtype                 dtypes.DType
	embeddings            *context.Variable
	filled                *context.Variable
}

// NewQueue creates (or reuses, e.g. after loading a checkpoint) the queue variables
// in the current scope of ctx, for numCrops assignment crops, length L and embedding
// dimension D, zero-initialised with 0 rows filled. Use a dedicated scope, e.g.
// ctx.In("swav_queue").
//
// The reference trims L down to a multiple of the batch size (see
// [TrimQueueLength]); Push requires B ≤ L.
func NewQueue(ctx *context.Context, numCrops, length, dim int, dtype dtypes.DType) (q *Queue, err error) {
	if numCrops <= 0 || length <= 0 || dim <= 0 {
		return nil, fmt.Errorf("swavloss.NewQueue: numCrops (%d), length L (%d) and dim D (%d) must be > 0",
			numCrops, length, dim)
	}
	if !dtype.IsFloat() {
		return nil, fmt.Errorf("swavloss.NewQueue: dtype must be a float type, got %s", dtype)
	}
	q = &Queue{numCrops: numCrops, length: length, dim: dim, dtype: dtype}
	err = panics.Catch(func() {
		ctx = ctx.Checked(false)
		zeros := tensors.FromShape(shapes.Make(dtype, numCrops, length, dim))
		q.embeddings = ctx.VariableWithValue(QueueEmbeddingsName, zeros).SetTrainable(false)
		q.filled = ctx.VariableWithValue(QueueFilledName, int64(0)).SetTrainable(false)
	})
	if err != nil {
		return nil, fmt.Errorf("swavloss.NewQueue: creating variables in scope %q: %w", ctx.Scope(), err)
	}
	return q, nil
}

// TrimQueueLength returns length rounded down to a multiple of batchSize, as the
// reference does (queue_length -= queue_length % batch_size, world size 1).
func TrimQueueLength(length, batchSize int) int {
	if batchSize <= 0 {
		return length
	}
	return length - length%batchSize
}

// Length returns L, the number of embeddings kept per assignment crop.
func (q *Queue) Length() int { return q.length }

// EmbeddingsVariable returns the [number of crops, L, D] variable holding the
// queued embeddings, newest first.
func (q *Queue) EmbeddingsVariable() *context.Variable { return q.embeddings }

// FilledVariable returns the int64 scalar variable counting the filled rows.
func (q *Queue) FilledVariable() *context.Variable { return q.filled }

// Filled reads the fill counter (0 to L) on the host.
func (q *Queue) Filled() (int, error) {
	t, err := q.filled.Value()
	if err != nil {
		return 0, fmt.Errorf("swavloss.Queue.Filled: reading %s: %w", q.filled.ScopeAndName(), err)
	}
	v, ok := t.Value().(int64)
	if !ok {
		return 0, fmt.Errorf("swavloss.Queue.Filled: %s holds %s, want an int64 scalar",
			q.filled.ScopeAndName(), t.Shape())
	}
	return int(v), nil
}

// Reset empties the queue (zero embeddings, counter 0), on the host.
func (q *Queue) Reset() error {
	if err := q.embeddings.SetValue(tensors.FromShape(q.embeddings.Shape())); err != nil {
		return fmt.Errorf("swavloss.Queue.Reset: %s: %w", q.embeddings.ScopeAndName(), err)
	}
	if err := q.filled.SetValue(tensors.FromScalar(int64(0))); err != nil {
		return fmt.Errorf("swavloss.Queue.Reset: %s: %w", q.filled.ScopeAndName(), err)
	}
	return nil
}

// Scores builds, for each assignment crop, the L×K scores of its queued embeddings
// with the given K×D prototypes C (queue · Cᵀ), with no gradient, and Use = (the
// queue is full). Pass the result to [Loss]. Call it before [Queue.Push] in the
// same graph, so that it sees the queue as it was before this step.
func (q *Queue) Scores(g *graph.Graph, prototypes *graph.Node) *QueueScores {
	if prototypes.Rank() != 2 || prototypes.Shape().Dim(1) != q.dim {
		panic(fmt.Errorf("swavloss.Queue.Scores: prototypes must be K×D with D=%d, got shape %s",
			q.dim, prototypes.Shape()))
	}
	c := graph.StopGradient(prototypes)
	all := graph.ConvertDType(q.embeddings.ValueGraph(g), c.DType())
	out := &QueueScores{Scores: make([]*graph.Node, q.numCrops)}
	for i := range q.numCrops {
		rows := graph.Reshape(graph.Slice(all, graph.AxisElem(i)), q.length, q.dim)
		// L×K = rows·Cᵀ, contracting D (a DotGeneral, which backends run as a GEMM).
		out.Scores[i] = graph.DotGeneral(rows, []int{1}, nil, c, []int{1}, nil)
	}
	filled := q.filled.ValueGraph(g)
	out.Use = graph.GreaterOrEqual(filled, graph.Scalar(g, filled.DType(), q.length))
	return out
}

// Push enqueues this step's embeddings: embeddings[i] is the B×D embeddings of the
// i-th assignment crop (in Config.Assign order). Each crop's queue shifts by B
// (the oldest B rows drop out) and the new rows, detached, enter at the front,
// as the reference does:
//
//	queue[i, B:] = queue[i, :-B]; queue[i, :B] = embeddings of crop i
//
// The fill counter grows by B, saturating at L. active is an optional boolean
// scalar: when false nothing changes (nil means always push).
func (q *Queue) Push(embeddings []*graph.Node, active *graph.Node) {
	if len(embeddings) != q.numCrops {
		panic(fmt.Errorf("swavloss.Queue.Push: got %d embeddings for a queue of %d crops", len(embeddings), q.numCrops))
	}
	g := embeddings[0].Graph()
	batchSize := embeddings[0].Shape().Dim(0)
	current := q.embeddings.ValueGraph(g)
	shifted := make([]*graph.Node, q.numCrops)
	for i, emb := range embeddings {
		if emb.Rank() != 2 || emb.Shape().Dim(0) != batchSize || emb.Shape().Dim(1) != q.dim {
			panic(fmt.Errorf("swavloss.Queue.Push: embeddings[%d] must be B×D with B=%d, D=%d, got shape %s",
				i, batchSize, q.dim, emb.Shape()))
		}
		rows := graph.Reshape(graph.Slice(current, graph.AxisElem(i)), q.length, q.dim)
		shifted[i] = ShiftQueue(rows, graph.ConvertDType(emb, q.dtype))
	}
	next := graph.Stack(shifted, 0)
	filled := q.filled.ValueGraph(g)
	nextFilled := graph.MinScalar(graph.AddScalar(filled, batchSize), q.length)
	if active != nil {
		if !active.IsScalar() || active.DType() != dtypes.Bool {
			panic(fmt.Errorf("swavloss.Queue.Push: active must be a boolean scalar, got shape %s", active.Shape()))
		}
		next = graph.Where(active, next, current)
		nextFilled = graph.Where(active, nextFilled, filled)
	}
	q.embeddings.SetValueGraph(next)
	q.filled.SetValueGraph(nextFilled)
}

// ShiftQueue returns the L×D queue after enqueueing the B×D batch at the front:
// the batch (detached) followed by the first L−B rows of queue. It panics if the
// shapes differ in D, or B > L.
func ShiftQueue(queue, batch *graph.Node) *graph.Node {
	if queue.Rank() != 2 || batch.Rank() != 2 || queue.Shape().Dim(1) != batch.Shape().Dim(1) {
		panic(fmt.Errorf("swavloss.ShiftQueue: queue (%s) and batch (%s) must be L×D and B×D",
			queue.Shape(), batch.Shape()))
	}
	length, batchSize := queue.Shape().Dim(0), batch.Shape().Dim(0)
	if batchSize > length {
		panic(fmt.Errorf("swavloss.ShiftQueue: batch size B=%d exceeds queue length L=%d", batchSize, length))
	}
	batch = graph.StopGradient(graph.ConvertDType(batch, queue.DType()))
	if batchSize == length {
		return batch
	}
	kept := graph.Slice(queue, graph.AxisRange(0, length-batchSize))
	return graph.Concatenate([]*graph.Node{batch, kept}, 0)
}
