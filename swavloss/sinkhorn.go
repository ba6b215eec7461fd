package swavloss

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Sinkhorn computes the SwAV soft codes Q for a B×K matrix of scores
// (B samples, K prototypes), with entropic regularisation ε (epsilon) and the given
// number of Sinkhorn-Knopp iterations. The result is B×K and each row sums to 1.
//
// It reproduces the reference's distributed_sinkhorn for a world size of 1:
//
//	Q = exp(scoresᵀ / ε)                       (K×B)
//	Q /= ΣQ                                     (total mass 1)
//	repeat iterations times:
//	    Q /= rowsum(Q); Q /= K                  (each prototype gets mass 1/K)
//	    Q /= colsum(Q); Q /= B                  (each sample gets mass 1/B)
//	return (Q·B)ᵀ                               (B×K, rows sum to 1)
//
// The same operations are carried out in the log domain (every normalisation is a
// log-sum-exp, itself computed after subtracting its maximum): this is the same
// function, but it cannot produce 0/0 when whole rows or columns of exp(scores/ε)
// underflow, which happens in float32 for scores in [-1, 1] once ε ≲ 0.02. With
// scores in [-1, 1] the result has no Inf/NaN for any ε ≥ 0.01 in float32.
//
// The computation runs in the dtype of scores (the caller converts half-precision
// scores to float32 first, as [Loss] does). Gradients do not flow: scores go through
// StopGradient, matching the reference's torch.no_grad.
//
// It panics if scores is not a rank-2 float tensor, ε ≤ 0 or iterations < 0.
func Sinkhorn(scores *graph.Node, epsilon float64, iterations int) *graph.Node {
	if scores.Rank() != 2 || !scores.DType().IsFloat() {
		panic(fmt.Errorf("swavloss.Sinkhorn: scores must be a B×K float matrix, got shape %s", scores.Shape()))
	}
	if !(epsilon > 0) {
		panic(fmt.Errorf("swavloss.Sinkhorn: epsilon (ε) must be > 0, got %g", epsilon))
	}
	if iterations < 0 {
		panic(fmt.Errorf("swavloss.Sinkhorn: iterations must be >= 0, got %d", iterations))
	}
	numSamples := scores.Shape().Dim(0)    // B
	numPrototypes := scores.Shape().Dim(1) // K
	logB := math.Log(float64(numSamples))
	logK := math.Log(float64(numPrototypes))

	// logQ is log(Q), K×B, with Q = exp(scores/ε)ᵀ.
	logQ := graph.Transpose(graph.DivScalar(graph.StopGradient(scores), epsilon), 0, 1)

	// Q /= ΣQ: total mass 1. (Only matters when iterations == 0: the first row
	// normalisation cancels any global factor.)
	logQ = graph.Sub(logQ, logSumExpKeep(logQ))
	for range iterations {
		// Rows (prototypes): Q /= rowsum(Q); Q /= K.
		logQ = graph.AddScalar(graph.Sub(logQ, logSumExpKeep(logQ, 1)), -logK)
		// Columns (samples): Q /= colsum(Q); Q /= B.
		logQ = graph.AddScalar(graph.Sub(logQ, logSumExpKeep(logQ, 0)), -logB)
	}
	// Q *= B: each column (sample) sums to 1, an assignment.
	q := graph.Exp(graph.AddScalar(logQ, logB))
	return graph.Transpose(q, 0, 1)
}

// logSumExpKeep returns log(Σ exp(x)) over the given axes (all axes if none), keeping
// the reduced axes with dimension 1 so the result broadcasts against x. The maximum
// is subtracted before exp, so the largest term is exp(0) = 1 and the sum is never 0.
func logSumExpKeep(x *graph.Node, axes ...int) *graph.Node {
	maxX := graph.ReduceAndKeep(x, graph.ReduceMax, axes...)
	sum := graph.ReduceAndKeep(graph.Exp(graph.Sub(x, maxX)), graph.ReduceSum, axes...)
	return graph.Add(maxX, graph.Log(sum))
}
