package fast

import (
	"fmt"
	"slices"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// step is one unit of the execution plan: a delegate stage or a hot node.
type step struct {
	// Stage: a compiled delegate executable with its input and output slots.
	exec    backends.Executable
	inputs  []int
	outputs []int
	// Hot node (when exec is nil).
	hot *node
	// free lists the slots whose last use is this step.
	free []int
}

// Executable runs a compiled plan. It is safe for concurrent Execute calls:
// all per-call state lives in Execute.
type Executable struct {
	backend     *Backend
	name        string
	steps       []step
	numSlots    int
	paramSlots  []int
	paramNames  []string
	paramShapes []shapes.Shape
	outSlots    []int
	outShapes   []shapes.Shape
	isOutput    []bool
	finalized   bool
}

var _ backends.Executable = (*Executable)(nil)

// Compile implements backends.Builder: it partitions the recorded graph into
// delegate stages and hot nodes (see the package documentation).
func (b *Builder) Compile(outputs []backends.Op, shardings []*backends.ShardingSpec) (backends.Executable, error) {
	if len(shardings) != 0 {
		return nil, fmt.Errorf("backend %s: sharding is not supported", BackendName)
	}
	if b.compiled {
		return nil, fmt.Errorf("backend %s: builder %q already compiled", BackendName, b.name)
	}
	outs, err := b.toValues("Compile", outputs)
	if err != nil {
		return nil, err
	}
	b.compiled = true
	e := &Executable{backend: b.backend, name: b.name, numSlots: len(b.values)}
	for _, p := range b.params {
		e.paramSlots = append(e.paramSlots, p.outputs[0].id)
		e.paramShapes = append(e.paramShapes, p.outputs[0].shape)
	}
	for _, p := range b.params {
		e.paramNames = append(e.paramNames, paramName(p))
	}
	e.isOutput = make([]bool, len(b.values))
	for _, v := range outs {
		e.outSlots = append(e.outSlots, v.id)
		e.outShapes = append(e.outShapes, v.shape)
		e.isOutput[v.id] = true
	}

	// Nodes needed for the outputs.
	needed := make([]bool, len(b.nodes))
	var mark func(n *node)
	mark = func(n *node) {
		if needed[n.id] {
			return
		}
		needed[n.id] = true
		for _, in := range n.inputs {
			mark(in.node)
		}
	}
	for _, v := range outs {
		mark(v.node)
	}
	if !b.backend.noFuse {
		b.fuse(needed, e.isOutput)
	}

	// Levels: a delegate node runs in stage s = max over inputs of (stage of a
	// delegate input, hot phase of a hot input + 1); a hot node runs in hot
	// phase h = max over inputs of (stage of a delegate input, phase of a hot
	// input). Plan: stage 0, hot phase 0, stage 1, hot phase 1, …
	level := make([]int, len(b.nodes))
	numLevels := 0
	for _, n := range b.nodes {
		if !needed[n.id] || n.opType == backends.OpTypeParameter {
			continue
		}
		l := 0
		for _, in := range n.inputs {
			src := in.node
			if src.opType == backends.OpTypeParameter {
				continue
			}
			li := level[src.id]
			if src.kernel != nil && n.kernel == nil {
				li++
			}
			l = max(l, li)
		}
		level[n.id] = l
		numLevels = max(numLevels, l+1)
	}

	stageNodes := make([][]*node, numLevels)
	hotNodes := make([][]*node, numLevels)
	for _, n := range b.nodes {
		if !needed[n.id] || n.opType == backends.OpTypeParameter {
			continue
		}
		if n.kernel != nil {
			hotNodes[level[n.id]] = append(hotNodes[level[n.id]], n)
		} else {
			stageNodes[level[n.id]] = append(stageNodes[level[n.id]], n)
		}
	}

	// Which values are consumed outside the stage that produces them.
	stageOf := func(n *node) int {
		if n.kernel != nil || n.opType == backends.OpTypeParameter {
			return -1
		}
		return level[n.id]
	}
	usedOutside := make([]bool, len(b.values))
	for _, n := range b.nodes {
		if !needed[n.id] {
			continue
		}
		for _, in := range n.inputs {
			if stageOf(in.node) != stageOf(n) || n.kernel != nil {
				usedOutside[in.id] = true
			}
		}
	}

	for l := 0; l < numLevels; l++ {
		if len(stageNodes[l]) > 0 {
			st, err := b.compileStage(l, stageNodes[l], usedOutside, e.isOutput)
			if err != nil {
				e.Finalize()
				return nil, err
			}
			e.steps = append(e.steps, st)
		}
		for _, n := range hotNodes[l] {
			st := step{hot: n}
			for _, in := range n.inputs {
				st.inputs = append(st.inputs, in.id)
			}
			st.outputs = []int{n.outputs[0].id}
			e.steps = append(e.steps, st)
		}
	}

	// Free each slot after its last use (never the outputs, never the
	// parameters, which Execute handles by ownership).
	lastUse := make([]int, len(b.values))
	for i := range lastUse {
		lastUse[i] = -1
	}
	for si, st := range e.steps {
		for _, s := range st.inputs {
			lastUse[s] = si
		}
	}
	for s, si := range lastUse {
		if si >= 0 && !e.isOutput[s] {
			e.steps[si].free = append(e.steps[si].free, s)
		}
	}
	return e, nil
}

func paramName(n *node) string { return n.name }

// compileStage replays nodes into a fresh delegate builder and compiles it.
func (b *Builder) compileStage(l int, nodes []*node, usedOutside, isOutput []bool) (step, error) {
	d := b.backend.delegate.Builder(fmt.Sprintf("%s/stage%d", b.name, l))
	var st step
	ops := make(map[int]backends.Op)
	inStage := make(map[int]bool, len(nodes))
	for _, n := range nodes {
		inStage[n.id] = true
	}
	for _, n := range nodes {
		in := make([]backends.Op, len(n.inputs))
		for i, v := range n.inputs {
			op, ok := ops[v.id]
			if !ok {
				if inStage[v.node.id] {
					return st, fmt.Errorf("backend %s: stage %d: input %d of %s not yet computed", BackendName, l, v.id, n.opType)
				}
				var err error
				op, err = d.Parameter(fmt.Sprintf("v%d", v.id), v.shape, nil)
				if err != nil {
					return st, fmt.Errorf("backend %s: stage %d: parameter for value %d: %w", BackendName, l, v.id, err)
				}
				ops[v.id] = op
				st.inputs = append(st.inputs, v.id)
			}
			in[i] = op
		}
		outs, err := n.replay(d, in)
		if err != nil {
			return st, fmt.Errorf("backend %s: stage %d: replaying %s: %w", BackendName, l, n.opType, err)
		}
		for i, v := range n.outputs {
			ops[v.id] = outs[i]
			if usedOutside[v.id] || isOutput[v.id] {
				st.outputs = append(st.outputs, v.id)
			}
		}
	}
	outOps := make([]backends.Op, len(st.outputs))
	for i, s := range st.outputs {
		outOps[i] = ops[s]
	}
	exec, err := d.Compile(outOps, nil)
	if err != nil {
		return st, fmt.Errorf("backend %s: compiling stage %d: %w", BackendName, l, err)
	}
	st.exec = exec
	return st, nil
}

// Finalize implements backends.Executable.
func (e *Executable) Finalize() {
	if e.finalized {
		return
	}
	e.finalized = true
	for _, st := range e.steps {
		if st.exec != nil {
			st.exec.Finalize()
		}
	}
	e.steps = nil
}

// Inputs implements backends.Executable.
func (e *Executable) Inputs() (names []string, inputShapes []shapes.Shape) {
	return slices.Clone(e.paramNames), slices.Clone(e.paramShapes)
}

// Outputs implements backends.Executable.
func (e *Executable) Outputs() []shapes.Shape { return slices.Clone(e.outShapes) }

// Execute implements backends.Executable. Donated inputs are consumed: they
// are released (or returned as outputs) whatever happens.
func (e *Executable) Execute(inputs []backends.Buffer, donate []bool, _ backends.DeviceNum) ([]backends.Buffer, error) {
	if e.finalized {
		return nil, fmt.Errorf("backend %s: executable %q was finalized", BackendName, e.name)
	}
	if len(inputs) != len(e.paramSlots) {
		return nil, fmt.Errorf("backend %s: executable %q takes %d inputs, got %d", BackendName, e.name, len(e.paramSlots), len(inputs))
	}
	if len(donate) != 0 && len(donate) != len(inputs) {
		return nil, fmt.Errorf("backend %s: executable %q: %d donate flags for %d inputs", BackendName, e.name, len(donate), len(inputs))
	}
	d := e.backend.delegate
	slots := make([]backends.Buffer, e.numSlots)
	owned := make([]bool, e.numSlots)
	release := func() {
		for s, buf := range slots {
			if buf != nil && owned[s] {
				_ = d.BufferFinalize(buf)
			}
			slots[s] = nil
		}
	}
	for i, buf := range inputs {
		if buf == nil {
			release()
			return nil, fmt.Errorf("backend %s: executable %q: input #%d is nil", BackendName, e.name, i)
		}
		shape, err := d.BufferShape(buf)
		if err != nil || !shape.Equal(e.paramShapes[i]) {
			release()
			return nil, fmt.Errorf("backend %s: executable %q: input #%d (%q) has shape %s, want %s (err: %v)",
				BackendName, e.name, i, e.paramNames[i], shape, e.paramShapes[i], err)
		}
		s := e.paramSlots[i]
		slots[s] = buf
		owned[s] = len(donate) > 0 && donate[i]
	}
	for si := range e.steps {
		if err := e.runStep(si, slots, owned); err != nil {
			release()
			return nil, err
		}
	}
	results := make([]backends.Buffer, len(e.outSlots))
	returned := make(map[int]bool, len(e.outSlots))
	for i, s := range e.outSlots {
		buf := slots[s]
		if buf == nil {
			release()
			return nil, fmt.Errorf("backend %s: executable %q: output #%d was not computed", BackendName, e.name, i)
		}
		if owned[s] && !returned[s] {
			returned[s] = true
			results[i] = buf
			continue
		}
		cp, err := cloneBuffer(d, buf, e.outShapes[i])
		if err != nil {
			release()
			return nil, err
		}
		results[i] = cp
	}
	for s := range returned {
		slots[s] = nil
	}
	release()
	return results, nil
}

func (e *Executable) runStep(si int, slots []backends.Buffer, owned []bool) error {
	st := &e.steps[si]
	if stats := e.backend.stats; stats != nil {
		start := time.Now()
		kind := "stage"
		if st.hot != nil {
			kind = st.hot.opType.String()
			if st.hot.label != "" {
				kind = st.hot.label
			}
		}
		defer func() { stats.add(kind, time.Since(start)) }()
	}
	d := e.backend.delegate
	ins := make([]backends.Buffer, len(st.inputs))
	for i, s := range st.inputs {
		if slots[s] == nil {
			return fmt.Errorf("backend %s: executable %q: step %d input value %d missing", BackendName, e.name, si, s)
		}
		ins[i] = slots[s]
	}
	if st.exec != nil {
		donate := make([]bool, len(ins))
		for i, s := range st.inputs {
			donate[i] = owned[s] && slices.Contains(st.free, s)
		}
		for i, s := range st.inputs {
			if donate[i] {
				// Consumed by the delegate, even if it fails: never release it
				// again (at worst an error leaks it to the garbage collector).
				slots[s] = nil
			}
		}
		outs, err := st.exec.Execute(ins, donate, 0)
		if err != nil {
			return fmt.Errorf("backend %s: executable %q: stage step %d: %w", BackendName, e.name, si, err)
		}
		for i, s := range st.outputs {
			slots[s], owned[s] = outs[i], true
		}
	} else {
		out, err := st.hot.kernel(e.backend, ins)
		if err != nil {
			return fmt.Errorf("backend %s: executable %q: %s: %w", BackendName, e.name, st.hot.opType, err)
		}
		slots[st.outputs[0]], owned[st.outputs[0]] = out, true
	}
	for _, s := range st.free {
		if slots[s] != nil && owned[s] {
			if err := d.BufferFinalize(slots[s]); err != nil {
				return fmt.Errorf("backend %s: releasing value %d: %w", BackendName, s, err)
			}
			slots[s] = nil
		}
	}
	return nil
}

// cloneBuffer copies buf into a new delegate buffer.
func cloneBuffer(d backends.Backend, buf backends.Buffer, shape shapes.Shape) (backends.Buffer, error) {
	src, err := d.BufferData(buf)
	if err != nil {
		return nil, fmt.Errorf("backend %s: reading buffer to copy: %w", BackendName, err)
	}
	cp, err := d.BufferFromFlatData(0, src, shape)
	if err != nil {
		return nil, fmt.Errorf("backend %s: copying buffer: %w", BackendName, err)
	}
	return cp, nil
}
