package dataparallel

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/distributed"
	"github.com/gomlx/gomlx/pkg/core/graph"

	"github.com/swav-go/swav/swavloss"
)

// NewSinkhornExec returns an executable of [Sinkhorn] under GoMLX's SPMD strategy on
// mesh: one program per device, each given its own b×K scores and returning its b×K
// codes, the row sums crossing devices through [SPMD]'s AllReduce. Call it with one
// scores tensor per device, in mesh order (exec.Exec(scores0, scores1, …)); it returns one
// codes tensor per device, in the same order. The rows of all devices' codes together
// are swavloss.Sinkhorn of all devices' scores stacked in that order.
//
// It is the smallest piece of the data-parallel step that crosses devices, and the
// template for the full step: the training step would be built the same way, with
// [Moments] in every batch norm and the gradients all-reduced (summed, then divided by
// n) before the optimiser update.
//
// In GoMLX v0.26.0 only the XLA backend runs it (the backend needs mesh.NumDevices()
// devices); on the pure-Go backends the first Exec returns an error naming
// DistributedSPMD as not implemented.
func NewSinkhornExec(backend backends.Backend, mesh *distributed.DeviceMesh, epsilon float64, iterations int) (*graph.Exec, error) {
	if mesh.Rank() != 1 {
		return nil, fmt.Errorf("dataparallel.NewSinkhornExec: SPMD needs a 1-D mesh, got %s", mesh)
	}
	if !(epsilon > 0) || iterations < 0 {
		return nil, fmt.Errorf("dataparallel.NewSinkhornExec: need ε > 0 and iterations ≥ 0, got ε=%g, iterations=%d", epsilon, iterations)
	}
	c := SPMD{Mesh: mesh}
	exec, err := graph.NewExec(backend, func(scores *graph.Node) *graph.Node {
		return Sinkhorn([]*graph.Node{scores}, c, epsilon, iterations)[0]
	})
	if err != nil {
		return nil, fmt.Errorf("dataparallel.NewSinkhornExec: %w", err)
	}
	return exec.SPMD(mesh).WithName("dataparallel_sinkhorn"), nil
}

// NewAutoShardedSinkhornExec returns an executable of the single-device
// swavloss.Sinkhorn under GoMLX's AutoSharding strategy on mesh: the graph is written for
// the whole B×K batch, the scores come in (and the codes go out) sharded by [BatchSpec],
// and XLA Shardy partitions it, turning the reductions over the batch axis into
// all-reduces — the global-batch semantics that [Sinkhorn] spells out by hand. Call it
// like [NewSinkhornExec]: one b×K shard per device in, one b×K codes shard per device out.
//
// This is the path GoMLX recommends, and the one a full AutoSharding training step would
// take (the single-device step with BatchSpec inputs and replicated variables). In GoMLX
// v0.26.0 only the XLA backend runs it; on the pure-Go backends the first Exec returns an
// error naming DistributedAutoSharding as not implemented.
func NewAutoShardedSinkhornExec(backend backends.Backend, mesh *distributed.DeviceMesh, epsilon float64, iterations int) (*graph.Exec, error) {
	if !(epsilon > 0) || iterations < 0 {
		return nil, fmt.Errorf("dataparallel.NewAutoShardedSinkhornExec: need ε > 0 and iterations ≥ 0, got ε=%g, iterations=%d", epsilon, iterations)
	}
	spec, err := BatchSpec(mesh, 2)
	if err != nil {
		return nil, fmt.Errorf("dataparallel.NewAutoShardedSinkhornExec: %w", err)
	}
	exec, err := graph.NewExec(backend, func(scores *graph.Node) *graph.Node {
		return swavloss.Sinkhorn(scores, epsilon, iterations)
	})
	if err != nil {
		return nil, fmt.Errorf("dataparallel.NewAutoShardedSinkhornExec: %w", err)
	}
	return exec.AutoSharding(mesh).WithInputShardingSpecs(spec).WithOutputShardingSpecs(spec).WithName("dataparallel_sinkhorn_autosharded"), nil
}
