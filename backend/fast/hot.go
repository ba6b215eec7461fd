package fast

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/swav-go/swav/internal/gemm"
)

// DotGeneral records a DotGeneral node; float32 products run on internal/gemm.
func (b *Builder) DotGeneral(lhs backends.Op, lhsContractingAxes, lhsBatchAxes []int,
	rhs backends.Op, rhsContractingAxes, rhsBatchAxes []int) (backends.Op, error) {
	lc, lb := slices.Clone(lhsContractingAxes), slices.Clone(lhsBatchAxes)
	rc, rb := slices.Clone(rhsContractingAxes), slices.Clone(rhsBatchAxes)
	plan := &dotPlan{}
	op, err := b.record1(backends.OpTypeDotGeneral, []backends.Op{lhs, rhs},
		func(d backends.Builder, in []backends.Op) ([]backends.Op, error) {
			o, err := d.DotGeneral(in[0], lc, lb, in[1], rc, rb)
			return []backends.Op{o}, err
		}, plan.run)
	if err != nil {
		return nil, err
	}
	n := b.nodes[len(b.nodes)-1]
	if b.backend.noHot || !plan.init(n.inputs[0].shape, n.inputs[1].shape, n.outputs[0].shape, lc, lb, rc, rb) {
		n.kernel = nil
	}
	return op, nil
}

// ConvGeneral records a ConvGeneral node; float32 convolutions without
// channel or batch grouping run on internal/gemm.
func (b *Builder) ConvGeneral(input, kernel backends.Op, axes backends.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int,
	channelGroupCount, batchGroupCount int) (backends.Op, error) {
	axes = axes.Clone()
	strides, paddings = slices.Clone(strides), slices.Clone(paddings)
	inputDilations, kernelDilations = slices.Clone(inputDilations), slices.Clone(kernelDilations)
	plan := &convPlan{}
	op, err := b.record1(backends.OpTypeConvGeneral, []backends.Op{input, kernel},
		func(d backends.Builder, in []backends.Op) ([]backends.Op, error) {
			o, err := d.ConvGeneral(in[0], in[1], axes, strides, paddings, inputDilations, kernelDilations,
				channelGroupCount, batchGroupCount)
			return []backends.Op{o}, err
		}, plan.run)
	if err != nil {
		return nil, err
	}
	n := b.nodes[len(b.nodes)-1]
	if b.backend.noHot || channelGroupCount > 1 || batchGroupCount > 1 ||
		!plan.init(n.inputs[0].shape, n.inputs[1].shape, n.outputs[0].shape, axes, strides, paddings, inputDilations, kernelDilations) {
		n.kernel = nil
	} else {
		if b.backend.noKernelGrad {
			plan.kernelGrad = nil
		}
		n.label = plan.label()
		if b.backend.statShapes {
			n.label += plan.shapeLabel()
		}
		n.conv = plan
	}
	return op, nil
}

// isIdentity reports whether perm is 0, 1, 2, ….
func isIdentity(perm []int) bool {
	for i, p := range perm {
		if p != i {
			return false
		}
	}
	return true
}

// freeAxes returns the axes of a rank-r tensor not in any of the lists, ascending.
func freeAxes(rank int, used ...[]int) []int {
	var free []int
	for a := 0; a < rank; a++ {
		in := false
		for _, u := range used {
			in = in || slices.Contains(u, a)
		}
		if !in {
			free = append(free, a)
		}
	}
	return free
}

func gather(dims, axes []int) []int {
	out := make([]int, len(axes))
	for i, a := range axes {
		out[i] = dims[a]
	}
	return out
}

func product(dims []int) int {
	p := 1
	for _, d := range dims {
		p *= d
	}
	return p
}

// operand describes how a kernel reads one input: either in place, or after
// a transposition into a scratch buffer.
type operand struct {
	dims []int // Dimensions of the stored input.
	perm []int // Nil: read in place; else transpose with this permutation first.
}

// prepare returns the operand's data in the layout the kernel expects and a
// release function for any scratch buffer.
func (o *operand) prepare(b *Backend, buf backends.Buffer) ([]float32, func(), error) {
	flat, err := bufferFloat32(b, buf)
	if err != nil {
		return nil, nil, err
	}
	if o.perm == nil {
		return flat, func() {}, nil
	}
	tdims := gather(o.dims, o.perm)
	tmp, tflat, err := newFloat32Buffer(b, tdims)
	if err != nil {
		return nil, nil, err
	}
	transpose(tflat, flat, o.dims, o.perm, b.engine.Workers())
	return tflat, func() { _ = b.delegate.BufferFinalize(tmp) }, nil
}

func bufferFloat32(b *Backend, buf backends.Buffer) ([]float32, error) {
	data, err := b.delegate.BufferData(buf)
	if err != nil {
		return nil, fmt.Errorf("reading buffer: %w", err)
	}
	flat, ok := data.([]float32)
	if !ok {
		return nil, fmt.Errorf("buffer holds %T, want []float32", data)
	}
	return flat, nil
}

// float32Inputs returns the float32 data of every buffer in bufs; what names
// them in errors (e.g. "fused input").
func float32Inputs(b *Backend, bufs []backends.Buffer, what string) ([][]float32, error) {
	srcs := make([][]float32, len(bufs))
	for i, buf := range bufs {
		f, err := bufferFloat32(b, buf)
		if err != nil {
			return nil, fmt.Errorf("%s #%d: %w", what, i, err)
		}
		srcs[i] = f
	}
	return srcs, nil
}

func newFloat32Buffer(b *Backend, dims []int) (backends.Buffer, []float32, error) {
	buf, data, err := b.delegate.NewSharedBuffer(0, shapes.Make(dtypes.Float32, dims...))
	if err != nil {
		return nil, nil, fmt.Errorf("allocating buffer %v: %w", dims, err)
	}
	flat, ok := data.([]float32)
	if !ok {
		_ = b.delegate.BufferFinalize(buf)
		return nil, nil, fmt.Errorf("delegate allocated %T, want []float32", data)
	}
	return buf, flat, nil
}

// dotPlan runs DotGeneral as batched GEMMs: lhs viewed as [batch, m, k] (or
// [batch, k, m], transposed), rhs as [batch, k, n] (or [batch, n, k]), output
// [batch, m, n] which is GoMLX's output layout (batch, lhs free, rhs free).
type dotPlan struct {
	lhs, rhs       operand
	transA, transB bool
	batch, m, n, k int
	outShape       shapes.Shape
}

func (p *dotPlan) init(lhs, rhs, out shapes.Shape, lc, lb, rc, rb []int) bool {
	if lhs.DType != dtypes.Float32 || rhs.DType != dtypes.Float32 || out.DType != dtypes.Float32 {
		return false
	}
	lf := freeAxes(lhs.Rank(), lc, lb)
	rf := freeAxes(rhs.Rank(), rc, rb)
	p.batch = product(gather(lhs.Dimensions, lb))
	p.m = product(gather(lhs.Dimensions, lf))
	p.k = product(gather(lhs.Dimensions, lc))
	p.n = product(gather(rhs.Dimensions, rf))
	if out.Size() != p.batch*p.m*p.n {
		return false
	}
	p.outShape = out
	p.lhs.dims, p.rhs.dims = lhs.Dimensions, rhs.Dimensions
	mk := slices.Concat(lb, lf, lc)
	km := slices.Concat(lb, lc, lf)
	switch {
	case isIdentity(mk):
	case isIdentity(km):
		p.transA = true
	default:
		p.lhs.perm = mk
	}
	kn := slices.Concat(rb, rc, rf)
	nk := slices.Concat(rb, rf, rc)
	switch {
	case isIdentity(kn):
	case isIdentity(nk):
		p.transB = true
	default:
		p.rhs.perm = kn
	}
	return true
}

// minParallelBatchFlops: below this many flops per product, batched
// DotGenerals run their products in parallel instead of splitting each one.
const minParallelBatchFlops = 1 << 22

func (p *dotPlan) run(b *Backend, in []backends.Buffer) (backends.Buffer, error) {
	lhs, relL, err := p.lhs.prepare(b, in[0])
	if err != nil {
		return nil, fmt.Errorf("DotGeneral lhs: %w", err)
	}
	defer relL()
	rhs, relR, err := p.rhs.prepare(b, in[1])
	if err != nil {
		return nil, fmt.Errorf("DotGeneral rhs: %w", err)
	}
	defer relR()
	out, outFlat, err := newFloat32Buffer(b, p.outShape.Dimensions)
	if err != nil {
		return nil, fmt.Errorf("DotGeneral: %w", err)
	}
	lda, ldb := p.k, p.n
	if p.transA {
		lda = p.m
	}
	if p.transB {
		ldb = p.k
	}
	mk, kn, mn := p.m*p.k, p.k*p.n, p.m*p.n
	one := func(e *gemm.Engine, i int) error {
		return e.Sgemm(p.transA, p.transB, p.m, p.n, p.k, 1, lhs[i*mk:(i+1)*mk], lda,
			rhs[i*kn:(i+1)*kn], ldb, 0, outFlat[i*mn:(i+1)*mn], p.n)
	}
	workers := b.engine.Workers()
	if p.batch >= 2 && workers > 1 && 2*float64(mk)*float64(p.n) < minParallelBatchFlops {
		err = parallelFor(workers, p.batch, func(i int) error { return one(b.engine1, i) })
	} else {
		for i := 0; i < p.batch && err == nil; i++ {
			err = one(b.engine, i)
		}
	}
	if err != nil {
		_ = b.delegate.BufferFinalize(out)
		return nil, fmt.Errorf("DotGeneral: %w", err)
	}
	return out, nil
}

// convPlan runs ConvGeneral as a channels-last convolution (gemm.Conv),
// transposing operands and result when their layout differs.
type convPlan struct {
	input, kernel operand
	params        gemm.ConvParams
	outCanonical  []int // Output dims in [batch, spatial…, channels] order.
	outPerm       []int // Nil, or the permutation from canonical to actual output layout.
	outShape      shapes.Shape
	// kernelGrad, when set, is the forward convolution whose kernel gradient this
	// node computes (GoMLX's reverse convolution of the input by the output
	// gradient): run as gemm.ConvKernelGrad on the untransposed operands.
	kernelGrad *gemm.ConvParams
}

func (p *convPlan) init(in, ker, out shapes.Shape, axes backends.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int) bool {
	if in.DType != dtypes.Float32 || ker.DType != dtypes.Float32 || out.DType != dtypes.Float32 {
		return false
	}
	d := len(axes.InputSpatial)
	if len(axes.KernelSpatial) != d || len(axes.OutputSpatial) != d || in.Rank() != d+2 || ker.Rank() != d+2 || out.Rank() != d+2 {
		return false
	}
	inPerm := slices.Concat([]int{axes.InputBatch}, axes.InputSpatial, []int{axes.InputChannels})
	kerPerm := slices.Concat(axes.KernelSpatial, []int{axes.KernelInputChannels, axes.KernelOutputChannels})
	outOrder := slices.Concat([]int{axes.OutputBatch}, axes.OutputSpatial, []int{axes.OutputChannels})
	p.input.dims, p.kernel.dims = in.Dimensions, ker.Dimensions
	if !isIdentity(inPerm) {
		p.input.perm = inPerm
	}
	if !isIdentity(kerPerm) {
		p.kernel.perm = kerPerm
	}
	p.outCanonical = gather(out.Dimensions, outOrder)
	if !isIdentity(outOrder) {
		p.outPerm = make([]int, len(outOrder))
		for j, a := range outOrder {
			p.outPerm[a] = j
		}
	}
	p.outShape = out
	p.params = gemm.ConvParams{
		Batch:           in.Dimensions[axes.InputBatch],
		InChannels:      in.Dimensions[axes.InputChannels],
		OutChannels:     ker.Dimensions[axes.KernelOutputChannels],
		InSpatial:       gather(in.Dimensions, axes.InputSpatial),
		KernelSpatial:   gather(ker.Dimensions, axes.KernelSpatial),
		OutSpatial:      gather(out.Dimensions, axes.OutputSpatial),
		Strides:         strides,
		Paddings:        paddings,
		KernelDilations: kernelDilations,
		InputDilations:  inputDilations,
	}
	if ker.Dimensions[axes.KernelInputChannels] != p.params.InChannels ||
		out.Dimensions[axes.OutputBatch] != p.params.Batch || out.Dimensions[axes.OutputChannels] != p.params.OutChannels {
		return false
	}
	if p.params.Validate() != nil {
		return false
	}
	p.kernelGrad = kernelGradParams(in, ker, out, inPerm, kerPerm, outOrder, &p.params)
	return true
}

// kernelGradParams recognises GoMLX's kernel-gradient convolution of a 2-D
// channels-last forward convolution (ops_convolve.go convVJPWrtKernel): the
// input x [N, H, W, Ci] read with batch and channel axes swapped, the output
// gradient [N, OH, OW, Co] as the kernel (its batch axis the reduced "input
// channels"), and the result in the forward kernel's layout [KH, KW, Ci, Co],
// with the forward strides as kernel dilations and the forward kernel
// dilations as strides. It returns the forward convolution, or nil.
func kernelGradParams(in, ker, out shapes.Shape, inPerm, kerPerm, outOrder []int, rev *gemm.ConvParams) *gemm.ConvParams {
	if len(rev.InSpatial) != 2 || !slices.Equal(inPerm, []int{3, 1, 2, 0}) || !slices.Equal(kerPerm, []int{1, 2, 0, 3}) ||
		!slices.Equal(outOrder, []int{2, 0, 1, 3}) || slices.ContainsFunc(rev.InputDilations, func(d int) bool { return d != 1 }) {
		return nil
	}
	x, dy, dw := in.Dimensions, ker.Dimensions, out.Dimensions
	fwd := &gemm.ConvParams{Batch: x[0], InChannels: x[3], OutChannels: dy[3],
		InSpatial: []int{x[1], x[2]}, KernelSpatial: []int{dw[0], dw[1]}, OutSpatial: []int{dy[1], dy[2]},
		Strides: make([]int, 2), KernelDilations: make([]int, 2), Paddings: make([][2]int, 2)}
	for i := range 2 {
		s, kd := axisOr(rev.KernelDilations, i), axisOr(rev.Strides, i)
		fwd.Strides[i], fwd.KernelDilations[i] = s, kd
		var pad [2]int
		if len(rev.Paddings) > 0 {
			pad = rev.Paddings[i]
		}
		// The reverse convolution may pad the end more than the forward one did;
		// only the leading padding matters, the trailing one is any that gives
		// the forward output size.
		hi := (fwd.OutSpatial[i]-1)*s + (fwd.KernelSpatial[i]-1)*kd + 1 - fwd.InSpatial[i] - pad[0] + s - 1
		if pad[0] < 0 || hi < 0 {
			return nil
		}
		fwd.Paddings[i] = [2]int{pad[0], hi}
	}
	if fwd.Validate() != nil {
		return nil
	}
	return fwd
}

// axisOr returns v[i], or 1 when v is empty.
func axisOr(v []int, i int) int {
	if len(v) == 0 {
		return 1
	}
	return v[i]
}

// label classifies the convolution for Backend.Stats.
func (p *convPlan) label() string {
	kind := "ConvGeneral/forward"
	switch {
	case slices.ContainsFunc(p.params.InputDilations, func(d int) bool { return d > 1 }):
		kind = "ConvGeneral/input-dilated"
	case p.kernelGrad != nil:
		kind = "ConvGeneral/kernel-gradient"
	case p.input.perm != nil || p.outPerm != nil:
		kind = "ConvGeneral/transposed-axes"
	case p.kernel.perm != nil:
		kind = "ConvGeneral/kernel-permuted"
	}
	return kind
}

// shapeLabel describes the convolution's shape for the statshapes option, in
// the terms of the forward convolution for a kernel gradient:
// "[64×28×28 32→32 k3×3 s1×1]" (batch × spatial, channels in→out, kernel, strides).
func (p *convPlan) shapeLabel() string {
	q := &p.params
	if p.kernelGrad != nil {
		q = p.kernelGrad
	}
	join := func(v []int, def int, n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = strconv.Itoa(axisOrDefault(v, i, def))
		}
		return strings.Join(parts, "×")
	}
	d := len(q.InSpatial)
	return fmt.Sprintf("[%d×%s %d→%d k%s s%s]", q.Batch, join(q.InSpatial, 0, d), q.InChannels, q.OutChannels,
		join(q.KernelSpatial, 0, d), join(q.Strides, 1, d))
}

// operands returns the convolution's input and kernel (buffers in[0] and
// in[1]) in channels-last layout, and the function that releases them.
func (p *convPlan) operands(b *Backend, in []backends.Buffer) (input, kernel []float32, release func(), err error) {
	input, relI, err := p.input.prepare(b, in[0])
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ConvGeneral input: %w", err)
	}
	kernel, relK, err := p.kernel.prepare(b, in[1])
	if err != nil {
		relI()
		return nil, nil, nil, fmt.Errorf("ConvGeneral kernel: %w", err)
	}
	return input, kernel, func() { relK(); relI() }, nil
}

func (p *convPlan) run(b *Backend, in []backends.Buffer) (backends.Buffer, error) {
	if p.kernelGrad != nil {
		return p.runKernelGrad(b, in)
	}
	input, kernel, release, err := p.operands(b, in)
	if err != nil {
		return nil, err
	}
	defer release()
	out, outFlat, err := newFloat32Buffer(b, p.outShape.Dimensions)
	if err != nil {
		return nil, fmt.Errorf("ConvGeneral: %w", err)
	}
	if p.outPerm == nil {
		if err := b.engine.Conv(p.params, input, kernel, outFlat); err != nil {
			_ = b.delegate.BufferFinalize(out)
			return nil, fmt.Errorf("ConvGeneral: %w", err)
		}
		return out, nil
	}
	canon, canonFlat, err := newFloat32Buffer(b, p.outCanonical)
	if err != nil {
		_ = b.delegate.BufferFinalize(out)
		return nil, fmt.Errorf("ConvGeneral: %w", err)
	}
	defer func() { _ = b.delegate.BufferFinalize(canon) }()
	if err := b.engine.Conv(p.params, input, kernel, canonFlat); err != nil {
		_ = b.delegate.BufferFinalize(out)
		return nil, fmt.Errorf("ConvGeneral: %w", err)
	}
	transpose(outFlat, canonFlat, p.outCanonical, p.outPerm, b.engine.Workers())
	return out, nil
}

// runKernelGrad computes a kernel-gradient convolution (see kernelGradParams)
// from the untransposed forward input and output gradient.
func (p *convPlan) runKernelGrad(b *Backend, in []backends.Buffer) (backends.Buffer, error) {
	x, err := bufferFloat32(b, in[0])
	if err != nil {
		return nil, fmt.Errorf("ConvGeneral input: %w", err)
	}
	dy, err := bufferFloat32(b, in[1])
	if err != nil {
		return nil, fmt.Errorf("ConvGeneral kernel: %w", err)
	}
	out, outFlat, err := newFloat32Buffer(b, p.outShape.Dimensions)
	if err != nil {
		return nil, fmt.Errorf("ConvGeneral: %w", err)
	}
	if err := b.engine.ConvKernelGrad(*p.kernelGrad, x, dy, outFlat); err != nil {
		_ = b.delegate.BufferFinalize(out)
		return nil, fmt.Errorf("ConvGeneral (kernel gradient): %w", err)
	}
	return out, nil
}
