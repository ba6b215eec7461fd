package swavloss

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Golden batch layout: batch size 3, four crops, scores rows 3c..3c+2 belong to crop c.
const (
	goldenBatch = 3
	goldenCrops = 4
)

// cropTensors splits the stacked (crops·B)×K golden scores into one B×K tensor per
// crop. The crops are fed as separate inputs: the gradient of graph.Slice needs the
// Pad op, which the simplego backend of GoMLX v0.26.0 does not implement.
func cropTensors(t *testing.T, scores [][]float64, dtype dtypes.DType) []any {
	t.Helper()
	out := make([]any, goldenCrops)
	for c := range out {
		out[c] = matrixTensor(t, rows(scores, c*goldenBatch, (c+1)*goldenBatch), dtype)
	}
	return out
}

// lossOutputs returns loss, d loss/d scores (the crops' gradients stacked back to
// (crops·B)×K) and the two codes.
func lossOutputs(loss *graph.Node, codes, crops []*graph.Node) []*graph.Node {
	grad := graph.Concatenate(graph.Gradient(loss, crops...), 0)
	return []*graph.Node{loss, grad, codes[0], codes[1]}
}

func goldenConfig(gold *golden) Config {
	return Config{Assign: []int{0, 1}, Temperature: gold.Temperature, Epsilon: gold.Epsilon, Iterations: gold.SinkhornIterations}
}

func TestLossGolden(t *testing.T) {
	gold := loadGolden(t)
	want := gold.SwavLoss
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		t.Run(dtype.String(), func(t *testing.T) {
			backend := newBackend(t)
			exec, err := graph.NewExec(backend, func(s0, s1, s2, s3 *graph.Node) []*graph.Node {
				crops := []*graph.Node{s0, s1, s2, s3}
				loss, codes := Loss(crops, goldenConfig(gold), nil)
				return lossOutputs(loss, codes, crops)
			})
			if err != nil {
				t.Fatalf("NewExec: %v", err)
			}
			out, err := exec.Exec(cropTensors(t, want.Scores, dtype)...)
			if err != nil {
				t.Fatalf("Exec: %v", err)
			}
			if out[0].DType() != dtype {
				t.Errorf("loss dtype %s, want %s", out[0].DType(), dtype)
			}
			if got := asScalar(t, out[0]); math.Abs(got-want.Loss) > tol(dtype) {
				t.Errorf("loss = %.10g, want %.10g", got, want.Loss)
			}
			assertClose(t, "dloss/dscores", asMatrix(t, out[1]), want.DLossDScores, tol(dtype))
			assertClose(t, "q_crop0", asMatrix(t, out[2]), want.QCrop0, tol(dtype))
			assertClose(t, "q_crop1", asMatrix(t, out[3]), want.QCrop1, tol(dtype))
		})
	}
}

// queueStep builds the training-step fragment the way a training loop would: queue
// scores with the current prototypes, the loss, then the push of the assignment
// crops' embeddings. Inputs: the four crops' scores, z ((crops·B)×D) and C (K×D).
// It returns loss, d loss/d scores and the two codes.
func queueStep(queue *Queue, cfg Config, active func(g *graph.Graph) *graph.Node) func(ctx *context.Context, s0, s1, s2, s3, z, prototypes *graph.Node) []*graph.Node {
	return func(ctx *context.Context, s0, s1, s2, s3, z, prototypes *graph.Node) []*graph.Node {
		g := z.Graph()
		crops := []*graph.Node{s0, s1, s2, s3}
		queueScores := queue.Scores(g, prototypes)
		loss, codes := Loss(crops, cfg, queueScores)
		embeddings := make([]*graph.Node, len(cfg.Assign))
		for i, crop := range cfg.Assign {
			embeddings[i] = graph.Slice(z, graph.AxisRange(crop*goldenBatch, (crop+1)*goldenBatch))
		}
		var activeNode *graph.Node
		if active != nil {
			activeNode = active(g)
		}
		queue.Push(embeddings, activeNode)
		return lossOutputs(loss, codes, crops)
	}
}

func TestLossQueueGolden(t *testing.T) {
	gold := loadGolden(t)
	base, want := gold.SwavLoss, gold.SwavLossQueue
	if !want.UseTheQueue {
		t.Fatalf("golden swav_loss_queue expects use_the_queue")
	}
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		t.Run(dtype.String(), func(t *testing.T) {
			backend := newBackend(t)
			ctx := context.New()
			length, dim := len(want.QueueIn[0]), len(want.QueueIn[0][0])
			queue, err := NewQueue(ctx.In("swav_queue"), len(want.QueueIn), length, dim, dtype)
			if err != nil {
				t.Fatalf("NewQueue: %v", err)
			}
			// Load the reference's queue_in, full.
			if err := queue.EmbeddingsVariable().SetValue(cubeTensor(t, want.QueueIn, dtype)); err != nil {
				t.Fatalf("setting queue: %v", err)
			}
			if err := queue.FilledVariable().SetValue(tensors.FromScalar(int64(length))); err != nil {
				t.Fatalf("setting fill counter: %v", err)
			}
			exec, err := context.NewExec(backend, ctx, queueStep(queue, goldenConfig(gold), nil))
			if err != nil {
				t.Fatalf("NewExec: %v", err)
			}
			out, err := exec.Exec(append(cropTensors(t, base.Scores, dtype), matrixTensor(t, base.Z, dtype), matrixTensor(t, base.C, dtype))...)
			if err != nil {
				t.Fatalf("Exec: %v", err)
			}
			if got := asScalar(t, out[0]); math.Abs(got-want.Loss) > tol(dtype) {
				t.Errorf("loss = %.10g, want %.10g", got, want.Loss)
			}
			assertClose(t, "dloss/dscores", asMatrix(t, out[1]), want.DLossDScores, tol(dtype))
			assertClose(t, "q_crop0", asMatrix(t, out[2]), want.QCrop0, tol(dtype))
			assertClose(t, "q_crop1", asMatrix(t, out[3]), want.QCrop1, tol(dtype))

			gotQueue := asCube(t, queue.EmbeddingsVariable().MustValue())
			for i := range want.QueueOut {
				assertClose(t, "queue_out", gotQueue[i], want.QueueOut[i], tol(dtype))
			}
			if filled, err := queue.Filled(); err != nil || filled != length {
				t.Errorf("Filled() = %d, %v; want %d (saturated)", filled, err, length)
			}
		})
	}
}

// TestQueueFillsThenIsUsed starts from an empty queue of L = 6 with B = 3. With
// "active" false nothing happens. Then two steps push the golden queue_in rows
// (oldest half first) while the queue is not full, so the loss is the no-queue
// golden value; the third step, with the golden z, finds the queue full and must
// reproduce the golden queue loss, codes and queue_out.
func TestQueueFillsThenIsUsed(t *testing.T) {
	gold := loadGolden(t)
	base, withQueue := gold.SwavLoss, gold.SwavLossQueue
	backend := newBackend(t)
	ctx := context.New()
	const length = 6
	queue, err := NewQueue(ctx.In("swav_queue"), 2, length, len(base.Z[0]), dtypes.Float64)
	if err != nil {
		t.Fatalf("NewQueue: %v", err)
	}
	active := false // Baked into the graph as a constant at build time.
	activeFn := func(g *graph.Graph) *graph.Node { return graph.Const(g, active) }
	exec, err := context.NewExec(backend, ctx, queueStep(queue, goldenConfig(gold), activeFn))
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	run := func(z [][]float64) []*tensors.Tensor {
		out, err := exec.Exec(append(cropTensors(t, base.Scores, dtypes.Float64), tensors.FromValue(z), tensors.FromValue(base.C))...)
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		return out
	}
	filled := func() int {
		n, err := queue.Filled()
		if err != nil {
			t.Fatalf("Filled: %v", err)
		}
		return n
	}

	if loss := asScalar(t, run(base.Z)[0]); math.Abs(loss-base.Loss) > 1e-5 || filled() != 0 {
		t.Fatalf("inactive queue: loss %g (want %g), filled %d (want 0)", loss, base.Loss, filled())
	}

	active = true
	exec, err = context.NewExec(backend, ctx, queueStep(queue, goldenConfig(gold), activeFn))
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	// fillZ puts queue_in[i][from:from+B] in crop i's rows of z (i = 0, 1).
	fillZ := func(from int) [][]float64 {
		z := append([][]float64{}, base.Z...)
		for i := range 2 {
			copy(z[i*goldenBatch:(i+1)*goldenBatch], withQueue.QueueIn[i][from:from+goldenBatch])
		}
		return z
	}
	for step, from := range []int{goldenBatch, 0} { // Oldest rows first: they end up at the back.
		if loss := asScalar(t, run(fillZ(from))[0]); math.Abs(loss-base.Loss) > 1e-5 {
			t.Errorf("fill step %d (queue not full): loss %.10g, want the no-queue %.10g", step, loss, base.Loss)
		}
		if got, want := filled(), (step+1)*goldenBatch; got != want {
			t.Errorf("fill step %d: filled %d, want %d", step, got, want)
		}
	}
	gotQueue := asCube(t, queue.EmbeddingsVariable().MustValue())
	for i := range 2 {
		assertClose(t, "queue after filling", gotQueue[i], withQueue.QueueIn[i], 1e-12)
	}

	// Full: the golden queue step.
	out := run(base.Z)
	if loss := asScalar(t, out[0]); math.Abs(loss-withQueue.Loss) > 1e-5 {
		t.Errorf("full queue: loss %.10g, want %.10g", loss, withQueue.Loss)
	}
	assertClose(t, "dloss/dscores", asMatrix(t, out[1]), withQueue.DLossDScores, 1e-5)
	assertClose(t, "q_crop0", asMatrix(t, out[2]), withQueue.QCrop0, 1e-5)
	assertClose(t, "q_crop1", asMatrix(t, out[3]), withQueue.QCrop1, 1e-5)
	gotQueue = asCube(t, queue.EmbeddingsVariable().MustValue())
	for i := range 2 {
		assertClose(t, "queue_out", gotQueue[i], withQueue.QueueOut[i], 1e-12)
	}
	if got := filled(); got != length {
		t.Errorf("filled %d, want %d (saturated)", got, length)
	}

	if err := queue.Reset(); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if got := filled(); got != 0 {
		t.Errorf("after Reset: filled %d", got)
	}
}

func TestNewQueueErrors(t *testing.T) {
	ctx := context.New()
	if _, err := NewQueue(ctx, 0, 6, 4, dtypes.Float32); err == nil {
		t.Errorf("expected error for 0 crops")
	}
	if _, err := NewQueue(ctx, 2, 6, 4, dtypes.Int32); err == nil {
		t.Errorf("expected error for an integer dtype")
	}
	if _, err := NewQueue(ctx.In("q"), 2, 6, 4, dtypes.Float32); err != nil {
		t.Fatalf("NewQueue: %v", err)
	}
	// Reusing the scope with another shape (e.g. a checkpoint from another config).
	_, err := NewQueue(ctx.In("q"), 2, 9, 4, dtypes.Float32)
	if err == nil || !strings.Contains(err.Error(), "swavloss.NewQueue") {
		t.Errorf("expected a wrapped shape-mismatch error, got %v", err)
	}
	if got := TrimQueueLength(3840, 256); got != 3840 {
		t.Errorf("TrimQueueLength(3840, 256) = %d", got)
	}
	if got := TrimQueueLength(3900, 256); got != 3840 {
		t.Errorf("TrimQueueLength(3900, 256) = %d", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(4); err != nil {
		t.Fatalf("DefaultConfig invalid: %v", err)
	}
	for name, c := range map[string]Config{
		"no assign":    {Temperature: 0.1, Epsilon: 0.05, Iterations: 3},
		"assign range": {Assign: []int{0, 4}, Temperature: 0.1, Epsilon: 0.05, Iterations: 3},
		"temperature":  {Assign: []int{0}, Epsilon: 0.05, Iterations: 3},
		"epsilon":      {Assign: []int{0}, Temperature: 0.1, Iterations: 3},
		"iterations":   {Assign: []int{0}, Temperature: 0.1, Epsilon: 0.05, Iterations: -1},
	} {
		if err := c.Validate(4); err == nil {
			t.Errorf("%s: expected an error", name)
		}
	}
	if err := DefaultConfig().Validate(1); err == nil {
		t.Errorf("expected an error for a single crop")
	}
}

// cubeTensor converts a float64 rank-3 slice to a tensor of dtype.
func cubeTensor(t *testing.T, c [][][]float64, dtype dtypes.DType) *tensors.Tensor {
	t.Helper()
	if dtype == dtypes.Float64 {
		return tensors.FromValue(c)
	}
	out := make([][][]float32, len(c))
	for i, m := range c {
		out[i] = make([][]float32, len(m))
		for j, row := range m {
			out[i][j] = make([]float32, len(row))
			for k, v := range row {
				out[i][j][k] = float32(v)
			}
		}
	}
	return tensors.FromValue(out)
}

// asCube reads a rank-3 float tensor as float64.
func asCube(t *testing.T, x *tensors.Tensor) [][][]float64 {
	t.Helper()
	switch v := x.Value().(type) {
	case [][][]float64:
		return v
	case [][][]float32:
		out := make([][][]float64, len(v))
		for i, m := range v {
			out[i] = make([][]float64, len(m))
			for j, row := range m {
				out[i][j] = make([]float64, len(row))
				for k, e := range row {
					out[i][j][k] = float64(e)
				}
			}
		}
		return out
	}
	t.Fatalf("tensor %s is not a rank-3 float tensor", x.Shape())
	return nil
}

// TestLossWithQueueScoresAlwaysUsed passes precomputed queue scores (queue_in·Cᵀ)
// with a nil Use: the queue is always used and the golden queue values follow.
func TestLossWithQueueScoresAlwaysUsed(t *testing.T) {
	gold := loadGolden(t)
	want := gold.SwavLossQueue
	queueScores := make([]*tensors.Tensor, len(want.QueueIn))
	for i, queue := range want.QueueIn {
		scores := make([][]float64, len(queue))
		for l, z := range queue {
			scores[l] = make([]float64, len(gold.SwavLoss.C))
			for k, c := range gold.SwavLoss.C {
				for d := range z {
					scores[l][k] += z[d] * c[d]
				}
			}
		}
		queueScores[i] = tensors.FromValue(scores)
	}
	backend := newBackend(t)
	exec, err := graph.NewExec(backend, func(inputs []*graph.Node) []*graph.Node {
		crops := inputs[:goldenCrops]
		loss, codes := Loss(crops, goldenConfig(gold), &QueueScores{Scores: inputs[goldenCrops:]})
		return lossOutputs(loss, codes, crops)
	})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	out, err := exec.Exec(append(cropTensors(t, gold.SwavLoss.Scores, dtypes.Float64), queueScores[0], queueScores[1])...)
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	if got := asScalar(t, out[0]); math.Abs(got-want.Loss) > 1e-5 {
		t.Errorf("loss = %.10g, want %.10g", got, want.Loss)
	}
	assertClose(t, "dloss/dscores", asMatrix(t, out[1]), want.DLossDScores, 1e-5)
	assertClose(t, "q_crop0", asMatrix(t, out[2]), want.QCrop0, 1e-5)
	assertClose(t, "q_crop1", asMatrix(t, out[3]), want.QCrop1, 1e-5)
}
