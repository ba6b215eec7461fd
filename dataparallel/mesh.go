package dataparallel

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/distributed"
)

// BatchAxis is the name of the mesh's only axis: the devices among which the global
// batch is split.
const BatchAxis = "batch"

// NewMesh returns a one-axis device mesh of the given number of devices, its axis named
// [BatchAxis]. This is the shape GoMLX's SPMD strategy requires (a 1-D mesh) and all that
// data parallelism needs; model parallelism would add a second axis.
func NewMesh(devices int) (*distributed.DeviceMesh, error) {
	if devices < 1 {
		return nil, fmt.Errorf("dataparallel.NewMesh: need at least 1 device, got %d", devices)
	}
	mesh, err := distributed.NewDeviceMesh([]int{devices}, []string{BatchAxis})
	if err != nil {
		return nil, fmt.Errorf("dataparallel.NewMesh(%d): %w", devices, err)
	}
	return mesh, nil
}

// BatchSpec is the sharding of a per-sample tensor [B, …] of the given rank: axis 0 is
// split over [BatchAxis] in contiguous blocks, the others replicated. It serves the
// crops of a resolution group (rank 4, in the device-major layout of [Plan.GlobalRow]:
// the concatenation of [Plan.Split]'s shards), the embeddings z and scores (rank 2), the
// codes Q, and a per-device queue laid out [n·L/n, D].
//
// (Sharding the crop-major [count·B, …] tensor that a single device uses would hand whole
// crops to different devices; sharding a [count, B, …] layout on axis 1 keeps images
// together but forces a resharding when the backbone merges count and B into its one
// batch axis. The device-major layout needs neither.)
func BatchSpec(mesh *distributed.DeviceMesh, rank int) (*distributed.ShardingSpec, error) {
	if rank < 1 {
		return nil, fmt.Errorf("dataparallel.BatchSpec: rank %d has no batch axis", rank)
	}
	b := distributed.BuildSpec(mesh).S(BatchAxis)
	for range rank - 1 {
		b = b.R()
	}
	spec, err := b.Done()
	if err != nil {
		return nil, fmt.Errorf("dataparallel.BatchSpec on %s: %w", mesh, err)
	}
	return spec, nil
}

// ReplicatedSpec is the sharding of every tensor each device holds whole: weights,
// prototypes C, batch-norm running statistics, optimiser state, the learning rate and
// the step counter.
func ReplicatedSpec(mesh *distributed.DeviceMesh) *distributed.ShardingSpec {
	return distributed.NewReplicatedShardingSpec(mesh)
}
