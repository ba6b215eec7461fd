// Package fast is a GoMLX backend, registered as "swav", that runs the
// expensive operations of convolutional networks (DotGeneral and ConvGeneral
// in float32) on the AVX2/FMA kernels of internal/gemm and delegates every
// other operation to a pure-Go GoMLX backend (by default the "swavgo" compat
// backend of backend/compat: simplego with sequential op scheduling plus
// Pad, Reverse and SelectAndScatter).
//
// # Design
//
// The Builder records the graph instead of building it: each of the ~150
// StandardOps methods (generated into gen_ops.go by internal/genops, by
// reflection over backends.StandardOps) appends a node with its inputs and a
// replay closure that re-issues the identical call on another
// backends.Builder. The same call is issued immediately on a "shadow"
// builder of the delegate, which validates it and infers output shapes, so
// errors and shapes are exactly the delegate's.
//
// Compile partitions the recorded graph. Hot nodes (float32 DotGeneral and
// ungrouped ConvGeneral) run on our kernels. Every other node is assigned to
// the earliest stage after all the hot nodes it depends on; each stage is
// replayed into one delegate builder (its cross-stage inputs become
// Parameters) and compiled into one delegate executable. Execute then runs
// strictly stage, hot phase, stage, …, so:
//
//   - per-op overhead stays that of the delegate within a stage (one
//     Execute per stage, not per op);
//   - no two delegate executions ever wait on each other, so simplego's
//     parallel scheduler hang cannot happen; parallelism lives inside the
//     kernels (internal/gemm splits each product over the cores);
//   - buffers are the delegate's host buffers (BufferData, NewSharedBuffer):
//     nothing is copied at stage boundaries. Intermediate buffers are
//     released (or donated to the stage that uses them last) as soon as
//     their last consumer ran.
//
// Convolutions of any axes layout are run as channels-last convolutions:
// operands whose layout differs (GoMLX's gradient convolutions swap batch
// and channel axes) are transposed into scratch buffers first, which costs
// one memory pass against a convolution's O(k·Cin) passes.
//
// # Measurements (2 vCPU AMD EPYC Zen 3, see bench/README.md)
//
// The micro-kernel reaches ~114 GFLOP per CPU-second with operands in L1
// (the core boosts above the 3.05 GHz of the 98 GFLOP/s reference peak);
// the blocked GEMM 95–99 on 1024³ and 86–99 on the ResNet im2col shapes;
// the indirect convolutions 75–105 on 3×3 layers with ≥ 32 channels.
// simplego's DotGeneral is 1–2.4 GFLOP/s and its convolution single-threaded
// direct loops, which is why replacing only these ops moves most of the time.
//
// # Configuration
//
// backends.NewWithConfig("swav") or "swav:opts" with comma-separated options:
//
//	workers=N    cap the goroutines of one kernel call (default GOMAXPROCS)
//	delegate=go  delegate to plain simplego ("go:ops_sequential") instead of swavgo
//	purego       use the portable Go micro-kernels (for comparison and tests)
//	nohot        run everything on the delegate (for comparison and tests)
//	stats        time every step; see Backend.Stats
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
	// minElements is the size from which elementwise ops run here.
	minElements int
	config      string
	stats       *opStats // Non-nil with the "stats" option.
	finalized   atomic.Bool
}

var _ backends.Backend = (*Backend)(nil)

// New creates a "swav" backend; config is described in the package documentation.
func New(config string) (backends.Backend, error) {
	var opts gemm.Options
	delegateName := compat.BackendName
	var noHot bool
	minElements := defaultMinHotElements
	withStats := false
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
		case "stats":
			withStats = true
		case "purego":
			opts.PureGo = true
		case "nohot":
			noHot = true
		default:
			return nil, fmt.Errorf("backend %s: unknown option %q (known: workers=N, delegate=swavgo|go, purego, nohot, stats, elementwise_min=N)",
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
	if withStats {
		b.stats = &opStats{}
	}
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
