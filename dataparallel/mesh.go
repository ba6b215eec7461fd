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

// CropsSpec is the sharding of one resolution's crops laid out as
// [count, B, H, W, C] (crop, image, pixels): axis 1, the images, is split over the
// mesh's [BatchAxis], so that every device receives all crops of its own images and the
// swapped prediction pairs stay on one device. (Sharding the crop-major [count·B, …]
// tensor that a single device uses along axis 0 would instead hand whole crops to
// different devices.) The remaining axes are replicated, which for a sharded axis
// means "not split". The spec names all 5 axes (GoMLX's ShardingSpec.ShardShape only
// applies a spec of the tensor's full rank).
func CropsSpec(mesh *distributed.DeviceMesh) (*distributed.ShardingSpec, error) {
	spec, err := distributed.BuildSpec(mesh).R().S(BatchAxis).R().R().R().Done()
	if err != nil {
		return nil, fmt.Errorf("dataparallel.CropsSpec on %s: %w", mesh, err)
	}
	return spec, nil
}

// BatchSpec is the sharding of a per-sample tensor [B, …] of the given rank (embeddings
// z and scores of rank 2, codes Q, a queue's rows): axis 0 is split over [BatchAxis],
// the others replicated.
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
