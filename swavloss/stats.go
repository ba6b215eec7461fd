package swavloss

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// CodeEntropy returns the mean over samples of the entropy −Σ_k q[b,k]·log q[b,k]
// of the B×K codes Q (natural log; 0·log 0 counts as 0). It ranges from 0 (hard
// assignments) to log K (uniform codes). For logging; no gradient.
func CodeEntropy(codes *graph.Node) *graph.Node {
	checkCodes("CodeEntropy", codes)
	q := graph.StopGradient(codes)
	positive := graph.GreaterThan(q, graph.ZerosLike(q))
	safeQ := graph.Where(positive, q, graph.OnesLike(q)) // log(1) = 0 where q == 0.
	plogp := graph.Mul(q, graph.Log(safeQ))
	return graph.Neg(graph.ReduceAllMean(graph.ReduceSum(plogp, -1)))
}

// PrototypesInUse returns, as an int32 scalar, how many of the K prototypes are
// the arg-max of at least one of the B rows of the codes Q: a collapse indicator
// (1 means every sample picks the same prototype). For logging; no gradient.
func PrototypesInUse(codes *graph.Node) *graph.Node {
	checkCodes("PrototypesInUse", codes)
	numPrototypes := codes.Shape().Dim(1)
	best := graph.ArgMax(graph.StopGradient(codes), -1, dtypes.Int32) // B
	picked := graph.OneHot(best, numPrototypes, dtypes.Int32)         // B×K
	return graph.ReduceAllSum(graph.ReduceMax(picked, 0))             // Σ_k [k picked]
}

func checkCodes(fn string, codes *graph.Node) {
	if codes.Rank() != 2 || !codes.DType().IsFloat() {
		panic(fmt.Errorf("swavloss.%s: codes must be a B×K float matrix, got shape %s", fn, codes.Shape()))
	}
}
