package dataparallel

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Plan is how one global multi-crop batch is split over the devices of a data-parallel
// mesh: GlobalBatch images (B), each with the crops of every resolution group
// (CropCounts[g] crops of group g, e.g. {2, 6} for 2×224 + 6×96), spread over Devices
// devices (n), PerDevice = B/n images each.
//
// On one device a group's crops are one crop-major tensor [count·B, H, W, C]: all B
// images of its first crop, then all B of its second, … (the layout pretrain feeds, and
// the reference's torch.cat of a resolution's crops). Device d receives, for every crop
// of every group, the images d·b … d·b+b−1 (b = PerDevice), in the same crop-major order
// locally ([count·b, H, W, C]): every device holds all crops of its own images, so each
// swapped prediction (crop v of image i predicting the code of crop c of image i) is
// local, and only Sinkhorn's and batch norm's sums cross devices. This is what the
// reference gets from its DistributedSampler: each process loads b whole images.
type Plan struct {
	// GlobalBatch is B, the number of distinct images per step over all devices.
	GlobalBatch int
	// Devices is n, the number of data-parallel replicas.
	Devices int
	// PerDevice is b = B/n.
	PerDevice int
	// CropCounts holds the number of crops of each resolution group, in feed order.
	CropCounts []int
}

// NewPlan checks that the global batch splits evenly over the devices (every replica
// runs the same program on the same shapes) and returns the plan. The error for an
// uneven split names the nearest global batch sizes that do split.
func NewPlan(globalBatch, devices int, cropCounts []int) (Plan, error) {
	if devices < 1 {
		return Plan{}, fmt.Errorf("dataparallel.NewPlan: need at least 1 device, got %d", devices)
	}
	if globalBatch < devices {
		return Plan{}, fmt.Errorf("dataparallel.NewPlan: global batch %d is smaller than the %d devices (each needs at least one image)", globalBatch, devices)
	}
	if globalBatch%devices != 0 {
		lower := globalBatch - globalBatch%devices
		return Plan{}, fmt.Errorf("dataparallel.NewPlan: global batch %d does not split evenly over %d devices (%d %% %d = %d); use %d or %d",
			globalBatch, devices, globalBatch, devices, globalBatch%devices, lower, lower+devices)
	}
	if len(cropCounts) == 0 {
		return Plan{}, fmt.Errorf("dataparallel.NewPlan: no crop groups (want e.g. [2 6] for 2×224 + 6×96)")
	}
	for g, c := range cropCounts {
		if c < 1 {
			return Plan{}, fmt.Errorf("dataparallel.NewPlan: crop group %d has %d crops, want at least 1", g, c)
		}
	}
	return Plan{GlobalBatch: globalBatch, Devices: devices, PerDevice: globalBatch / devices, CropCounts: slices.Clone(cropCounts)}, nil
}

// NumCrops returns the number of crops per image over all groups (8 for 2×224 + 6×96).
func (p Plan) NumCrops() int {
	n := 0
	for _, c := range p.CropCounts {
		n += c
	}
	return n
}

// Rows returns, in device-local order, the rows of group's global crop-major tensor
// ([count·B, …]) that device holds: for crop c and local image j, local row c·b+j is
// global row c·B + device·b + j.
//
// It panics if group or device is out of range (a programmer error).
func (p Plan) Rows(group, device int) []int {
	p.checkGroup(group)
	if device < 0 || device >= p.Devices {
		panic(fmt.Sprintf("dataparallel.Plan.Rows: device %d out of range [0, %d)", device, p.Devices))
	}
	count, b, B := p.CropCounts[group], p.PerDevice, p.GlobalBatch
	rows := make([]int, 0, count*b)
	for c := range count {
		for j := range b {
			rows = append(rows, c*B+device*b+j)
		}
	}
	return rows
}

func (p Plan) checkGroup(group int) {
	if group < 0 || group >= len(p.CropCounts) {
		panic(fmt.Sprintf("dataparallel.Plan: crop group %d out of range [0, %d)", group, len(p.CropCounts)))
	}
}

// GlobalRow returns the row of crop c of image i (0 ≤ i < B) in group's device-major
// global tensor: the concatenation of the devices' shards ([Plan.Split]), which is the
// logical tensor of an AutoSharding step whose crops are sharded by [BatchSpec]. Image i
// lives on device d = i/b as local image j = i%b, so its row is d·count·b + c·b + j.
//
// It panics if group, crop or image is out of range (a programmer error).
func (p Plan) GlobalRow(group, crop, image int) int {
	p.checkGroup(group)
	count, b := p.CropCounts[group], p.PerDevice
	if crop < 0 || crop >= count || image < 0 || image >= p.GlobalBatch {
		panic(fmt.Sprintf("dataparallel.Plan.GlobalRow: crop %d of %d, image %d of %d out of range", crop, count, image, p.GlobalBatch))
	}
	d, j := image/b, image%b
	return d*count*b + crop*b + j
}

// Split cuts group's global crop-major tensor [count·B, …] into one tensor
// [count·b, …] per device, by [Plan.Rows]. The input is not modified; the shards are new
// host tensors of the same dtype.
func (p Plan) Split(group int, crops *tensors.Tensor) ([]*tensors.Tensor, error) {
	if group < 0 || group >= len(p.CropCounts) {
		return nil, fmt.Errorf("dataparallel.Plan.Split: crop group %d out of range [0, %d)", group, len(p.CropCounts))
	}
	shape := crops.Shape()
	want := p.CropCounts[group] * p.GlobalBatch
	rowBytes, err := rowSize(shape, want)
	if err != nil {
		return nil, fmt.Errorf("dataparallel.Plan.Split: group %d (%d crops × %d images): %w", group, p.CropCounts[group], p.GlobalBatch, err)
	}
	shardShape := shape.Clone()
	shardShape.Dimensions[0] = p.CropCounts[group] * p.PerDevice
	shards := make([]*tensors.Tensor, p.Devices)
	var shardErr error
	err = crops.ConstBytes(func(src []byte) {
		for d := range shards {
			shards[d] = tensors.FromShape(shardShape)
			rows := p.Rows(group, d)
			if e := shards[d].MutableBytes(func(dst []byte) {
				for local, global := range rows {
					copy(dst[local*rowBytes:(local+1)*rowBytes], src[global*rowBytes:(global+1)*rowBytes])
				}
			}); e != nil {
				shardErr = fmt.Errorf("shard %d: %w", d, e)
				return
			}
		}
	})
	if err == nil {
		err = shardErr
	}
	if err != nil {
		return nil, fmt.Errorf("dataparallel.Plan.Split: group %d: %w", group, err)
	}
	return shards, nil
}

// Merge is the inverse of [Plan.Split]: it assembles the devices' [count·b, …] tensors
// of group into the global crop-major [count·B, …] tensor.
func (p Plan) Merge(group int, shards []*tensors.Tensor) (*tensors.Tensor, error) {
	if group < 0 || group >= len(p.CropCounts) {
		return nil, fmt.Errorf("dataparallel.Plan.Merge: crop group %d out of range [0, %d)", group, len(p.CropCounts))
	}
	if len(shards) != p.Devices {
		return nil, fmt.Errorf("dataparallel.Plan.Merge: group %d: got %d shards for %d devices", group, len(shards), p.Devices)
	}
	local := p.CropCounts[group] * p.PerDevice
	shape := shards[0].Shape()
	rowBytes, err := rowSize(shape, local)
	if err != nil {
		return nil, fmt.Errorf("dataparallel.Plan.Merge: group %d, shard 0: %w", group, err)
	}
	for d, s := range shards[1:] {
		if !s.Shape().Equal(shape) {
			return nil, fmt.Errorf("dataparallel.Plan.Merge: group %d: shard %d has shape %s, shard 0 has %s", group, d+1, s.Shape(), shape)
		}
	}
	globalShape := shape.Clone()
	globalShape.Dimensions[0] = p.CropCounts[group] * p.GlobalBatch
	out := tensors.FromShape(globalShape)
	var copyErr error
	err = out.MutableBytes(func(dst []byte) {
		for d, s := range shards {
			rows := p.Rows(group, d)
			if e := s.ConstBytes(func(src []byte) {
				for l, global := range rows {
					copy(dst[global*rowBytes:(global+1)*rowBytes], src[l*rowBytes:(l+1)*rowBytes])
				}
			}); e != nil {
				copyErr = fmt.Errorf("shard %d: %w", d, e)
				return
			}
		}
	})
	if err == nil {
		err = copyErr
	}
	if err != nil {
		return nil, fmt.Errorf("dataparallel.Plan.Merge: group %d: %w", group, err)
	}
	return out, nil
}

// rowSize checks that shape has rank ≥ 1 with rows rows and returns the bytes per row.
func rowSize(shape shapes.Shape, rows int) (int, error) {
	if shape.Rank() < 1 {
		return 0, fmt.Errorf("tensor of shape %s has no row axis", shape)
	}
	if got := shape.Dimensions[0]; got != rows {
		return 0, fmt.Errorf("tensor of shape %s has %d rows, want %d", shape, got, rows)
	}
	total := int(shape.Memory())
	if total%rows != 0 {
		return 0, fmt.Errorf("tensor of shape %s: %d bytes do not divide into %d rows", shape, total, rows)
	}
	return total / rows, nil
}

// QueueLength returns the queue length the reference would use with this plan for a
// requested length: main_swav.py trims queue_length to a multiple of the global batch
// (batch_size·world_size) and each process keeps queue_length/world_size rows per
// assignment crop, its own images' past embeddings. Sinkhorn then runs over the union of
// all devices' queues and batches: global trimmed rows plus B. A result of 0 means no
// queue (requested < B), as in the reference.
func (p Plan) QueueLength(requested int) (global, perDevice int) {
	if requested <= 0 {
		return 0, 0
	}
	global = requested - requested%p.GlobalBatch
	return global, global / p.Devices
}
