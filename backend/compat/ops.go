package compat

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Builder delegates to the wrapped backend's builder and composes the ops it lacks.
type Builder struct {
	backends.Builder
}

var _ backends.Builder = (*Builder)(nil)

func (b *Builder) shape(op backends.Op) (shapes.Shape, error) {
	return b.Builder.OpShape(op)
}

// scalar returns a scalar constant of the given dtype holding v.
func (b *Builder) scalar(dtype dtypes.DType, v float64) (backends.Op, error) {
	c, err := b.Builder.Constant([]float64{v})
	if err != nil {
		return nil, err
	}
	if dtype == dtypes.Float64 {
		return c, nil
	}
	return b.Builder.ConvertDType(c, dtype)
}

// broadcastScalar broadcasts the scalar s to the given dimensions.
func (b *Builder) broadcastScalar(s backends.Op, dims ...int) (backends.Op, error) {
	sh, err := b.shape(s)
	if err != nil {
		return nil, err
	}
	return b.Builder.BroadcastInDim(s, shapes.Make(sh.DType, dims...), nil)
}

// Pad implements backends.Builder.Pad with XLA semantics: interior padding first, then
// edge padding, where a negative Start or End removes elements.
func (b *Builder) Pad(x, fillValue backends.Op, axesConfig ...backends.PadAxis) (backends.Op, error) {
	s, err := b.shape(x)
	if err != nil {
		return nil, err
	}
	if len(axesConfig) > s.Rank() {
		return nil, fmt.Errorf("Pad: %d axes configured for an operand of rank %d", len(axesConfig), s.Rank())
	}
	in := x
	for axis, cfg := range axesConfig {
		if cfg.Interior < 0 {
			return nil, fmt.Errorf("Pad: negative interior padding %d on axis %d", cfg.Interior, axis)
		}
		if x, err = b.padInterior(x, fillValue, axis, cfg.Interior); err != nil {
			return nil, err
		}
		if x, err = b.padEdge(x, fillValue, axis, cfg.Start, true); err != nil {
			return nil, err
		}
		if x, err = b.padEdge(x, fillValue, axis, cfg.End, false); err != nil {
			return nil, err
		}
	}
	return b.fresh(x, in)
}

// fresh returns x, or an Identity of it when x is the op's own input: every op must
// produce a node of its own (callers, like backend/fast, map ops to distinct values).
func (b *Builder) fresh(x, input backends.Op) (backends.Op, error) {
	if x == input {
		return b.Builder.Identity(x)
	}
	return x, nil
}

// padInterior inserts k fill values between consecutive elements along axis: the axis is
// viewed as [pre, n, 1, post], k fill values are concatenated after each element, and the
// trailing fill values are sliced off.
func (b *Builder) padInterior(x, fill backends.Op, axis, k int) (backends.Op, error) {
	s, err := b.shape(x)
	if err != nil {
		return nil, err
	}
	dims := s.Dimensions
	n := dims[axis]
	if k == 0 || n <= 1 {
		return x, nil
	}
	pre, post := 1, 1
	for _, d := range dims[:axis] {
		pre *= d
	}
	for _, d := range dims[axis+1:] {
		post *= d
	}
	x4, err := b.Builder.Reshape(x, pre, n, 1, post)
	if err != nil {
		return nil, err
	}
	f, err := b.broadcastScalar(fill, pre, n, k, post)
	if err != nil {
		return nil, err
	}
	c, err := b.Builder.Concatenate(2, x4, f)
	if err != nil {
		return nil, err
	}
	r, err := b.Builder.Reshape(c, pre, n*(1+k), post)
	if err != nil {
		return nil, err
	}
	newN := (n-1)*(1+k) + 1
	sl, err := b.Builder.Slice(r, []int{0, 0, 0}, []int{pre, newN, post}, []int{1, 1, 1})
	if err != nil {
		return nil, err
	}
	out := append([]int(nil), dims...)
	out[axis] = newN
	return b.Builder.Reshape(sl, out...)
}

// padEdge adds p fill values at the start (or end) of axis, or removes -p elements when p
// is negative.
func (b *Builder) padEdge(x, fill backends.Op, axis, p int, atStart bool) (backends.Op, error) {
	if p == 0 {
		return x, nil
	}
	s, err := b.shape(x)
	if err != nil {
		return nil, err
	}
	dims := s.Dimensions
	if p < 0 {
		if -p > dims[axis] {
			return nil, fmt.Errorf("Pad: negative padding %d larger than axis %d of size %d", p, axis, dims[axis])
		}
		starts := make([]int, len(dims))
		limits := append([]int(nil), dims...)
		strides := make([]int, len(dims))
		for i := range strides {
			strides[i] = 1
		}
		if atStart {
			starts[axis] = -p
		} else {
			limits[axis] = dims[axis] + p
		}
		return b.Builder.Slice(x, starts, limits, strides)
	}
	fdims := append([]int(nil), dims...)
	fdims[axis] = p
	f, err := b.broadcastScalar(fill, fdims...)
	if err != nil {
		return nil, err
	}
	if atStart {
		return b.Builder.Concatenate(axis, f, x)
	}
	return b.Builder.Concatenate(axis, x, f)
}

// Reverse implements backends.Builder.Reverse by slicing each element of a reversed axis
// and concatenating the slices in reverse order. It adds O(n) nodes per axis of size n,
// which is cheap for the convolution kernels' spatial axes it is used on.
func (b *Builder) Reverse(x backends.Op, axes ...int) (backends.Op, error) {
	in := x
	for _, axis := range axes {
		s, err := b.shape(x)
		if err != nil {
			return nil, err
		}
		dims := s.Dimensions
		if axis < 0 || axis >= len(dims) {
			return nil, fmt.Errorf("Reverse: axis %d out of range for rank %d", axis, len(dims))
		}
		n := dims[axis]
		if n <= 1 {
			continue
		}
		parts := make([]backends.Op, 0, n)
		strides := make([]int, len(dims))
		for i := range strides {
			strides[i] = 1
		}
		for i := n - 1; i >= 0; i-- {
			starts := make([]int, len(dims))
			limits := append([]int(nil), dims...)
			starts[axis], limits[axis] = i, i+1
			p, err := b.Builder.Slice(x, starts, limits, strides)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		}
		if x, err = b.Builder.Concatenate(axis, parts...); err != nil {
			return nil, err
		}
	}
	return b.fresh(x, in)
}

// SelectAndScatterMax implements backends.Builder.SelectAndScatterMax (the max-pool
// gradient): each source value is added at the position of the first maximum of its
// window in operand.
func (b *Builder) SelectAndScatterMax(operand, source backends.Op, windowDimensions, windowStrides []int, paddings [][2]int) (backends.Op, error) {
	return b.selectAndScatter(operand, source, windowDimensions, windowStrides, paddings, true)
}

// SelectAndScatterMin implements backends.Builder.SelectAndScatterMin: like
// SelectAndScatterMax, selecting the first minimum of each window.
func (b *Builder) SelectAndScatterMin(operand, source backends.Op, windowDimensions, windowStrides []int, paddings [][2]int) (backends.Op, error) {
	return b.selectAndScatter(operand, source, windowDimensions, windowStrides, paddings, false)
}

// selectAndScatter composes SelectAndScatter from window slices: for each offset o inside
// the window (row-major, so the first maximum wins as in XLA), the strided slice of the
// padded operand at o has the shape of source; where it equals the window's extreme and
// no earlier offset was selected, source is scattered back to o by an interior Pad.
func (b *Builder) selectAndScatter(operand, source backends.Op, window, strides []int, paddings [][2]int, isMax bool) (backends.Op, error) {
	opShape, err := b.shape(operand)
	if err != nil {
		return nil, err
	}
	srcShape, err := b.shape(source)
	if err != nil {
		return nil, err
	}
	rank := opShape.Rank()
	if len(window) != rank || srcShape.Rank() != rank {
		return nil, fmt.Errorf("SelectAndScatter: window %v / source %s do not match operand %s", window, srcShape, opShape)
	}
	if len(strides) == 0 {
		strides = window
	}
	if len(paddings) == 0 {
		paddings = make([][2]int, rank)
	}
	if len(strides) != rank || len(paddings) != rank {
		return nil, fmt.Errorf("SelectAndScatter: strides %v / paddings %v do not match rank %d", strides, paddings, rank)
	}
	dtype := opShape.DType
	fillV := math.Inf(-1)
	reduceType := backends.ReduceOpMax
	if !isMax {
		fillV, reduceType = math.Inf(1), backends.ReduceOpMin
	}
	fill, err := b.scalar(dtype, fillV)
	if err != nil {
		return nil, err
	}
	zero, err := b.scalar(srcShape.DType, 0)
	if err != nil {
		return nil, err
	}
	padCfg := make([]backends.PadAxis, rank)
	paddedDims := make([]int, rank)
	ones := make([]int, rank)
	for i := range rank {
		padCfg[i] = backends.PadAxis{Start: paddings[i][0], End: paddings[i][1]}
		paddedDims[i] = opShape.Dimensions[i] + paddings[i][0] + paddings[i][1]
		ones[i] = 1
	}
	padded, err := b.Pad(operand, fill, padCfg...)
	if err != nil {
		return nil, err
	}
	extreme, err := b.Builder.ReduceWindow(padded, reduceType, window, strides, ones, ones, nil)
	if err != nil {
		return nil, err
	}
	exShape, err := b.shape(extreme)
	if err != nil {
		return nil, err
	}
	if !exShape.Equal(shapes.Make(dtype, srcShape.Dimensions...)) {
		return nil, fmt.Errorf("SelectAndScatter: source %s does not match the pooled shape %s", srcShape, exShape)
	}
	zeros, err := b.broadcastScalar(zero, srcShape.Dimensions...)
	if err != nil {
		return nil, err
	}
	var taken, acc backends.Op
	offset := make([]int, rank)
	for {
		starts := append([]int(nil), offset...)
		limits := make([]int, rank)
		placeCfg := make([]backends.PadAxis, rank)
		for i := range rank {
			limits[i] = offset[i] + (srcShape.Dimensions[i]-1)*strides[i] + 1
			placeCfg[i] = backends.PadAxis{Start: offset[i], End: paddedDims[i] - limits[i], Interior: strides[i] - 1}
		}
		win, err := b.Builder.Slice(padded, starts, limits, strides)
		if err != nil {
			return nil, err
		}
		sel, err := b.Builder.Equal(win, extreme)
		if err != nil {
			return nil, err
		}
		if taken != nil {
			notTaken, err := b.Builder.LogicalNot(taken)
			if err != nil {
				return nil, err
			}
			if sel, err = b.Builder.LogicalAnd(sel, notTaken); err != nil {
				return nil, err
			}
			if taken, err = b.Builder.LogicalOr(taken, sel); err != nil {
				return nil, err
			}
		} else {
			taken = sel
		}
		contrib, err := b.Builder.Where(sel, source, zeros)
		if err != nil {
			return nil, err
		}
		placed, err := b.Pad(contrib, zero, placeCfg...)
		if err != nil {
			return nil, err
		}
		if acc == nil {
			acc = placed
		} else if acc, err = b.Builder.Add(acc, placed); err != nil {
			return nil, err
		}
		if !nextOffset(offset, window) {
			break
		}
	}
	starts := make([]int, rank)
	limits := make([]int, rank)
	for i := range rank {
		starts[i] = paddings[i][0]
		limits[i] = paddings[i][0] + opShape.Dimensions[i]
	}
	return b.Builder.Slice(acc, starts, limits, ones)
}

// nextOffset advances a row-major multi-index inside window; false when done.
func nextOffset(offset, window []int) bool {
	for i := len(offset) - 1; i >= 0; i-- {
		offset[i]++
		if offset[i] < window[i] {
			return true
		}
		offset[i] = 0
	}
	return false
}

// ConvGeneral implements backends.Builder.ConvGeneral, first replacing empty strides and
// dilations by ones: GoMLX v0.26.0's convolution gradients pass empty slices, which
// simplego reads as stride 0 (an error) or crashes on.
func (b *Builder) ConvGeneral(input, kernel backends.Op, axes backends.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int,
	channelGroupCount, batchGroupCount int) (backends.Op, error) {
	n := len(axes.InputSpatial)
	strides = onesIfEmpty(strides, n)
	inputDilations = onesIfEmpty(inputDilations, n)
	kernelDilations = onesIfEmpty(kernelDilations, n)
	if len(paddings) == 0 {
		paddings = make([][2]int, n)
	}
	return b.Builder.ConvGeneral(input, kernel, axes, strides, paddings, inputDilations, kernelDilations, channelGroupCount, batchGroupCount)
}

func onesIfEmpty(v []int, n int) []int {
	if len(v) != 0 {
		return v
	}
	ones := make([]int, n)
	for i := range ones {
		ones[i] = 1
	}
	return ones
}
