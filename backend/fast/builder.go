package fast

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// replayFn re-issues a recorded call on builder d with the given inputs.
type replayFn func(d backends.Builder, in []backends.Op) ([]backends.Op, error)

// kernelFn runs a hot node on the backend's own kernels. in holds the input
// buffers (delegate buffers); it returns a new buffer owned by the caller.
type kernelFn func(b *Backend, in []backends.Buffer) (backends.Buffer, error)

// node is one recorded operation.
type node struct {
	id      int
	opType  backends.OpType
	inputs  []*value
	outputs []*value
	replay  replayFn
	kernel  kernelFn  // Non-nil for hot nodes.
	param   int       // Index among the builder's parameters, or -1.
	name    string    // Parameter name.
	label   string    // Step kind in Backend.Stats; the op type when empty.
	ew      *ewInfo   // Set for hot elementwise nodes (candidates for fusion).
	conv    *convPlan // Set for hot convolutions (candidates for an epilogue).
	// reduce is set for hot float32 ReduceSum nodes (candidates for reading a
	// fused elementwise program instead of a materialised operand).
	reduce *reducePlan
}

// value is one output of a node: the backends.Op handed to GoMLX.
type value struct {
	builder *Builder
	node    *node
	id      int
	shape   shapes.Shape
	shadow  backends.Op
}

// Builder records a graph; see the package documentation.
type Builder struct {
	backend  *Backend
	name     string
	shadow   backends.Builder
	nodes    []*node
	values   []*value
	params   []*node
	compiled bool
}

var _ backends.Builder = (*Builder)(nil)

func newBuilder(b *Backend, name string) *Builder {
	return &Builder{backend: b, name: name, shadow: b.delegate.Builder(name)}
}

// Name implements backends.Builder.
func (b *Builder) Name() string { return b.name }

// errForeignOp is wrapped when an op from another builder or backend is used.
var errForeignOp = errors.New("op was not created by this builder")

func (b *Builder) toValues(what string, ops []backends.Op) ([]*value, error) {
	vals := make([]*value, len(ops))
	for i, op := range ops {
		v, ok := op.(*value)
		if !ok || v == nil || v.builder != b {
			return nil, fmt.Errorf("backend %s, builder %q, %s: input #%d (%T): %w", BackendName, b.name, what, i, op, errForeignOp)
		}
		vals[i] = v
	}
	return vals, nil
}

// record validates a call on the shadow builder and appends it as a node.
func (b *Builder) record(opType backends.OpType, inputs []backends.Op, nOut int, replay replayFn, kernel kernelFn) ([]backends.Op, error) {
	if b.compiled {
		return nil, fmt.Errorf("backend %s: cannot add %s to builder %q: already compiled", BackendName, opType, b.name)
	}
	ins, err := b.toValues(opType.String(), inputs)
	if err != nil {
		return nil, err
	}
	shadowIns := make([]backends.Op, len(ins))
	for i, v := range ins {
		shadowIns[i] = v.shadow
	}
	outs, err := replay(b.shadow, shadowIns)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %s: %w", BackendName, opType, err)
	}
	if len(outs) != nOut {
		return nil, fmt.Errorf("backend %s: %s returned %d outputs, expected %d", BackendName, opType, len(outs), nOut)
	}
	n := &node{id: len(b.nodes), opType: opType, inputs: ins, replay: replay, kernel: kernel, param: -1}
	result := make([]backends.Op, nOut)
	defer func() {
		if n.kernel == nil && !b.backend.noHot && nOut == 1 && len(n.outputs) == 1 {
			n.kernel, n.ew = elementwiseKernel(opType, ins, n.outputs[0].shape, b.backend.minElements, b.backend.mathExp)
		}
	}()
	for i, o := range outs {
		shape, err := b.shadow.OpShape(o)
		if err != nil {
			return nil, fmt.Errorf("backend %s: shape of %s output #%d: %w", BackendName, opType, i, err)
		}
		v := &value{builder: b, node: n, id: len(b.values), shape: shape, shadow: o}
		b.values = append(b.values, v)
		n.outputs = append(n.outputs, v)
		result[i] = v
	}
	b.nodes = append(b.nodes, n)
	return result, nil
}

func (b *Builder) record1(opType backends.OpType, inputs []backends.Op, replay replayFn, kernel kernelFn) (backends.Op, error) {
	outs, err := b.record(opType, inputs, 1, replay, kernel)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// OpShape implements backends.Builder.
func (b *Builder) OpShape(op backends.Op) (shapes.Shape, error) {
	vals, err := b.toValues("OpShape", []backends.Op{op})
	if err != nil {
		return shapes.Invalid(), err
	}
	return vals[0].shape, nil
}

// Parameter implements backends.Builder.
func (b *Builder) Parameter(name string, shape shapes.Shape, sharding *backends.ShardingSpec) (backends.Op, error) {
	if sharding != nil {
		return nil, fmt.Errorf("backend %s: sharding is not supported (parameter %q)", BackendName, name)
	}
	shape = shape.Clone()
	op, err := b.record1(backends.OpTypeParameter, nil, func(d backends.Builder, _ []backends.Op) ([]backends.Op, error) {
		o, err := d.Parameter(name, shape, nil)
		return []backends.Op{o}, err
	}, nil)
	if err != nil {
		return nil, err
	}
	n := b.nodes[len(b.nodes)-1]
	n.param, n.name = len(b.params), name
	b.params = append(b.params, n)
	return op, nil
}

// Constant implements backends.Builder. The flat data is copied.
func (b *Builder) Constant(flat any, dims ...int) (backends.Op, error) {
	fv := reflect.ValueOf(flat)
	if fv.Kind() != reflect.Slice {
		return nil, fmt.Errorf("backend %s: Constant needs a slice, got %T", BackendName, flat)
	}
	cp := reflect.MakeSlice(fv.Type(), fv.Len(), fv.Len())
	reflect.Copy(cp, fv)
	data := cp.Interface()
	dims = append([]int(nil), dims...)
	return b.record1(backends.OpTypeConstant, nil, func(d backends.Builder, _ []backends.Op) ([]backends.Op, error) {
		o, err := d.Constant(data, dims...)
		return []backends.Op{o}, err
	}, nil)
}

// DistributedSPMD implements backends.Builder: not supported.
func (b *Builder) DistributedSPMD(numDevices int) error {
	if numDevices <= 1 {
		return nil
	}
	return fmt.Errorf("backend %s: distributed execution is not supported", BackendName)
}

// DistributedAutoSharding implements backends.Builder: not supported.
func (b *Builder) DistributedAutoSharding(meshes ...backends.Mesh) error {
	return fmt.Errorf("backend %s: distributed execution is not supported", BackendName)
}

// DeviceAssignment implements backends.Builder: only device 0 exists.
func (b *Builder) DeviceAssignment(devices ...backends.DeviceNum) error {
	for _, d := range devices {
		if d != 0 {
			return fmt.Errorf("backend %s: only device 0 exists, got %d", BackendName, d)
		}
	}
	return nil
}

// AllReduce implements backends.CollectiveOps: not supported (single device).
func (b *Builder) AllReduce(operands []backends.Op, reductionType backends.ReduceOpType, replicaGroups [][]int) ([]backends.Op, error) {
	return nil, fmt.Errorf("backend %s: AllReduce is not supported (single device)", BackendName)
}
