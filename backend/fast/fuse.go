package fast

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/swav-go/swav/internal/gemm"
)

// Elementwise fusion. Batch norm written from plain ops (x·scale + shift),
// ReLU (max(x, broadcast 0)) and their gradients are chains of memory-bound
// elementwise ops over the same activation shape; run one by one, each reads
// and writes a full tensor. At Compile, every maximal tree of hot elementwise
// nodes whose intermediate values are used only inside the tree becomes one
// node: it evaluates the tree chunk by chunk (fusionChunk floats at a time,
// in L1), so intermediates never reach memory, and broadcasts (including
// BroadcastInDim of constants) are read through strides, never materialised.

// fusionChunk is the number of output elements evaluated at a time.
const fusionChunk = 1024

// maxSharedOps bounds the ops a fused group repeats instead of reading a
// shared value from memory.
const maxSharedOps = 4

// instr is one operation of a fused program: args ≥ 0 are earlier
// instructions' results, args < 0 are leaves (−1 − leaf index).
type instr struct {
	op    ewOp
	args  []int
	label string
}

// fusedPlan is a compiled fused group.
type fusedPlan struct {
	prog       []instr
	rows, cols int   // The output viewed as rows × cols after collapsing axes.
	leafRS     []int // Per leaf: stride between rows and between columns.
	leafCS     []int
	outDims    []int
}

// fuse rewrites groups of hot elementwise nodes into fused nodes. needed is
// updated: absorbed nodes are no longer needed.
func (b *Builder) fuse(needed, isOutput []bool) {
	uses := make([]int, len(b.values))
	for _, n := range b.nodes {
		if needed[n.id] {
			for _, in := range n.inputs {
				uses[in.id]++
			}
		}
	}
	absorbed := make([]bool, len(b.nodes))
	// single reports whether input in of a node can join that node's group as
	// a member: a hot elementwise node of the group's shape, read element by
	// element, used only there.
	single := func(in *value, dims []int, strides []int) bool {
		child := in.node
		return child.ew != nil && needed[child.id] && !absorbed[child.id] && !isOutput[in.id] && uses[in.id] == 1 &&
			slices.Equal(in.shape.Dimensions, dims) && slices.Equal(strides, identityStrides(dims))
	}
	// fusible reports whether input in of a group member can join the group:
	// as a member (single), or shared: a node that others read too but that
	// is cheap to repeat — with the single-use nodes under it, a few ops
	// reading at most one full-size operand, such as a broadcast, batch norm's
	// x − μ or its x·scale + shift — which every group reading it recomputes
	// from those operands instead of reading it from memory (it is dropped if
	// nothing else reads it).
	var cost func(n *node, dims []int) (full, size int)
	cost = func(n *node, dims []int) (full, size int) {
		size = 1
		for k, in := range n.inputs {
			if single(in, dims, n.ew.strides[k]) {
				f, sz := cost(in.node, dims)
				full, size = full+f, size+sz
			} else if !slices.Contains(n.ew.strides[k], 0) {
				full++
			}
		}
		return full, size
	}
	fusible := func(in *value, dims []int, strides []int) (ok, shared bool) {
		if single(in, dims, strides) {
			return true, false
		}
		child := in.node
		if b.backend.noReduceFuse || child.ew == nil || !needed[child.id] || absorbed[child.id] || isOutput[in.id] ||
			!slices.Equal(in.shape.Dimensions, dims) || !slices.Equal(strides, identityStrides(dims)) {
			return false, false
		}
		full, size := cost(child, dims)
		return full <= 1 && size <= maxSharedOps, true
	}
	// visitShared appends to a group's program the shared node n and the
	// single-use nodes under it, which stay as they are: the operands become
	// leaves and gain a use, so no later group absorbs them.
	var visitShared func(n *node, dims []int, prog *[]instr, leaves *[]*value, leafStride *[][]int) int
	visitShared = func(n *node, dims []int, prog *[]instr, leaves *[]*value, leafStride *[][]int) int {
		args := make([]int, len(n.inputs))
		for k, in := range n.inputs {
			if single(in, dims, n.ew.strides[k]) {
				args[k] = visitShared(in.node, dims, prog, leaves, leafStride)
				continue
			}
			uses[in.id]++
			*leaves = append(*leaves, in)
			*leafStride = append(*leafStride, n.ew.strides[k])
			args[k] = -len(*leaves)
		}
		*prog = append(*prog, instr{op: n.ew.op, args: args, label: n.opType.String()})
		return len(*prog) - 1
	}
	for i := len(b.nodes) - 1; i >= 0; i-- {
		root := b.nodes[i]
		if !needed[root.id] || absorbed[root.id] {
			continue
		}
		if root.reduce != nil && root.kernel != nil && !b.backend.noReduceFuse {
			b.fuseReduce(root, fusible, visitShared, absorbed, needed)
			continue
		}
		if root.ew == nil {
			continue
		}
		dims := root.outputs[0].shape.Dimensions
		t := gatherFused(root, dims, fusible, visitShared)
		prog, leaves, leafStride, members := t.prog, t.leaves, t.leafStride, t.members
		identity := identityStrides(dims)
		convLeaf := -1
		for l, in := range leaves {
			c := in.node
			if c.conv != nil && c.kernel != nil && c.conv.outPerm == nil && needed[c.id] && uses[in.id] == 1 && !isOutput[in.id] &&
				slices.Equal(in.shape.Dimensions, dims) && slices.Equal(leafStride[l], identity) {
				convLeaf = l
				break
			}
		}
		if len(prog) < 2 && convLeaf < 0 {
			continue
		}
		plan := newFusedPlan(dims, prog, leafStride)
		if plan == nil {
			continue
		}
		for _, m := range members[1:] {
			absorbed[m.id] = true
			needed[m.id] = false
		}
		root.ew = nil
		if convLeaf >= 0 {
			// The convolution computes into the group's output and the
			// program runs in place as its epilogue.
			conv := leaves[convLeaf].node
			needed[conv.id] = false
			root.inputs = append(slices.Clone(conv.inputs), slices.Delete(slices.Clone(leaves), convLeaf, convLeaf+1)...)
			root.kernel = plan.convKernel(conv.conv, convLeaf)
			root.label = conv.label + "+" + plan.label()
			continue
		}
		root.inputs = leaves
		root.kernel = plan.kernel(root.outputs[0].shape.Dimensions)
		root.label = plan.label()
	}
	b.dropUnused(needed, isOutput)
}

// dropUnused clears needed for nodes no needed node or output reads any more
// (broadcasts every reader of which now reads through strides).
func (b *Builder) dropUnused(needed, isOutput []bool) {
	live := make([]bool, len(b.nodes))
	for i := len(b.nodes) - 1; i >= 0; i-- {
		n := b.nodes[i]
		if !needed[n.id] {
			continue
		}
		for _, v := range n.outputs {
			if isOutput[v.id] {
				live[n.id] = true
			}
		}
	}
	for i := len(b.nodes) - 1; i >= 0; i-- {
		n := b.nodes[i]
		if !live[n.id] {
			continue
		}
		for _, in := range n.inputs {
			live[in.node.id] = true
		}
	}
	for i, n := range b.nodes {
		if needed[i] && !live[i] && n.opType != backends.OpTypeParameter {
			needed[i] = false
		}
	}
}

// fusedTree is an elementwise tree gathered for fusion: its program, the values it
// reads (leaves, with the strides each is read through) and the nodes it absorbs.
type fusedTree struct {
	prog       []instr
	leaves     []*value
	leafStride [][]int
	members    []*node
}

// gatherFused collects the fusible elementwise tree rooted at start, whose output
// has dims: operands that fusible accepts are visited (shared cheap subtrees through
// visitShared, which recomputes them), the others become leaves.
func gatherFused(start *node, dims []int, fusible func(in *value, dims, strides []int) (bool, bool),
	visitShared func(n *node, dims []int, prog *[]instr, leaves *[]*value, leafStride *[][]int) int) fusedTree {
	var t fusedTree
	var visit func(n *node) int
	visit = func(n *node) int {
		t.members = append(t.members, n)
		var args []int
		for k, in := range n.inputs {
			if ok, shared := fusible(in, dims, n.ew.strides[k]); ok {
				if shared {
					args = append(args, visitShared(in.node, dims, &t.prog, &t.leaves, &t.leafStride))
				} else {
					args = append(args, visit(in.node))
				}
				continue
			}
			t.leaves = append(t.leaves, in)
			t.leafStride = append(t.leafStride, n.ew.strides[k])
			args = append(args, -len(t.leaves))
		}
		t.prog = append(t.prog, instr{op: n.ew.op, args: args, label: n.opType.String()})
		return len(t.prog) - 1
	}
	visit(start)
	return t
}

// fuseReduce makes a ReduceSum whose operand is a fusible elementwise tree
// evaluate the tree chunk by chunk and reduce each chunk while it is in cache,
// so the operand never reaches memory (batch norm's Σ(x−μ)², and the Σ dy·x̂
// of its gradient).
func (b *Builder) fuseReduce(root *node, fusible func(in *value, dims, strides []int) (bool, bool),
	visitShared func(n *node, dims []int, prog *[]instr, leaves *[]*value, leafStride *[][]int) int, absorbed, needed []bool) {
	in := root.inputs[0]
	dims := in.shape.Dimensions
	if ok, shared := fusible(in, dims, identityStrides(dims)); !ok || shared {
		return
	}
	t := gatherFused(in.node, dims, fusible, visitShared)
	plan := newFusedPlan(dims, t.prog, t.leafStride)
	if plan == nil {
		return
	}
	for _, m := range t.members {
		absorbed[m.id] = true
		needed[m.id] = false
	}
	root.inputs = t.leaves
	root.kernel = plan.reduceKernel(root.reduce)
	root.label = "ReduceSum(" + plan.label() + ")"
}

// reduceKernel evaluates the program and reduces its output with r, in blocks
// of whole reduction rows, with the same row split and order as r's kernel on
// the materialised operand.
func (p *fusedPlan) reduceKernel(r *reducePlan) kernelFn {
	inner := r.plan.dims[len(r.plan.dims)-1]
	blockRows := reduceBlockRows(inner)
	return func(b *Backend, in []backends.Buffer) (backends.Buffer, error) {
		srcs, err := float32Inputs(b, in, "fused reduce input")
		if err != nil {
			return nil, err
		}
		buf, dst, err := newFloat32Buffer(b, r.outShape.Dimensions)
		if err != nil {
			return nil, err
		}
		r.plan.reduceParallel(b.engine, false, 0, dst, r.size, func(part []float32, r0, r1 int) {
			st := p.newState(len(srcs))
			block := make([]float32, blockRows*inner)
			for rb := r0; rb < r1; rb += blockRows {
				re := min(rb+blockRows, r1)
				p.runRangeTo(b.engine, st, block[:(re-rb)*inner], srcs, rb*inner, re*inner)
				r.plan.reduce(b.engine, false, part, block, rb, rb, re)
			}
		})
		return buf, nil
	}
}

// convKernel runs convolution cp with the program as its epilogue: the
// inputs are the convolution's (input, kernel) and then the program's leaves
// other than convLeaf, which is the convolution's output, computed in the
// node's output buffer and transformed there in place.
func (p *fusedPlan) convKernel(cp *convPlan, convLeaf int) kernelFn {
	return func(b *Backend, in []backends.Buffer) (backends.Buffer, error) {
		input, kernel, release, err := cp.operands(b, in)
		if err != nil {
			return nil, err
		}
		defer release()
		others, err := float32Inputs(b, in[2:], "fused input")
		if err != nil {
			return nil, err
		}
		buf, dst, err := newFloat32Buffer(b, p.outDims)
		if err != nil {
			return nil, err
		}
		srcs := slices.Insert(others, convLeaf, dst)
		co := cp.params.OutChannels
		// One state per concurrently running block, for this execution only
		// (cached broadcast leaves hold this execution's values).
		states := sync.Pool{New: func() any { return p.newState(len(srcs)) }}
		epilogue := func(r0, r1 int) {
			st := states.Get().(*fusedState)
			p.runRange(b.engine, st, dst, srcs, r0*co, r1*co)
			states.Put(st)
		}
		if err := b.engine.ConvEpilogue(cp.params, input, kernel, dst, epilogue); err != nil {
			_ = b.delegate.BufferFinalize(buf)
			return nil, fmt.Errorf("ConvGeneral: %w", err)
		}
		return buf, nil
	}
}

// newFusedPlan views the output as rows × cols such that every leaf has a
// row stride and a column stride, or returns nil when the strides do not
// collapse to two axes.
func newFusedPlan(dims []int, prog []instr, leafStrides [][]int) *fusedPlan {
	sp := newStridedPlan(dims, leafStrides)
	p := &fusedPlan{prog: prog, outDims: slices.Clone(dims)}
	switch len(sp.dims) {
	case 1:
		p.rows, p.cols = 1, sp.dims[0]
		for _, s := range sp.strides {
			p.leafRS = append(p.leafRS, 0)
			p.leafCS = append(p.leafCS, s[0])
		}
	case 2:
		p.rows, p.cols = sp.dims[0], sp.dims[1]
		for _, s := range sp.strides {
			p.leafRS = append(p.leafRS, s[0])
			p.leafCS = append(p.leafCS, s[1])
		}
	default:
		return nil
	}
	for _, cs := range p.leafCS {
		if cs != 0 && cs != 1 {
			return nil
		}
	}
	return p
}

func (p *fusedPlan) label() string {
	names := make([]string, len(p.prog))
	for i, in := range p.prog {
		names[i] = in.label
	}
	return "Fused(" + strings.Join(names, ",") + ")"
}

func (p *fusedPlan) kernel(outDims []int) kernelFn {
	return func(b *Backend, in []backends.Buffer) (backends.Buffer, error) {
		srcs, err := float32Inputs(b, in, "fused input")
		if err != nil {
			return nil, err
		}
		buf, dst, err := newFloat32Buffer(b, outDims)
		if err != nil {
			return nil, err
		}
		p.run(b.engine, dst, srcs)
		return buf, nil
	}
}

// chunking returns the chunk layout of run: chunks are whole rows when rows
// are short (rowsPerChunk rows of chunkLen floats), else pieces of one row.
func (p *fusedPlan) chunking() (rowsPerChunk, chunkLen int) {
	if p.cols <= fusionChunk {
		rowsPerChunk = fusionChunk / p.cols
		return rowsPerChunk, rowsPerChunk * p.cols
	}
	return 1, fusionChunk
}

// run evaluates the program over dst in chunks, split over workers.
func (p *fusedPlan) run(e *gemm.Engine, dst []float32, srcs [][]float32) {
	workers := e.Workers()
	total := p.rows * p.cols
	_, chunkLen := p.chunking()
	numChunks := (total + chunkLen - 1) / chunkLen
	if p.cols > fusionChunk {
		numChunks = p.rows * ((p.cols + chunkLen - 1) / chunkLen)
	}
	w := 1
	if total >= 1<<16 {
		w = min(piecesPerWorker*workers, numChunks)
	}
	_ = parallelFor(workers, w, func(wi int) error {
		c0, c1 := numChunks*wi/w, numChunks*(wi+1)/w
		st := p.newState(len(srcs))
		for c := c0; c < c1; c++ {
			// The chunk's flat range [f0, f1).
			var f0, f1 int
			if p.cols <= fusionChunk {
				f0 = c * chunkLen
				f1 = min(f0+chunkLen, total)
			} else {
				perRow := (p.cols + chunkLen - 1) / chunkLen
				r, k := c/perRow, c%perRow
				f0 = r*p.cols + k*chunkLen
				f1 = r*p.cols + min((k+1)*chunkLen, p.cols)
			}
			p.eval(e, st, dst, srcs, f0, f1)
		}
		return nil
	})
}

// runRange evaluates the program over the flat output range [f0, f1) on the
// calling goroutine, in chunks of at most fusionChunk floats that start at
// row boundaries when f0 does (the conv epilogue's row blocks).
func (p *fusedPlan) runRange(e *gemm.Engine, st *fusedState, dst []float32, srcs [][]float32, f0, f1 int) {
	p.runRangeTo(e, st, dst[f0:f1], srcs, f0, f1)
}

// runRangeTo is runRange writing output element f to out[f−f0].
func (p *fusedPlan) runRangeTo(e *gemm.Engine, st *fusedState, out []float32, srcs [][]float32, f0, f1 int) {
	_, chunkLen := p.chunking()
	for f := f0; f < f1; {
		end := min(f+chunkLen, f1)
		if p.cols > fusionChunk {
			end = min(end, (f/p.cols+1)*p.cols) // Pieces of one row.
		}
		p.evalTo(e, st, out[f-f0:end-f0], srcs, f, end)
		f = end
	}
}

// fusedState is one goroutine's scratch for evaluating a fused program.
type fusedState struct {
	temps    [][]float32 // One chunk per instruction.
	leafBufs [][]float32 // Gathered (broadcast or strided) leaves.
	cached   []bool      // leafBufs[l] holds a row-invariant leaf for a whole-row chunk.
	views    [][]float32
}

func (p *fusedPlan) newState(numLeaves int) *fusedState {
	_, chunkLen := p.chunking()
	st := &fusedState{
		temps:    make([][]float32, len(p.prog)),
		leafBufs: make([][]float32, numLeaves),
		cached:   make([]bool, numLeaves),
		views:    make([][]float32, numLeaves),
	}
	for i := range st.temps {
		st.temps[i] = make([]float32, chunkLen)
	}
	return st
}

// eval evaluates the program over the flat output range [f0, f1), at most
// one chunk long. dst may be the storage of a contiguous leaf: every
// instruction reads and writes element i of its operands only, and only the
// last one writes dst.
func (p *fusedPlan) eval(e *gemm.Engine, st *fusedState, dst []float32, srcs [][]float32, f0, f1 int) {
	p.evalTo(e, st, dst[f0:f1], srcs, f0, f1)
}

// evalTo is eval writing output element f to out[f−f0].
func (p *fusedPlan) evalTo(e *gemm.Engine, st *fusedState, dst []float32, srcs [][]float32, f0, f1 int) {
	rowsPerChunk, chunkLen := p.chunking()
	n := f1 - f0
	// A row-invariant leaf gathered for one whole-row chunk is the same for
	// every other whole-row chunk of the same length.
	wholeRows := p.cols <= fusionChunk && f0%p.cols == 0 && n == chunkLen && rowsPerChunk > 0
	for l, src := range srcs {
		rs, cs := p.leafRS[l], p.leafCS[l]
		switch {
		case cs == 1 && (rs == p.cols || p.rows == 1):
			st.views[l] = src[f0:f1] // Contiguous.
		case rs == 0 && wholeRows && st.cached[l]:
			st.views[l] = st.leafBufs[l][:n]
		default:
			if st.leafBufs[l] == nil {
				st.leafBufs[l] = make([]float32, chunkLen)
			}
			gatherChunk(st.leafBufs[l][:n], src, f0, p.cols, rs, cs)
			st.views[l] = st.leafBufs[l][:n]
			st.cached[l] = rs == 0 && wholeRows
		}
	}
	for i, ins := range p.prog {
		out := st.temps[i][:n]
		if i == len(p.prog)-1 {
			out = dst
		}
		arg := func(a int) []float32 {
			if a < 0 {
				return st.views[-1-a]
			}
			return st.temps[a][:n]
		}
		if len(ins.args) == 1 {
			unaryRun(e, ins.op, out, arg(ins.args[0]), 1)
		} else {
			binaryRun(e, ins.op, out, arg(ins.args[0]), 1, arg(ins.args[1]), 1)
		}
	}
}

// gatherChunk fills buf with the leaf values of flat output indices
// [f0, f0+len(buf)) for a leaf with row stride rs and column stride cs (0 or 1).
func gatherChunk(buf, src []float32, f0, cols, rs, cs int) {
	for pos := 0; pos < len(buf); {
		f := f0 + pos
		r, c := f/cols, f%cols
		seg := min(cols-c, len(buf)-pos)
		off := r*rs + c*cs
		d := buf[pos : pos+seg]
		if cs == 1 {
			copy(d, src[off:off+seg])
		} else {
			v := src[off]
			for j := range d {
				d[j] = v
			}
		}
		pos += seg
	}
}
