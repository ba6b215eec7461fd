// Package fast is a GoMLX backend, registered as "swav", that runs the
// expensive operations of convolutional networks on the AVX2/FMA kernels of
// internal/gemm and delegates every other operation to a pure-Go GoMLX
// backend (by default the "swavgo" compat backend of backend/compat:
// simplego with sequential op scheduling plus Pad, Reverse and
// SelectAndScatter).
//
// # Design
//
// The Builder records the graph instead of building it: each of the ~150
// StandardOps methods (generated into gen_ops.go by internal/genops, by
// reflection over backends.StandardOps) appends a node with its inputs and a
// replay closure that re-issues the identical call on another
// backends.Builder. The same call is issued at once on a "shadow" builder of
// the delegate, which validates it and infers output shapes, so errors and
// shapes are exactly the delegate's.
//
// Hot nodes run on our kernels: float32 DotGeneral (batched GEMM, transposed
// operands read through strides), ungrouped float32 ConvGeneral (indirect
// convolution, any axes layout, strides, padding, kernel dilation, and input
// dilation split into hole-free phases — what GoMLX's gradient graphs use),
// max/sum ReduceWindow and SelectAndScatterMax (max-pooling and its
// gradient), and float32 elementwise ops, BroadcastInDim, ReduceSum and
// ReduceMax from elementwise_min (16384) elements up. At Compile, trees of
// hot elementwise nodes whose intermediate values have no other use are
// fused into one node evaluated 1024 elements at a time with AVX2 kernels
// (batch norm + ReLU becomes one pass over memory; broadcasts are strides,
// never materialised). When such a tree reads a convolution's output and is
// its only user — inference: conv → batch norm → (+ residual) → ReLU — the
// tree becomes the convolution's epilogue (gemm.Epilogue): each worker runs
// it in place on the block of output rows it has just finished, while the
// block is still in cache, so the activation makes one trip to memory
// instead of three.
//
// Every other node is assigned to the earliest stage after all the hot nodes
// it depends on; each stage is replayed into one delegate builder (its
// cross-stage inputs become Parameters) and compiled into one delegate
// executable. Execute runs strictly stage, hot phase, stage, …, so:
//
//   - per-op overhead within a stage is the delegate's (one Execute per stage);
//   - no two delegate executions ever wait on each other, so simplego's
//     parallel-scheduling hang cannot happen; parallelism lives inside our
//     kernels (products, convolutions, elementwise loops, reductions and
//     transpositions are split over min(workers, GOMAXPROCS) goroutines);
//   - buffers are the delegate's host buffers (BufferData, NewSharedBuffer):
//     nothing is copied at stage boundaries. Each intermediate buffer is
//     released, or donated to the stage that uses it last, right after its
//     last consumer. Donated inputs are consumed; outputs are always fresh
//     buffers (a non-donated input returned as output is copied).
//   - Execute keeps all per-call state local: one Executable serves
//     concurrent Execute calls (tested with 8 goroutines under -race).
//
// A reduction (ReduceSum) whose operand is such a tree evaluates it chunk by
// chunk and reduces each chunk while it is in cache (batch norm's Σ(x−μ)²,
// the Σ dy·x of its gradient, LARS's ‖w‖²), summing rows in the same order
// as on a materialised operand, so the result is bit for bit the same. A
// value that several groups read is recomputed by each of them instead of
// materialised when that costs no extra memory traffic: a broadcast, or a few
// ops reading one full-size operand (batch norm's x − μ, or its x·s + b
// before a ReLU whose gradient reads it again).
//
// GoMLX's kernel-gradient convolution (the input with batch and channel axes
// swapped, the output gradient as the "kernel") is recognised and run as
// gemm.ConvKernelGrad on the untransposed operands: for stride-1 "same"
// convolutions one product of the input, read in place tap by tap, by the
// output gradient; otherwise of the transposed output gradient by input
// panels gathered per tap; split over workers by rows or columns of the
// result (so it does not depend on their number). Other
// convolutions whose operand layouts are not channels-last transpose
// operands into scratch buffers first (tiled, ~1.4 ns per element), costing
// one memory pass against the convolution's 9·Cin multiply-adds per element.
//
// # Measurements
//
// 2 vCPU AMD EPYC Zen 3 (shared), small ResNet (model.Small(1)) at batch 64,
// `go run ./bench/backends -model small -batch 64` (bench/README.md has the
// outputs), PyTorch 1.13 at the same thread count interleaved in the same
// command: on 2026-12-01 (load ~2 from other work) inference 1.30× / 1.23×
// and a training step 0.92× / 1.05× PyTorch on one / two threads; SwAV
// pretraining end to end (bench/pretrain) 1.07× / 1.06× the paper's loop.
// Earlier quiet runs: ~1110 images/s inference and ~225 per training step
// with both cores, ~676 and ~157 on one.
// The "swavgo" delegate alone: 3 and 1. Inference went from 58 images/s
// with only DotGeneral/ConvGeneral hot (simplego's broadcast iterator then
// took 60 % of the time) to 306 with elementwise ops hot, 435 with
// branch-free ReLU max and sign, 867 with fusion, ~1020 with the convolution
// epilogue (on one core the convolutions with their epilogues are then
// 98.5 % of the time, at 88 GFLOP/s), and ~1110 with Winograd F(2×2, 3×3)
// for the 3×3 layers (+23 % on one core: 550 → 677), then F(4×4, 3×3)
// (bench/README.md has the 2026-12-03 figures). The GEMM runs at
// 84–98 GFLOP/s on one core
// (86–100 % of the 98 GFLOP/s reference peak; the core boosts above it), the
// 3×3 convolutions with ≥ 32 channels at 76–108.
//
// # Configuration
//
// backends.NewWithConfig("swav") or "swav:opts" with comma-separated options:
//
//	workers=N    cap the goroutines of one kernel call (default GOMAXPROCS)
//	delegate=go  delegate to plain simplego ("go:ops_sequential") instead of swavgo
//	purego       use the portable Go micro-kernels (for comparison and tests)
//	nowinograd   run 3×3 stride-1 convolutions directly, not by Winograd (comparison)
//	nowinograd4  run 3×3 stride-1 convolutions by Winograd F(2×2, 3×3) only,
//	             never F(4×4, 3×3), and their kernel gradients in place, not by
//	             Winograd (comparison)
//	nokgrad      run kernel-gradient convolutions as transposed generic convolutions,
//	             not by gemm.ConvKernelGrad (comparison)
//	kgradgather  run gemm.ConvKernelGrad in its general form only, the input
//	             gathered into panels, not read in place (comparison)
//	kgradunits   split gemm.ConvKernelGrad's work between workers by tiles of
//	             the result, not by pixel ranges: slower at 2+ threads, but its
//	             result is bit for bit the same for any number of workers (the
//	             default pixel split sums per-range partial results, so its last
//	             bits depend on the worker count)
//	noreducefuse do not fuse elementwise operands into reductions, and
//	             materialise broadcasts read by several fused groups (comparison)
//	mathexp      compute Exp by math.Exp per element, not by the faster exp32
//	             that returns the same float32 values (comparison)
//	nohot        run everything on the delegate (for comparison and tests)
//	nofuse       do not fuse chains of elementwise ops (for comparison and tests)
//	stats        time every step; see Backend.Stats
//	statshapes   stats, with each convolution's shape in its kind (batch,
//	             spatial size, channels in→out, kernel, strides): the split by
//	             layer rather than by role
//	elementwise_min=N  run float32 elementwise ops, broadcasts and reductions
//	             here from N output elements (default 16384); smaller ones
//	             stay on the delegate
package fast

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/swav-go/swav/backend/compat"
	"github.com/swav-go/swav/internal/gemm"
)

//go:generate go run ./internal/genops -out gen_ops.go

// BackendName is the name under which this backend registers with GoMLX
// (GOMLX_BACKEND=swav or backends.NewWithConfig("swav")).
const BackendName = "swav"

func init() {
	backends.Register(BackendName, New)
}

// Backend runs hot ops on internal/gemm and the rest on a delegate backend
// whose buffers it shares.
type Backend struct {
	delegate backends.Backend
	engine   *gemm.Engine
	engine1  *gemm.Engine // single-threaded, for work parallelised over batches.
	noHot    bool
	noFuse   bool // Do not fuse elementwise chains.
	// noKernelGrad runs kernel-gradient convolutions as transposed generic
	// convolutions instead of gemm.ConvKernelGrad (for comparison and tests).
	noKernelGrad bool
	// noReduceFuse keeps reductions reading materialised operands and
	// broadcasts with several readers materialised (for comparison and tests).
	noReduceFuse bool
	// mathExp computes hot float32 Exp by math.Exp per element instead of
	// exp32 (bit for bit the same values; for comparison).
	mathExp bool
	// minElements is the size from which elementwise ops run here.
	minElements int
	config      string
	stats       *opStats // Non-nil with the "stats" option.
	// statShapes adds each convolution's shape to its stats kind.
	statShapes bool
	finalized  atomic.Bool
}

var _ backends.Backend = (*Backend)(nil)

// New creates a "swav" backend; config is described in the package documentation.
func New(config string) (backends.Backend, error) {
	var opts gemm.Options
	delegateName := compat.BackendName
	var noHot bool
	minElements := defaultMinHotElements
	withStats, statShapes := false, false
	noFuse := false
	noKernelGrad := false
	noReduceFuse := false
	mathExp := false
	for _, part := range strings.Split(config, ",") {
		part = strings.TrimSpace(part)
		key, val, _ := strings.Cut(part, "=")
		switch key {
		case "":
		case "workers":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("backend %s: invalid workers=%q: want a positive integer", BackendName, val)
			}
			opts.Workers = n
		case "delegate":
			if val != compat.BackendName && val != simplego.BackendName {
				return nil, fmt.Errorf("backend %s: unknown delegate %q (want %q or %q)",
					BackendName, val, compat.BackendName, simplego.BackendName)
			}
			delegateName = val
		case "elementwise_min":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("backend %s: invalid elementwise_min=%q: want an integer ≥ 0", BackendName, val)
			}
			minElements = n
		case "nofuse":
			noFuse = true
		case "nokgrad":
			noKernelGrad = true
		case "noreducefuse":
			noReduceFuse = true
		case "mathexp":
			mathExp = true
		case "stats":
			withStats = true
		case "statshapes":
			withStats, statShapes = true, true
		case "purego":
			opts.PureGo = true
		case "nowinograd":
			opts.NoWinograd = true
		case "nowinograd4":
			opts.NoWinograd4 = true
		case "kgradgather":
			opts.KernelGradGather = true
		case "kgradunits":
			opts.KernelGradSplitUnits = true
		case "nohot":
			noHot = true
		default:
			return nil, fmt.Errorf("backend %s: unknown option %q (known: workers=N, delegate=swavgo|go, purego, nowinograd, nowinograd4, nokgrad, kgradgather, kgradunits, noreducefuse, mathexp, nohot, nofuse, stats, statshapes, elementwise_min=N)",
				BackendName, part)
		}
	}
	var delegate backends.Backend
	var err error
	if delegateName == simplego.BackendName {
		delegate, err = simplego.New("ops_sequential")
	} else {
		delegate, err = compat.New("")
	}
	if err != nil {
		return nil, fmt.Errorf("backend %s: creating delegate %q: %w", BackendName, delegateName, err)
	}
	b := Wrap(delegate, opts, noHot, config)
	b.minElements = minElements
	b.noFuse = noFuse
	b.noKernelGrad = noKernelGrad
	b.noReduceFuse = noReduceFuse
	b.mathExp = mathExp
	if withStats {
		b.stats = &opStats{}
	}
	b.statShapes = statShapes
	return b, nil
}

// Wrap returns a backend that runs hot ops with an internal/gemm engine built
// from opts and delegates the rest to delegate, which must use host buffers
// (HasSharedBuffers). With noHot every op runs on the delegate.
func Wrap(delegate backends.Backend, opts gemm.Options, noHot bool, config string) *Backend {
	one := opts
	one.Workers = 1
	return &Backend{
		delegate:    delegate,
		engine:      gemm.New(opts),
		engine1:     gemm.New(one),
		noHot:       noHot,
		minElements: defaultMinHotElements,
		config:      config,
	}
}

// Delegate returns the backend that runs the non-hot ops and owns the buffers.
func (b *Backend) Delegate() backends.Backend { return b.delegate }

// Engine returns the kernel engine used for hot ops.
func (b *Backend) Engine() *gemm.Engine { return b.engine }

// Name implements backends.Backend.
func (b *Backend) Name() string { return BackendName }

// String implements backends.Backend.
func (b *Backend) String() string { return BackendName }

// Description implements backends.Backend.
func (b *Backend) Description() string {
	kernels := "pure-Go kernels"
	if b.engine.UsesAsm() {
		kernels = "AVX2/FMA kernels"
	}
	return fmt.Sprintf("swav-go fast CPU backend: DotGeneral/ConvGeneral on %s (%d workers), other ops on %s",
		kernels, b.engine.Workers(), b.delegate.Description())
}

// NumDevices implements backends.Backend.
func (b *Backend) NumDevices() int { return b.delegate.NumDevices() }

// DeviceDescription implements backends.Backend.
func (b *Backend) DeviceDescription(deviceNum backends.DeviceNum) string {
	return b.delegate.DeviceDescription(deviceNum)
}

// Capabilities implements backends.Backend: those of the delegate.
func (b *Backend) Capabilities() backends.Capabilities { return b.delegate.Capabilities() }

// Builder implements backends.Backend.
func (b *Backend) Builder(name string) backends.Builder { return newBuilder(b, name) }

// Finalize implements backends.Backend.
func (b *Backend) Finalize() {
	if b.finalized.Swap(true) {
		return
	}
	b.delegate.Finalize()
}

// IsFinalized implements backends.Backend.
func (b *Backend) IsFinalized() bool { return b.finalized.Load() }

// BufferFinalize implements backends.DataInterface.
func (b *Backend) BufferFinalize(buffer backends.Buffer) error {
	return b.delegate.BufferFinalize(buffer)
}

// BufferShape implements backends.DataInterface.
func (b *Backend) BufferShape(buffer backends.Buffer) (shapes.Shape, error) {
	return b.delegate.BufferShape(buffer)
}

// BufferDeviceNum implements backends.DataInterface.
func (b *Backend) BufferDeviceNum(buffer backends.Buffer) (backends.DeviceNum, error) {
	return b.delegate.BufferDeviceNum(buffer)
}

// BufferToFlatData implements backends.DataInterface.
func (b *Backend) BufferToFlatData(buffer backends.Buffer, flat any) error {
	return b.delegate.BufferToFlatData(buffer, flat)
}

// BufferFromFlatData implements backends.DataInterface.
func (b *Backend) BufferFromFlatData(deviceNum backends.DeviceNum, flat any, shape shapes.Shape) (backends.Buffer, error) {
	return b.delegate.BufferFromFlatData(deviceNum, flat, shape)
}

// HasSharedBuffers implements backends.DataInterface.
func (b *Backend) HasSharedBuffers() bool { return b.delegate.HasSharedBuffers() }

// NewSharedBuffer implements backends.DataInterface.
func (b *Backend) NewSharedBuffer(deviceNum backends.DeviceNum, shape shapes.Shape) (backends.Buffer, any, error) {
	return b.delegate.NewSharedBuffer(deviceNum, shape)
}

// BufferData implements backends.DataInterface.
func (b *Backend) BufferData(buffer backends.Buffer) (any, error) {
	return b.delegate.BufferData(buffer)
}

// BufferCopyToDevice implements backends.DataInterface.
func (b *Backend) BufferCopyToDevice(source backends.Buffer, deviceNum backends.DeviceNum) (backends.Buffer, error) {
	return b.delegate.BufferCopyToDevice(source, deviceNum)
}
