package fast

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Pooling: ReduceWindow (max and sum, no dilations) and SelectAndScatterMax
// (max-pool's gradient) on float32. The delegate composes SelectAndScatter
// from dozens of slices, pads and selects; here both are direct loops,
// vectorised over the innermost axis (channels, in NHWC) when the window
// does not move along it.

// windowGeom holds a pooling window over an N-D tensor.
type windowGeom struct {
	in, out []int // Operand and pooled dimensions.
	window  []int
	strides []int
	padLow  []int
	inner   int // Length of the contiguous run handled at once (channels), or 1.
}

func newWindowGeom(in, out shapes.Shape, window, strides []int, paddings [][2]int) (*windowGeom, bool) {
	r := in.Rank()
	if len(window) != r || out.Rank() != r || (len(strides) != 0 && len(strides) != r) || (len(paddings) != 0 && len(paddings) != r) {
		return nil, false
	}
	g := &windowGeom{in: in.Dimensions, out: out.Dimensions, window: window, strides: make([]int, r), padLow: make([]int, r), inner: 1}
	for a := 0; a < r; a++ {
		g.strides[a] = axisOrDefault(strides, a, 1)
		if len(paddings) > 0 {
			g.padLow[a] = paddings[a][0]
		}
	}
	if last := r - 1; r > 0 && window[last] == 1 && g.strides[last] == 1 && g.padLow[last] == 0 && in.Dimensions[last] == out.Dimensions[last] {
		g.inner = in.Dimensions[last]
	}
	return g, true
}

func axisOrDefault(v []int, i, def int) int {
	if len(v) == 0 {
		return def
	}
	return v[i]
}

func allOnes(v []int) bool {
	for _, x := range v {
		if x != 1 {
			return false
		}
	}
	return true
}

// forEachWindow calls fn(outOffset, inOffsets) for every pooled position
// (excluding the inner axis when vectorised), where inOffsets lists the
// operand offsets of the window's in-bounds elements in row-major window
// order.
func (g *windowGeom) forEachWindow(fn func(outOff int, inOffs []int)) {
	r := len(g.in)
	axes := r
	if g.inner > 1 {
		axes = r - 1
	}
	inStrides := identityStrides(g.in)
	outIdx := make([]int, axes)
	winIdx := make([]int, axes)
	offs := make([]int, 0, product(g.window))
	outCount := product(g.out[:axes])
	for o := 0; o < outCount; o++ {
		offs = offs[:0]
		for a := range winIdx {
			winIdx[a] = 0
		}
		for {
			off, ok := 0, true
			for a := 0; a < axes; a++ {
				q := outIdx[a]*g.strides[a] - g.padLow[a] + winIdx[a]
				if q < 0 || q >= g.in[a] {
					ok = false
					break
				}
				off += q * inStrides[a]
			}
			if ok {
				offs = append(offs, off)
			}
			a := axes - 1
			for ; a >= 0; a-- {
				winIdx[a]++
				if winIdx[a] < g.window[a] {
					break
				}
				winIdx[a] = 0
			}
			if a < 0 {
				break
			}
		}
		fn(o*g.inner, offs)
		for a := axes - 1; a >= 0; a-- {
			outIdx[a]++
			if outIdx[a] < g.out[a] {
				break
			}
			outIdx[a] = 0
		}
	}
}

// ReduceWindow records a ReduceWindow node; float32 max and sum pooling
// without dilations run here.
func (b *Builder) ReduceWindow(x backends.Op, reductionType backends.ReduceOpType,
	windowDimensions, strides, baseDilations, windowDilations []int, paddings [][2]int) (backends.Op, error) {
	windowDimensions, strides = slices.Clone(windowDimensions), slices.Clone(strides)
	baseDilations, windowDilations, paddings = slices.Clone(baseDilations), slices.Clone(windowDilations), slices.Clone(paddings)
	op, err := b.record1(backends.OpTypeReduceWindow, []backends.Op{x},
		func(d backends.Builder, in []backends.Op) ([]backends.Op, error) {
			o, err := d.ReduceWindow(in[0], reductionType, windowDimensions, strides, baseDilations, windowDilations, paddings)
			return []backends.Op{o}, err
		}, nil)
	if err != nil {
		return nil, err
	}
	n := b.nodes[len(b.nodes)-1]
	in, out := n.inputs[0].shape, n.outputs[0].shape
	if b.backend.noHot || in.DType != dtypes.Float32 || !allOnes(baseDilations) || !allOnes(windowDilations) ||
		(reductionType != backends.ReduceOpMax && reductionType != backends.ReduceOpSum) {
		return op, nil
	}
	g, ok := newWindowGeom(in, out, windowDimensions, strides, paddings)
	if !ok {
		return op, nil
	}
	isMax := reductionType == backends.ReduceOpMax
	n.kernel = func(bk *Backend, bufs []backends.Buffer) (backends.Buffer, error) {
		x, err := bufferFloat32(bk, bufs[0])
		if err != nil {
			return nil, fmt.Errorf("ReduceWindow: %w", err)
		}
		buf, dst, err := newFloat32Buffer(bk, out.Dimensions)
		if err != nil {
			return nil, fmt.Errorf("ReduceWindow: %w", err)
		}
		inner := g.inner
		g.forEachWindow(func(outOff int, offs []int) {
			d := dst[outOff : outOff+inner]
			init := float32(0)
			if isMax {
				init = float32(math.Inf(-1))
			}
			for j := range d {
				d[j] = init
			}
			for _, off := range offs {
				src := x[off : off+inner]
				if isMax {
					for j, v := range src {
						d[j] = max32(d[j], v)
					}
				} else {
					for j, v := range src {
						d[j] += v
					}
				}
			}
		})
		return buf, nil
	}
	return op, nil
}

// SelectAndScatterMax records a SelectAndScatterMax node (max-pool's
// gradient); float32 runs here: each source value is added at the first
// maximum of its window.
func (b *Builder) SelectAndScatterMax(operand, source backends.Op, windowDimensions, windowStrides []int, paddings [][2]int) (backends.Op, error) {
	windowDimensions, windowStrides, paddings = slices.Clone(windowDimensions), slices.Clone(windowStrides), slices.Clone(paddings)
	op, err := b.record1(backends.OpTypeSelectAndScatterMax, []backends.Op{operand, source},
		func(d backends.Builder, in []backends.Op) ([]backends.Op, error) {
			o, err := d.SelectAndScatterMax(in[0], in[1], windowDimensions, windowStrides, paddings)
			return []backends.Op{o}, err
		}, nil)
	if err != nil {
		return nil, err
	}
	n := b.nodes[len(b.nodes)-1]
	in, src, out := n.inputs[0].shape, n.inputs[1].shape, n.outputs[0].shape
	if b.backend.noHot || in.DType != dtypes.Float32 || src.DType != dtypes.Float32 || !out.Equal(in) {
		return op, nil
	}
	strides := windowStrides
	if len(strides) == 0 {
		strides = windowDimensions // XLA's default for SelectAndScatter.
	}
	g, ok := newWindowGeom(in, src, windowDimensions, strides, paddings)
	if !ok {
		return op, nil
	}
	n.kernel = func(bk *Backend, bufs []backends.Buffer) (backends.Buffer, error) {
		x, err := bufferFloat32(bk, bufs[0])
		if err != nil {
			return nil, fmt.Errorf("SelectAndScatterMax operand: %w", err)
		}
		s, err := bufferFloat32(bk, bufs[1])
		if err != nil {
			return nil, fmt.Errorf("SelectAndScatterMax source: %w", err)
		}
		buf, dst, err := newFloat32Buffer(bk, out.Dimensions)
		if err != nil {
			return nil, fmt.Errorf("SelectAndScatterMax: %w", err)
		}
		clear(dst)
		inner := g.inner
		best := make([]float32, inner)
		bestOff := make([]int, inner)
		g.forEachWindow(func(outOff int, offs []int) {
			if len(offs) == 0 {
				return
			}
			for j := range best {
				best[j] = float32(math.Inf(-1))
				bestOff[j] = -1
			}
			for _, off := range offs {
				row := x[off : off+inner]
				for j, v := range row {
					if v > best[j] || bestOff[j] < 0 {
						best[j], bestOff[j] = v, off
					}
				}
			}
			for j := 0; j < inner; j++ {
				dst[bestOff[j]+j] += s[outOff+j]
			}
		})
		return buf, nil
	}
	return op, nil
}
