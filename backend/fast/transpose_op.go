package fast

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Transpose records a Transpose node; large float32 transposes run here by the
// tiled transpose (SwAV's Sinkhorn transposes its 576×3000 scores and codes: the
// delegate's element-by-element iterator took ~9 ns per element, this ~1–2).
func (b *Builder) Transpose(x backends.Op, permutation ...int) (backends.Op, error) {
	perm := slices.Clone(permutation)
	op, err := b.record1(backends.OpTypeTranspose, []backends.Op{x},
		func(d backends.Builder, in []backends.Op) ([]backends.Op, error) {
			o, err := d.Transpose(in[0], perm...)
			return []backends.Op{o}, err
		}, nil)
	if err != nil {
		return nil, err
	}
	if n := b.nodes[len(b.nodes)-1]; !b.backend.noHot {
		n.kernel = transposeKernel(n.inputs[0].shape, n.outputs[0].shape, perm, b.backend.minElements)
	}
	return op, nil
}

// transposeKernel returns the kernel of a float32 transpose of in by perm with at
// least minElements elements, or nil to leave it to the delegate.
func transposeKernel(in, out shapes.Shape, perm []int, minElements int) kernelFn {
	if in.DType != dtypes.Float32 || out.Size() < minElements || len(perm) != in.Rank() {
		return nil
	}
	dims := slices.Clone(in.Dimensions)
	return func(b *Backend, bufs []backends.Buffer) (backends.Buffer, error) {
		src, err := bufferFloat32(b, bufs[0])
		if err != nil {
			return nil, err
		}
		buf, dst, err := newFloat32Buffer(b, out.Dimensions)
		if err != nil {
			return nil, err
		}
		transpose(dst, src, dims, perm, b.engine.Workers())
		return buf, nil
	}
}
