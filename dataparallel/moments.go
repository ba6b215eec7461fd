package dataparallel

import (
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Moments returns the batch mean and biased variance over axes of the global batch whose
// replicas hold local, as synchronised batch norm needs them: each replica sums
// Σ(x−s) and Σ(x−s)² over its own values, all-reduces add those of all replicas,
// and mean = s + Σ(x−s)/N, variance = Σ(x−s)²/N − (Σ(x−s)/N)², N = n·(values per
// replica along axes). This is what PyTorch's SyncBatchNorm and apex's syncbn compute
// (they exchange per-device mean, variance and count, equivalent sufficient statistics).
//
// shift (s) may be nil (s = 0), or a value of the results' shape identical on every
// replica — the batch norm's running mean is the natural
// choice: it removes the cancellation of E[x²] − E[x]² when |mean| ≫ std (float32 loses
// all digits of the variance once mean²/variance ≳ 10⁷).
//
// The results have x's shape without axes (as graph.ReduceMean), one pair per replica,
// identical across replicas. With a single replica they are the local moments. It panics
// if local is empty, the shards differ in shape or axes is empty.
func Moments(local []*graph.Node, c Collective, shift *graph.Node, axes ...int) (mean, variance []*graph.Node) {
	if len(local) == 0 {
		panic("dataparallel.Moments: no shards")
	}
	if len(axes) == 0 {
		panic("dataparallel.Moments: no axes to reduce (batch norm reduces every axis but the channels)")
	}
	checkSameShapes("Moments", local)
	perReplica := 1
	for _, a := range axes {
		perReplica *= local[0].Shape().Dim(a)
	}
	count := float64(perReplica * c.Replicas())

	// Σ(x−s) and Σ(x−s)², one all-reduce each (XLA's all-reduce combiner merges
	// independent all-reduces into one collective).
	sums := make([]*graph.Node, len(local))
	squares := make([]*graph.Node, len(local))
	for r, x := range local {
		centred := x
		if shift != nil {
			centred = graph.Sub(x, graph.ExpandAxes(shift, axes...))
		}
		sums[r] = graph.ReduceSum(centred, axes...)
		squares[r] = graph.ReduceSum(graph.Square(centred), axes...)
	}
	sums = c.AllReduce(sums, backends.ReduceOpSum)
	squares = c.AllReduce(squares, backends.ReduceOpSum)
	mean = make([]*graph.Node, len(local))
	variance = make([]*graph.Node, len(local))
	for r := range local {
		m := graph.DivScalar(sums[r], count)
		sq := graph.DivScalar(squares[r], count)
		v := graph.Sub(sq, graph.Square(m))
		variance[r] = graph.Max(v, graph.ZerosLike(v)) // Rounding can leave −ulp.
		if shift != nil {
			m = graph.Add(m, shift)
		}
		mean[r] = m
	}
	return mean, variance
}
