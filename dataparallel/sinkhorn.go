package dataparallel

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Sinkhorn computes the SwAV codes Q of the global batch whose scores are split over
// replicas: local[r] holds replica r's b×K scores (its rows of the global B×K matrix,
// B = b·n), and the result holds, in the same order, each replica's b×K rows of Q. It
// equals swavloss.Sinkhorn of the concatenated scores (the rows of Q depend on the whole
// batch through the sums below, not on how the rows are distributed).
//
// It is the reference's distributed_sinkhorn (main_swav.py), in the log domain as
// swavloss.Sinkhorn is:
//
//	Q = exp(scoresᵀ/ε), K×b per replica
//	Q /= all_reduce(ΣQ)                           (total mass 1 over all replicas)
//	repeat iterations times:
//	    Q /= all_reduce(rowsum(Q)); Q /= K        (a prototype's mass over the global batch)
//	    Q /= colsum(Q); Q /= B                    (a sample's column is local: no reduction)
//	return (Q·B)ᵀ
//
// Each log-domain sum that spans replicas is a log-sum-exp, taken as
// M + log Σ_r Σ exp(x − M) with M the all-reduced maximum: two all-reduces (max, then sum)
// of one scalar for the total and of K values per row normalisation, where the
// reference all-reduces once in the exp domain (and can produce 0/0 in float32 at small ε,
// which this form cannot; see swavloss.Sinkhorn).
//
// It panics if local is empty, the shards differ in shape or are not b×K float
// matrices, ε ≤ 0, iterations < 0, or the collective rejects the number of shards.
func Sinkhorn(local []*graph.Node, c Collective, epsilon float64, iterations int) []*graph.Node {
	if len(local) == 0 {
		panic("dataparallel.Sinkhorn: no shards")
	}
	if local[0].Rank() != 2 || !local[0].DType().IsFloat() {
		panic(fmt.Sprintf("dataparallel.Sinkhorn: scores must be b×K float matrices, got shape %s", local[0].Shape()))
	}
	checkSameShapes("Sinkhorn", local)
	if !(epsilon > 0) {
		panic(fmt.Sprintf("dataparallel.Sinkhorn: epsilon (ε) must be > 0, got %g", epsilon))
	}
	if iterations < 0 {
		panic(fmt.Sprintf("dataparallel.Sinkhorn: iterations must be >= 0, got %d", iterations))
	}
	b := local[0].Shape().Dim(0)
	k := local[0].Shape().Dim(1)
	globalB := b * c.Replicas() // B, the reference's Q.shape[1] * world_size
	logB := math.Log(float64(globalB))
	logK := math.Log(float64(k))

	logQ := make([]*graph.Node, len(local))
	for r, s := range local {
		logQ[r] = graph.Transpose(graph.DivScalar(graph.StopGradient(s), epsilon), 0, 1) // K×b
	}
	// Q /= ΣQ over all replicas.
	logQ = subtract(logQ, globalLogSumExp(logQ, c))
	for range iterations {
		// Rows (prototypes): the sum over the global batch crosses replicas.
		logQ = subtract(logQ, globalLogSumExp(logQ, c, 1))
		for r := range logQ {
			logQ[r] = graph.AddScalar(logQ[r], -logK)
		}
		// Columns (samples): each column lives on one replica.
		for r := range logQ {
			logQ[r] = graph.AddScalar(graph.Sub(logQ[r], logSumExpKeep(logQ[r], 0)), -logB)
		}
	}
	q := make([]*graph.Node, len(logQ))
	for r := range logQ {
		q[r] = graph.Transpose(graph.Exp(graph.AddScalar(logQ[r], logB)), 0, 1)
	}
	return q
}

// globalLogSumExp returns, for each replica, log Σ exp(x) over axes (all if none) and
// over all replicas, with the reduced axes kept as 1 so it broadcasts against x.
func globalLogSumExp(x []*graph.Node, c Collective, axes ...int) []*graph.Node {
	maxes := make([]*graph.Node, len(x))
	for r := range x {
		maxes[r] = graph.ReduceAndKeep(x[r], graph.ReduceMax, axes...)
	}
	maxes = c.AllReduce(maxes, backends.ReduceOpMax)
	sums := make([]*graph.Node, len(x))
	for r := range x {
		sums[r] = graph.ReduceAndKeep(graph.Exp(graph.Sub(x[r], maxes[r])), graph.ReduceSum, axes...)
	}
	sums = c.AllReduce(sums, backends.ReduceOpSum)
	out := make([]*graph.Node, len(x))
	for r := range x {
		out[r] = graph.Add(maxes[r], graph.Log(sums[r]))
	}
	return out
}

// logSumExpKeep is the replica-local log Σ exp(x) over axes, max-subtracted, keeping the
// reduced axes.
func logSumExpKeep(x *graph.Node, axes ...int) *graph.Node {
	maxX := graph.ReduceAndKeep(x, graph.ReduceMax, axes...)
	sum := graph.ReduceAndKeep(graph.Exp(graph.Sub(x, maxX)), graph.ReduceSum, axes...)
	return graph.Add(maxX, graph.Log(sum))
}

// subtract returns x[r] − y[r] for every replica.
func subtract(x, y []*graph.Node) []*graph.Node {
	out := make([]*graph.Node, len(x))
	for r := range x {
		out[r] = graph.Sub(x[r], y[r])
	}
	return out
}
