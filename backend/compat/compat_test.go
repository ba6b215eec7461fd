package compat

import (
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func newBackend(t *testing.T) backends.Backend {
	t.Helper()
	b, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func run(t *testing.T, b backends.Backend, fn func(x *Node) *Node, x *tensors.Tensor) ([]float32, []int) {
	t.Helper()
	exec, err := NewExec(b, fn)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec1(x)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out), out.Shape().Dimensions
}

func TestPad(t *testing.T) {
	b := newBackend(t)
	x := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	for _, tc := range []struct {
		name string
		cfg  []backends.PadAxis
		want []float32
		dims []int
	}{
		{"edges", []backends.PadAxis{{Start: 1}, {End: 1}}, []float32{9, 9, 9, 9, 1, 2, 3, 9, 4, 5, 6, 9}, []int{3, 4}},
		{"interior", []backends.PadAxis{{}, {Interior: 1}}, []float32{1, 9, 2, 9, 3, 4, 9, 5, 9, 6}, []int{2, 5}},
		{"negative", []backends.PadAxis{{Start: -1}, {Start: -1, End: 1}}, []float32{5, 6, 9}, []int{1, 3}},
		{"interior then negative edge", []backends.PadAxis{{}, {Start: -1, Interior: 2}}, []float32{9, 9, 2, 9, 9, 3, 9, 9, 5, 9, 9, 6}, []int{2, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, dims := run(t, b, func(x *Node) *Node {
				return Pad(x, Scalar(x.Graph(), x.DType(), 9), tc.cfg...)
			}, x)
			if !slices.Equal(dims, tc.dims) || !slices.Equal(got, tc.want) {
				t.Errorf("got %v %v, want %v %v", dims, got, tc.dims, tc.want)
			}
		})
	}
}

func TestReverse(t *testing.T) {
	b := newBackend(t)
	x := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	got, _ := run(t, b, func(x *Node) *Node { return Reverse(x, 1) }, x)
	if want := []float32{3, 2, 1, 6, 5, 4}; !slices.Equal(got, want) {
		t.Errorf("Reverse axis 1 = %v, want %v", got, want)
	}
	got, _ = run(t, b, func(x *Node) *Node { return Reverse(x, 0, 1) }, x)
	if want := []float32{6, 5, 4, 3, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("Reverse axes 0,1 = %v, want %v", got, want)
	}
}

// TestMaxPoolBackward checks SelectAndScatterMax through the max-pool gradient on a
// hand-worked 1×4×4×1 example with 2×2 windows, stride 2, and an overlapping 3×3/1 case
// with a tie (the first maximum in row-major order takes the gradient, as in XLA).
func TestMaxPoolBackward(t *testing.T) {
	b := newBackend(t)
	x := tensors.FromFlatDataAndDimensions([]float32{
		1, 5, 2, 0,
		3, 4, 8, 1,
		0, 2, 7, 7,
		9, 1, 6, 3,
	}, 1, 4, 4, 1)
	got, _ := run(t, b, func(x *Node) *Node {
		return Gradient(ReduceAllSum(MaxPool(x).Window(2).Strides(2).Done()), x)[0]
	}, x)
	want := []float32{
		0, 1, 0, 0,
		0, 0, 1, 0,
		0, 0, 1, 0, // the tie 7,7: the first one wins
		1, 0, 0, 0,
	}
	if !slices.Equal(got, want) {
		t.Errorf("2x2/2 gradient = %v, want %v", got, want)
	}
	got, _ = run(t, b, func(x *Node) *Node {
		return Gradient(ReduceAllSum(MaxPool(x).Window(3).Strides(1).Done()), x)[0]
	}, x)
	// 2×2 windows of output: maxima 8 (at [1,2]), 8, 9 (at [3,0]), 8.
	want = []float32{
		0, 0, 0, 0,
		0, 0, 3, 0,
		0, 0, 0, 0,
		1, 0, 0, 0,
	}
	if !slices.Equal(got, want) {
		t.Errorf("3x3/1 gradient = %v, want %v", got, want)
	}
}

// TestNoOpCompositionsReturnNewOps: a Pad or Reverse that changes nothing still returns a
// node of its own, never its input (other backends wrapping this one rely on it).
func TestNoOpCompositionsReturnNewOps(t *testing.T) {
	b := newBackend(t)
	bld := b.Builder("t")
	x, err := bld.Parameter("x", shapes.Make(dtypes.Float32, 1, 3), nil)
	if err != nil {
		t.Fatal(err)
	}
	zero, err := bld.Constant([]float32{0})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := bld.Pad(x, zero, backends.PadAxis{}, backends.PadAxis{}); err != nil || p == x {
		t.Errorf("Pad with no padding returned its input (%v)", err)
	}
	if r, err := bld.Reverse(x, 0); err != nil || r == x {
		t.Errorf("Reverse of a size-1 axis returned its input (%v)", err)
	}
}
