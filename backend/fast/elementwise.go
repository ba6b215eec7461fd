package fast

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/swav-go/swav/internal/gemm"
)

// Large float32 elementwise operations (batch norm written from plain ops,
// ReLU, residual additions, their gradients) are memory-bound loops that
// simplego runs through a per-element broadcast iterator. Running them here,
// with strided inner loops split over the cores, removes most of the
// delegate's time. Small tensors stay on the delegate: they are cheap there
// and keeping them avoids fragmenting stages.

// defaultMinHotElements is the output size below which elementwise ops stay
// on the delegate (configurable with "elementwise_min=N").
const defaultMinHotElements = 1 << 14

// ewOp identifies an elementwise operation.
type ewOp int

const (
	ewCopy ewOp = iota // Unary copy (BroadcastInDim).
	ewNeg
	ewAbs
	ewSign
	ewSqrt
	ewRsqrt
	ewExp
	ewLog
	ewTanh
	ewAdd
	ewSub
	ewMul
	ewDiv
	ewMax
	ewMin
	ewExpMath // Exp by math.Exp per element (the "mathexp" option, for comparison).
)

var unaryOps = map[backends.OpType]ewOp{
	backends.OpTypeNeg: ewNeg, backends.OpTypeAbs: ewAbs, backends.OpTypeSign: ewSign,
	backends.OpTypeSqrt: ewSqrt, backends.OpTypeRsqrt: ewRsqrt, backends.OpTypeExp: ewExp,
	backends.OpTypeLog: ewLog, backends.OpTypeTanh: ewTanh,
}

// vecOps maps binary ewOps to the SIMD kernels of internal/gemm.
var vecOps = map[ewOp]gemm.VecOp{
	ewAdd: gemm.VecAdd, ewSub: gemm.VecSub, ewMul: gemm.VecMul, ewDiv: gemm.VecDiv, ewMax: gemm.VecMax, ewMin: gemm.VecMin,
}

var binaryOps = map[backends.OpType]ewOp{
	backends.OpTypeAdd: ewAdd, backends.OpTypeSub: ewSub, backends.OpTypeMul: ewMul,
	backends.OpTypeDiv: ewDiv, backends.OpTypeMax: ewMax, backends.OpTypeMin: ewMin,
}

// elementwiseKernel returns a kernel for a recorded unary or binary float32
// op with a large output, or nil to leave it to the delegate.
// With mathExp, Exp calls math.Exp per element instead of exp32 (same values).
func elementwiseKernel(opType backends.OpType, ins []*value, out shapes.Shape, minElements int, mathExp bool) (kernelFn, *ewInfo) {
	if out.DType != dtypes.Float32 || out.Size() < minElements {
		return nil, nil
	}
	for _, v := range ins {
		if v.shape.DType != dtypes.Float32 {
			return nil, nil
		}
	}
	if op, ok := unaryOps[opType]; ok && len(ins) == 1 && ins[0].shape.Equal(out) {
		if op == ewExp && mathExp {
			op = ewExpMath
		}
		info := &ewInfo{op: op, strides: [][]int{identityStrides(out.Dimensions)}}
		return newStridedPlan(out.Dimensions, info.strides).kernel(op, out), info
	}
	if op, ok := binaryOps[opType]; ok && len(ins) == 2 {
		var strides [][]int
		for _, v := range ins {
			s, ok := broadcastStrides(v.shape.Dimensions, out.Dimensions)
			if !ok {
				return nil, nil
			}
			strides = append(strides, s)
		}
		info := &ewInfo{op: op, strides: strides}
		return newStridedPlan(out.Dimensions, strides).kernel(op, out), info
	}
	return nil, nil
}

// ewInfo describes a hot elementwise node for fusion: its operation and, per
// input, the strides that map the input onto the node's output.
type ewInfo struct {
	op      ewOp
	strides [][]int
}

// identityStrides returns the row-major strides of dims.
func identityStrides(dims []int) []int {
	s := make([]int, len(dims))
	st := 1
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = st
		st *= dims[i]
	}
	return s
}

// broadcastStrides maps an operand of dims (same rank as out, with 1s where
// it is broadcast, or a scalar) onto the output: stride 0 on broadcast axes.
func broadcastStrides(dims, out []int) ([]int, bool) {
	if len(dims) == 0 {
		return make([]int, len(out)), true
	}
	if len(dims) != len(out) {
		return nil, false
	}
	s := identityStrides(dims)
	for i := range dims {
		switch {
		case dims[i] == out[i]:
		case dims[i] == 1:
			s[i] = 0
		default:
			return nil, false
		}
	}
	return s, true
}

// stridedPlan iterates over an output (collapsed to as few axes as possible)
// with one stride vector per operand.
type stridedPlan struct {
	dims    []int
	strides [][]int // [operand][axis]
}

func newStridedPlan(dims []int, strides [][]int) *stridedPlan {
	p := &stridedPlan{strides: make([][]int, len(strides))}
	for a := 0; a < len(dims); a++ {
		if dims[a] == 1 {
			continue
		}
		if k := len(p.dims) - 1; k >= 0 {
			mergeable := true
			for o := range strides {
				if p.strides[o][k] != strides[o][a]*dims[a] {
					mergeable = false
				}
			}
			if mergeable {
				p.dims[k] *= dims[a]
				for o := range strides {
					p.strides[o][k] = strides[o][a]
				}
				continue
			}
		}
		p.dims = append(p.dims, dims[a])
		for o := range strides {
			p.strides[o] = append(p.strides[o], strides[o][a])
		}
	}
	if len(p.dims) == 0 {
		p.dims = []int{1}
		for o := range strides {
			p.strides[o] = []int{0}
		}
	}
	return p
}

// kernel returns a kernelFn applying op over the plan into a new buffer of shape out.
func (p *stridedPlan) kernel(op ewOp, out shapes.Shape) kernelFn {
	outShape := out.Clone()
	return func(b *Backend, in []backends.Buffer) (backends.Buffer, error) {
		srcs, err := float32Inputs(b, in, "elementwise input")
		if err != nil {
			return nil, err
		}
		buf, dst, err := newFloat32Buffer(b, outShape.Dimensions)
		if err != nil {
			return nil, err
		}
		p.run(b.engine, op, dst, srcs)
		return buf, nil
	}
}

func (p *stridedPlan) run(e *gemm.Engine, op ewOp, dst []float32, srcs [][]float32) {
	workers := e.Workers()
	r := len(p.dims)
	inner := p.dims[r-1]
	rows := len(dst) / inner
	chunks := 1
	if len(dst) >= 1<<16 {
		chunks = min(piecesPerWorker*workers, rows)
	}
	_ = parallelFor(workers, chunks, func(c int) error {
		r0, r1 := rows*c/chunks, rows*(c+1)/chunks
		idx := make([]int, r-1)
		offs := make([]int, len(srcs))
		rest := r0
		for a := r - 2; a >= 0; a-- {
			idx[a] = rest % p.dims[a]
			rest /= p.dims[a]
			for o := range srcs {
				offs[o] += idx[a] * p.strides[o][a]
			}
		}
		for row := r0; row < r1; row++ {
			d := dst[row*inner : (row+1)*inner]
			if len(srcs) == 1 {
				unaryRun(e, op, d, srcs[0][offs[0]:], p.strides[0][r-1])
			} else {
				binaryRun(e, op, d, srcs[0][offs[0]:], p.strides[0][r-1], srcs[1][offs[1]:], p.strides[1][r-1])
			}
			for a := r - 2; a >= 0; a-- {
				idx[a]++
				for o := range srcs {
					offs[o] += p.strides[o][a]
				}
				if idx[a] < p.dims[a] {
					break
				}
				for o := range srcs {
					offs[o] -= idx[a] * p.strides[o][a]
				}
				idx[a] = 0
			}
		}
		return nil
	})
}

// unaryRun computes d[j] = op(x[j·step]) (step is 0 or 1 after collapsing, or any stride).
func unaryRun(e *gemm.Engine, op ewOp, d, x []float32, step int) {
	switch {
	case step == 0 && op == ewCopy:
		v := x[0]
		for j := range d {
			d[j] = v
		}
		return
	case step != 1:
		// Gather into d, then apply op in place.
		for j := range d {
			d[j] = x[j*step]
		}
		if op == ewCopy {
			return
		}
		x = d
	}
	x = x[:len(d)]
	switch op {
	case ewCopy:
		copy(d, x)
	case ewNeg:
		for j, v := range x {
			d[j] = -v
		}
	case ewAbs:
		for j, v := range x {
			d[j] = float32(math.Abs(float64(v)))
		}
	case ewSign:
		if e.VecSign(d, x) {
			return
		}
		for j, v := range x {
			d[j] = sign32(v)
		}
	case ewSqrt:
		for j, v := range x {
			d[j] = float32(math.Sqrt(float64(v)))
		}
	case ewRsqrt:
		for j, v := range x {
			d[j] = float32(1 / math.Sqrt(float64(v)))
		}
	case ewExp:
		exp32(d, x, e.UsesAsm()) // float32(math.Exp(float64(v))) bit for bit, faster.
	case ewExpMath:
		for j, v := range x {
			d[j] = float32(math.Exp(float64(v)))
		}
	case ewLog:
		for j, v := range x {
			d[j] = float32(math.Log(float64(v)))
		}
	case ewTanh:
		for j, v := range x {
			d[j] = float32(math.Tanh(float64(v)))
		}
	}
}

// max32/min32 propagate NaN like XLA. Go's builtins compile to branch-free
// code, which matters for ReLU, whose comparisons are unpredictable.
func max32(a, b float32) float32 { return max(a, b) }

func min32(a, b float32) float32 { return min(a, b) }

// sign32 returns ±1 with the sign of v, or v itself for ±0 and NaN, without
// branches (ReLU gradients take the sign of unpredictable values).
func sign32(v float32) float32 {
	bits := math.Float32bits(v)
	x := bits&0x7fffffff - 1 // 0 < |v| ≤ +Inf ⟺ x < 0x7f800000 (unsigned; 0 wraps around).
	mask := uint32((int64(x) - 0x7f800000) >> 63)
	return math.Float32frombits(mask&(bits&0x80000000|0x3f800000) | ^mask&bits)
}

// binaryRun computes d[j] = op(x[j·sx], y[j·sy]).
func binaryRun(e *gemm.Engine, op ewOp, d, x []float32, sx int, y []float32, sy int) {
	n := len(d)
	switch {
	case sx == 1 && sy == 1:
		x, y = x[:n], y[:n]
		if e.VecBinary(vecOps[op], d, x, y) {
			return
		}
		switch op {
		case ewAdd:
			for j := range d {
				d[j] = x[j] + y[j]
			}
		case ewSub:
			for j := range d {
				d[j] = x[j] - y[j]
			}
		case ewMul:
			for j := range d {
				d[j] = x[j] * y[j]
			}
		case ewDiv:
			for j := range d {
				d[j] = x[j] / y[j]
			}
		case ewMax:
			for j := range d {
				d[j] = max32(x[j], y[j])
			}
		case ewMin:
			for j := range d {
				d[j] = min32(x[j], y[j])
			}
		}
	case sy == 0 && sx == 1:
		x = x[:n]
		s := y[0]
		switch op {
		case ewAdd:
			for j, v := range x {
				d[j] = v + s
			}
		case ewSub:
			for j, v := range x {
				d[j] = v - s
			}
		case ewMul:
			for j, v := range x {
				d[j] = v * s
			}
		case ewDiv:
			for j, v := range x {
				d[j] = v / s
			}
		case ewMax:
			for j, v := range x {
				d[j] = max32(v, s)
			}
		case ewMin:
			for j, v := range x {
				d[j] = min32(v, s)
			}
		}
	case sx == 0 && sy == 1:
		y = y[:n]
		s := x[0]
		switch op {
		case ewAdd:
			for j, v := range y {
				d[j] = s + v
			}
		case ewSub:
			for j, v := range y {
				d[j] = s - v
			}
		case ewMul:
			for j, v := range y {
				d[j] = s * v
			}
		case ewDiv:
			for j, v := range y {
				d[j] = s / v
			}
		case ewMax:
			for j, v := range y {
				d[j] = max32(s, v)
			}
		case ewMin:
			for j, v := range y {
				d[j] = min32(s, v)
			}
		}
	default:
		for j := range d {
			a, b := x[j*sx], y[j*sy]
			switch op {
			case ewAdd:
				d[j] = a + b
			case ewSub:
				d[j] = a - b
			case ewMul:
				d[j] = a * b
			case ewDiv:
				d[j] = a / b
			case ewMax:
				d[j] = max32(a, b)
			case ewMin:
				d[j] = min32(a, b)
			}
		}
	}
}

// broadcastKernel returns a kernel for BroadcastInDim of a float32 operand
// into a large output, or nil.
func broadcastKernel(in shapes.Shape, out shapes.Shape, axes []int, minElements int) (kernelFn, *ewInfo) {
	if in.DType != dtypes.Float32 || out.DType != dtypes.Float32 || out.Size() < minElements || len(axes) != in.Rank() {
		return nil, nil
	}
	inStrides := identityStrides(in.Dimensions)
	strides := make([]int, out.Rank())
	for j, a := range axes {
		if a < 0 || a >= out.Rank() {
			return nil, nil
		}
		switch in.Dimensions[j] {
		case out.Dimensions[a]:
			strides[a] = inStrides[j]
		case 1:
		default:
			return nil, nil
		}
	}
	info := &ewInfo{op: ewCopy, strides: [][]int{strides}}
	return newStridedPlan(out.Dimensions, info.strides).kernel(ewCopy, out), info
}

// reducePlan is a ReduceSum/ReduceMax of a large float32 operand: the
// operand's dims collapsed with the output's strides over them (0 on reduced
// axes).
type reducePlan struct {
	plan     *stridedPlan
	isMax    bool
	size     int // Elements of the operand.
	outShape shapes.Shape
}

// newReducePlan returns the plan of ReduceSum/ReduceMax of in over axes, or nil
// when it does not run here.
func newReducePlan(opType backends.OpType, in shapes.Shape, out shapes.Shape, axes []int, minElements int) *reducePlan {
	if in.DType != dtypes.Float32 || out.DType != dtypes.Float32 || in.Size() < minElements {
		return nil
	}
	if opType != backends.OpTypeReduceSum && opType != backends.OpTypeReduceMax {
		return nil
	}
	reduced := make([]bool, in.Rank())
	for _, a := range axes {
		if a < 0 || a >= in.Rank() {
			return nil
		}
		reduced[a] = true
	}
	// Output strides over the input axes (0 on reduced ones), then collapse.
	outStrides := make([]int, in.Rank())
	st := 1
	for a := in.Rank() - 1; a >= 0; a-- {
		if !reduced[a] {
			outStrides[a] = st
			st *= in.Dimensions[a]
		}
	}
	if st != out.Size() {
		return nil
	}
	return &reducePlan{plan: newStridedPlan(in.Dimensions, [][]int{outStrides}),
		isMax: opType == backends.OpTypeReduceMax, size: in.Size(), outShape: out.Clone()}
}

// init returns the reduction's identity element.
func (r *reducePlan) init() float32 {
	if r.isMax {
		return float32(math.Inf(-1))
	}
	return 0
}

// kernel reduces the materialised operand.
func (r *reducePlan) kernel() kernelFn {
	return func(b *Backend, bufs []backends.Buffer) (backends.Buffer, error) {
		x, err := bufferFloat32(b, bufs[0])
		if err != nil {
			return nil, fmt.Errorf("reduce input: %w", err)
		}
		buf, dst, err := newFloat32Buffer(b, r.outShape.Dimensions)
		if err != nil {
			return nil, err
		}
		inner := r.plan.dims[len(r.plan.dims)-1]
		blockRows := reduceBlockRows(inner)
		r.plan.reduceParallel(b.engine, r.isMax, r.init(), dst, len(x), func(part []float32, r0, r1 int) {
			for rb := r0; rb < r1; rb += blockRows {
				r.plan.reduce(b.engine, r.isMax, part, x, 0, rb, min(rb+blockRows, r1))
			}
		})
		return buf, nil
	}
}

// reduceParallel initialises dst with init and reduces an operand of size
// elements into it: reduceRows(part, r0, r1) accumulates the operand's rows
// [r0, r1) into part. Large operands are split by rows over workers, each
// reducing into its own partial output, which are then combined — always in
// the same order for the same shapes and workers.
func (p *stridedPlan) reduceParallel(e *gemm.Engine, isMax bool, init float32, dst []float32, size int,
	reduceRows func(part []float32, r0, r1 int)) {
	workers := e.Workers()
	rows := size / p.dims[len(p.dims)-1]
	w := 1
	if size >= 1<<16 && len(dst) <= size/16 {
		w = min(workers, rows)
	}
	parts := make([][]float32, w)
	_ = parallelFor(w, w, func(i int) error {
		part := dst
		if i > 0 {
			part = make([]float32, len(dst))
		}
		for j := range part {
			part[j] = init
		}
		reduceRows(part, rows*i/w, rows*(i+1)/w)
		parts[i] = part
		return nil
	})
	for _, part := range parts[1:] {
		for j, v := range part {
			if isMax {
				dst[j] = max32(dst[j], v)
			} else {
				dst[j] += v
			}
		}
	}
}

// reduceGroup rows are added with one vector call when a reduction's rows
// (of at most maxGroupedInner floats) all add into one output row.
const (
	reduceGroup     = 8
	maxGroupedInner = 512
)

// reduceBlockRows is how many rows of the operand a reduction takes at a time
// (a fused operand is evaluated into a buffer of that many rows); the
// materialised and the fused forms use the same blocks, so they sum in the
// same order.
func reduceBlockRows(inner int) int { return max(1, 4*fusionChunk/inner) }

// oneOutputRow reports whether every row of a reduction adds into output
// offset 0 (all axes but the innermost reduced).
func (p *stridedPlan) oneOutputRow() bool {
	for _, st := range p.strides[0][:len(p.dims)-1] {
		if st != 0 {
			return false
		}
	}
	return true
}

// reduce accumulates rows [r0, r1) of the operand (iterated in row-major order
// over the plan's dims, which are the operand's) into dst at the plan's output
// strides; x holds the operand from row xRow0 on.
func (p *stridedPlan) reduce(e *gemm.Engine, isMax bool, dst, x []float32, xRow0, r0, r1 int) {
	r := len(p.dims)
	inner := p.dims[r-1]
	innerStride := p.strides[0][r-1]
	if !isMax && innerStride == 1 && inner <= maxGroupedInner && r1-r0 >= reduceGroup && p.oneOutputRow() {
		// Every row adds into the same output row (batch norm's sums over
		// N·H·W of C channels): add groups of reduceGroup rows into as many
		// partial rows with one vector call each, then the partial rows in
		// order, then the rows left over.
		acc := make([]float32, reduceGroup*inner)
		g := (r1 - r0) / reduceGroup * reduceGroup
		for row := r0; row < r0+g; row += reduceGroup {
			src := x[(row-xRow0)*inner : (row-xRow0+reduceGroup)*inner]
			if !e.VecBinary(gemm.VecAdd, acc, acc, src) {
				for j, v := range src {
					acc[j] += v
				}
			}
		}
		d := dst[:inner]
		for j := range d {
			s := acc[j]
			for k := 1; k < reduceGroup; k++ {
				s += acc[k*inner+j]
			}
			d[j] += s
		}
		for row := r0 + g; row < r1; row++ {
			src := x[(row-xRow0)*inner : (row-xRow0+1)*inner]
			for j, v := range src {
				d[j] += v
			}
		}
		return
	}
	idx := make([]int, r-1)
	off := 0
	rest := r0
	for a := r - 2; a >= 0; a-- {
		idx[a] = rest % p.dims[a]
		rest /= p.dims[a]
		off += idx[a] * p.strides[0][a]
	}
	for row := r0; row < r1; row++ {
		src := x[(row-xRow0)*inner : (row-xRow0+1)*inner]
		switch {
		case innerStride == 0 && !isMax:
			var acc float32
			for _, v := range src {
				acc += v
			}
			dst[off] += acc
		case innerStride == 0:
			acc := dst[off]
			for _, v := range src {
				acc = max32(acc, v)
			}
			dst[off] = acc
		case !isMax:
			d := dst[off : off+inner]
			if !e.VecBinary(gemm.VecAdd, d, d, src) {
				for j, v := range src {
					d[j] += v
				}
			}
		default:
			d := dst[off : off+inner]
			for j, v := range src {
				d[j] = max32(d[j], v)
			}
		}
		for a := r - 2; a >= 0; a-- {
			idx[a]++
			off += p.strides[0][a]
			if idx[a] < p.dims[a] {
				break
			}
			off -= idx[a] * p.strides[0][a]
			idx[a] = 0
		}
	}
}

// BroadcastInDim records a BroadcastInDim node; large float32 broadcasts run here.
func (b *Builder) BroadcastInDim(x backends.Op, outputShape shapes.Shape, broadcastAxes []int) (backends.Op, error) {
	outputShape = outputShape.Clone()
	broadcastAxes = slices.Clone(broadcastAxes)
	op, err := b.record1(backends.OpTypeBroadcastInDim, []backends.Op{x},
		func(d backends.Builder, in []backends.Op) ([]backends.Op, error) {
			o, err := d.BroadcastInDim(in[0], outputShape, broadcastAxes)
			return []backends.Op{o}, err
		}, nil)
	if err != nil {
		return nil, err
	}
	if n := b.nodes[len(b.nodes)-1]; !b.backend.noHot {
		n.kernel, n.ew = broadcastKernel(n.inputs[0].shape, n.outputs[0].shape, broadcastAxes, b.backend.minElements)
	}
	return op, nil
}

func (b *Builder) recordReduce(opType backends.OpType, x backends.Op, axes []int,
	call func(d backends.Builder, x backends.Op, axes ...int) (backends.Op, error)) (backends.Op, error) {
	axes = slices.Clone(axes)
	op, err := b.record1(opType, []backends.Op{x}, func(d backends.Builder, in []backends.Op) ([]backends.Op, error) {
		o, err := call(d, in[0], axes...)
		return []backends.Op{o}, err
	}, nil)
	if err != nil {
		return nil, err
	}
	if n := b.nodes[len(b.nodes)-1]; !b.backend.noHot {
		if plan := newReducePlan(opType, n.inputs[0].shape, n.outputs[0].shape, axes, b.backend.minElements); plan != nil {
			n.kernel = plan.kernel()
			if !plan.isMax {
				n.reduce = plan
			}
		}
	}
	return op, nil
}

// ReduceSum records a ReduceSum node; large float32 reductions run here.
func (b *Builder) ReduceSum(x backends.Op, axes ...int) (backends.Op, error) {
	return b.recordReduce(backends.OpTypeReduceSum, x, axes, backends.Builder.ReduceSum)
}

// ReduceMax records a ReduceMax node; large float32 reductions run here.
func (b *Builder) ReduceMax(x backends.Op, axes ...int) (backends.Op, error) {
	return b.recordReduce(backends.OpTypeReduceMax, x, axes, backends.Builder.ReduceMax)
}
