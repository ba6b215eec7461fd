package fast

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/core/tensors/images"
	"github.com/swav-go/swav/backend/compat"
)

func newFast(t testing.TB, config string) backends.Backend {
	t.Helper()
	b, err := backends.NewWithConfig(BackendName + ":" + config)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newRef(t testing.TB) backends.Backend {
	t.Helper()
	b, err := compat.New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randTensor(r *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

func localClone(t testing.TB, x *tensors.Tensor) *tensors.Tensor {
	c, err := x.LocalClone()
	if err != nil {
		t.Error(err)
	}
	return c
}

func runGraph(t testing.TB, b backends.Backend, fn func([]*Node) []*Node, inputs []*tensors.Tensor) [][]float32 {
	t.Helper()
	exec, err := NewExecAny(b, fn)
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	args := make([]any, len(inputs))
	for i, x := range inputs {
		args[i] = localClone(t, x) // Tensors bind to the first backend that uses them.
	}
	outs, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]float32, len(outs))
	for i, o := range outs {
		res[i] = tensors.MustCopyFlatData[float32](o)
	}
	return res
}

// closeEnough compares with a tolerance relative to the largest reference magnitude.
func closeEnough(t testing.TB, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	scale := 1.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol*scale) {
			t.Fatalf("%s: [%d] = %g, want %g (scale %g)", what, i, got[i], want[i], scale)
		}
	}
}

// compareBackends runs fn on "swav" and on the reference compat backend.
func compareBackends(t *testing.T, fn func([]*Node) []*Node, inputs []*tensors.Tensor, tol float64) {
	t.Helper()
	for _, cfg := range []string{"", "purego,workers=1,elementwise_min=0", "nofuse,elementwise_min=0"} {
		got := runGraph(t, newFast(t, cfg), fn, inputs)
		want := runGraph(t, newRef(t), fn, inputs)
		for i := range want {
			closeEnough(t, fmt.Sprintf("config %q output #%d", cfg, i), got[i], want[i], tol)
		}
	}
}

func TestDotGeneral(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	type tc struct {
		lhs, rhs       []int
		lc, lb, rc, rb []int
		name           string
	}
	cases := []tc{
		{name: "mk,kn", lhs: []int{37, 70}, rhs: []int{70, 19}, lc: []int{1}, rc: []int{0}},
		{name: "km,kn (dW)", lhs: []int{70, 37}, rhs: []int{70, 19}, lc: []int{0}, rc: []int{0}},
		{name: "mk,nk (dX)", lhs: []int{37, 70}, rhs: []int{19, 70}, lc: []int{1}, rc: []int{1}},
		{name: "batched", lhs: []int{3, 17, 9}, rhs: []int{3, 9, 21}, lc: []int{2}, lb: []int{0}, rc: []int{1}, rb: []int{0}},
		{name: "batch in middle", lhs: []int{17, 3, 9}, rhs: []int{9, 21, 3}, lc: []int{2}, lb: []int{1}, rc: []int{0}, rb: []int{2}},
		{name: "two contracting", lhs: []int{5, 6, 7}, rhs: []int{7, 6, 4}, lc: []int{1, 2}, rc: []int{1, 0}},
		{name: "vector", lhs: []int{40}, rhs: []int{40}, lc: []int{0}, rc: []int{0}},
		{name: "many small batches", lhs: []int{64, 8, 8}, rhs: []int{64, 8, 8}, lc: []int{2}, lb: []int{0}, rc: []int{1}, rb: []int{0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			compareBackends(t, func(in []*Node) []*Node {
				return []*Node{DotGeneral(in[0], c.lc, c.lb, in[1], c.rc, c.rb)}
			}, []*tensors.Tensor{randTensor(r, c.lhs...), randTensor(r, c.rhs...)}, 1e-5)
		})
	}
}

func TestConvGeneral(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	type tc struct {
		b, h, w, ci, co, k, stride, pad, dil int
	}
	for _, c := range []tc{
		{2, 9, 9, 3, 8, 3, 1, 1, 1},
		{2, 10, 7, 5, 17, 3, 2, 1, 1},
		{1, 8, 8, 16, 16, 1, 2, 0, 1},
		{2, 12, 12, 3, 4, 7, 2, 3, 1},
		{1, 11, 11, 4, 6, 3, 1, 2, 2},
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			x := randTensor(r, c.b, c.h, c.w, c.ci)
			k := randTensor(r, c.k, c.k, c.ci, c.co)
			compareBackends(t, func(in []*Node) []*Node {
				y := Convolve(in[0], in[1]).StridePerAxis(c.stride, c.stride).
					PaddingPerDim([][2]int{{c.pad, c.pad}, {c.pad, c.pad}}).
					DilationPerAxis(c.dil, c.dil).Done()
				// Gradients exercise the swapped-axes and input-dilated convolutions.
				w := Iota(y.Graph(), y.Shape(), 3)
				loss := ReduceAllSum(Mul(y, Sin(w)))
				g := Gradient(loss, in[0], in[1])
				return []*Node{y, g[0], g[1]}
			}, []*tensors.Tensor{x, k}, 1e-5)
		})
	}
}

// TestSmallConvNet compares a small convnet's forward pass and gradients.
func TestSmallConvNet(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := randTensor(r, 4, 12, 12, 1)
	k1 := randTensor(r, 3, 3, 1, 8)
	k2 := randTensor(r, 3, 3, 8, 16)
	kd := randTensor(r, 1, 1, 8, 16)
	w := randTensor(r, 16, 10)
	compareBackends(t, func(in []*Node) []*Node {
		relu := func(v *Node) *Node { return Max(v, ZerosLike(v)) }
		h := relu(Convolve(in[0], in[1]).PadSame().Done())
		// BatchNorm-like normalisation from elementwise ops and reductions.
		mean := ReduceAndKeep(h, ReduceMean, 0, 1, 2)
		centered := Sub(h, mean)
		variance := ReduceAndKeep(Square(centered), ReduceMean, 0, 1, 2)
		h = Div(centered, Sqrt(AddScalar(variance, 1e-5)))
		main := Convolve(h, in[2]).StridePerAxis(2, 2).PadSame().Done()
		short := Convolve(h, in[3]).StridePerAxis(2, 2).NoPadding().Done()
		h = relu(Add(main, short))
		pooled := ReduceMean(h, 1, 2)
		logits := MatMul(pooled, in[4])
		loss := ReduceAllMean(Square(logits))
		grads := Gradient(loss, in[1], in[2], in[3], in[4])
		return append([]*Node{loss, logits}, grads...)
	}, []*tensors.Tensor{x, k1, k2, kd, w}, 2e-5)
}

// TestFiniteDifferences checks conv and dot gradients on "swav" against
// central finite differences computed with float64 on the same graph.
func TestFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	b := newFast(t, "")
	x := randTensor(r, 2, 6, 6, 3)
	k := randTensor(r, 3, 3, 3, 4)
	w := randTensor(r, 4, 5)
	lossFn := func(in []*Node) *Node {
		y := Convolve(in[0], in[1]).StridePerAxis(2, 2).PadSame().Done()
		p := ReduceMean(Tanh(y), 1, 2)
		return ReduceAllSum(Square(MatMul(p, in[2])))
	}
	grads := runGraph(t, b, func(in []*Node) []*Node {
		return Gradient(lossFn(in), in[0], in[1], in[2])
	}, []*tensors.Tensor{x, k, w})
	lossExec, err := NewExecAny(b, func(in []*Node) *Node { return lossFn(in) })
	if err != nil {
		t.Fatal(err)
	}
	defer lossExec.Finalize()
	inputs := []*tensors.Tensor{x, k, w}
	flats := make([][]float32, 3)
	for i, in := range inputs {
		flats[i] = tensors.MustCopyFlatData[float32](in)
	}
	loss := func() float64 {
		args := make([]any, 3)
		for i, f := range flats {
			args[i] = tensors.FromFlatDataAndDimensions(append([]float32(nil), f...), inputs[i].Shape().Dimensions...)
		}
		out, err := lossExec.Exec1(args...)
		if err != nil {
			t.Fatal(err)
		}
		return float64(tensors.MustCopyFlatData[float32](out)[0])
	}
	const eps = 1e-2
	for i := range flats {
		for trial := 0; trial < 6; trial++ {
			j := r.IntN(len(flats[i]))
			orig := flats[i][j]
			flats[i][j] = orig + eps
			lp := loss()
			flats[i][j] = orig - eps
			lm := loss()
			flats[i][j] = orig
			fd := (lp - lm) / (2 * eps)
			got := float64(grads[i][j])
			if math.Abs(fd-got) > 2e-2*math.Max(1, math.Abs(fd)) {
				t.Errorf("input %d element %d: gradient %g, finite difference %g", i, j, got, fd)
			}
		}
	}
}

// TestConcurrentExecute runs one executable from many goroutines.
func TestConcurrentExecute(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	b := newFast(t, "")
	k := randTensor(r, 3, 3, 2, 8)
	exec, err := NewExecAny(b, func(in []*Node) *Node {
		y := Convolve(in[0], in[1]).PadSame().Done()
		return ReduceSum(Max(y, ZerosLike(y)), 1, 2)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	xs := make([]*tensors.Tensor, 8)
	want := make([][]float32, len(xs))
	ref := newRef(t)
	for i := range xs {
		xs[i] = randTensor(r, 2, 10, 10, 2)
		want[i] = runGraph(t, ref, func(in []*Node) []*Node {
			y := Convolve(in[0], in[1]).PadSame().Done()
			return []*Node{ReduceSum(Max(y, ZerosLike(y)), 1, 2)}
		}, []*tensors.Tensor{xs[i], k})[0]
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; it < 10; it++ {
				i := (g + it) % len(xs)
				out, err := exec.Exec1(localClone(t, xs[i]), localClone(t, k))
				if err != nil {
					errs <- err
					return
				}
				got := tensors.MustCopyFlatData[float32](out)
				for j := range got {
					if math.Abs(float64(got[j]-want[i][j])) > 1e-3*(1+math.Abs(float64(want[i][j]))) {
						errs <- fmt.Errorf("goroutine %d input %d: [%d] = %g, want %g", g, i, j, got[j], want[i][j])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestDonation checks that donated inputs are consumed and outputs are
// distinct fresh buffers, and that non-donated inputs stay untouched.
func TestDonation(t *testing.T) {
	b := newFast(t, "")
	builder := b.Builder("donation")
	shape := shapes.Make(dtypes.Float32, 4, 4)
	x, err := builder.Parameter("x", shape, nil)
	if err != nil {
		t.Fatal(err)
	}
	y, err := builder.Parameter("y", shape, nil)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := builder.DotGeneral(x, []int{1}, nil, y, []int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := builder.Add(prod, x)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := builder.Compile([]backends.Op{sum, x, prod}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	if names, _ := exec.Inputs(); strings.Join(names, ",") != "x,y" {
		t.Fatalf("Inputs() names = %v", names)
	}
	ident := make([]float32, 16)
	for i := 0; i < 4; i++ {
		ident[i*5] = 1
	}
	vals := make([]float32, 16)
	for i := range vals {
		vals[i] = float32(i)
	}
	for _, donate := range [][]bool{nil, {true, true}, {false, true}} {
		xb, _ := b.BufferFromFlatData(0, vals, shape)
		yb, _ := b.BufferFromFlatData(0, ident, shape)
		outs, err := exec.Execute([]backends.Buffer{xb, yb}, donate, 0)
		if err != nil {
			t.Fatal(err)
		}
		if outs[1] == xb && (donate == nil || !donate[0]) {
			t.Fatal("non-donated input returned as output")
		}
		got := make([][]float32, 3)
		for i, o := range outs {
			got[i] = make([]float32, 16)
			if err := b.BufferToFlatData(o, got[i]); err != nil {
				t.Fatal(err)
			}
		}
		for i := range vals {
			if got[0][i] != 2*vals[i] || got[1][i] != vals[i] || got[2][i] != vals[i] {
				t.Fatalf("donate=%v: outputs %v", donate, got)
			}
		}
		if donate == nil || !donate[0] {
			check := make([]float32, 16)
			if err := b.BufferToFlatData(xb, check); err != nil || check[5] != 5 {
				t.Fatalf("non-donated input modified or released: %v %v", check, err)
			}
		}
	}
}

func TestBackendInterface(t *testing.T) {
	b := newFast(t, "workers=1")
	if b.Name() != BackendName || b.String() != BackendName || b.NumDevices() != 1 {
		t.Fatalf("Name/String/NumDevices = %q %q %d", b.Name(), b.String(), b.NumDevices())
	}
	if !strings.Contains(b.Description(), "1 workers") {
		t.Errorf("Description() = %q", b.Description())
	}
	if !b.Capabilities().Operations[backends.OpTypeConvGeneral] {
		t.Error("ConvGeneral missing from capabilities")
	}
	if _, err := backends.NewWithConfig(BackendName + ":bogus"); err == nil {
		t.Error("unknown option accepted")
	}
	other := b.Builder("other")
	x, _ := other.Parameter("x", shapes.Make(dtypes.Float32, 2), nil)
	if _, err := b.Builder("mine").Abs(x); err == nil {
		t.Error("op from another builder accepted")
	}
	b.Finalize()
	if !b.IsFinalized() {
		t.Error("not finalized")
	}
}

// TestHotOpsPlanned checks that float32 DotGeneral/ConvGeneral run on the
// kernels, and that other dtypes and "nohot" fall back to the delegate.
func TestHotOpsPlanned(t *testing.T) {
	for _, tc := range []struct {
		config  string
		dtype   dtypes.DType
		wantHot int
	}{{"", dtypes.Float32, 2}, {"nohot", dtypes.Float32, 0}, {"", dtypes.Float64, 0}} {
		b := newFast(t, tc.config)
		builder := b.Builder("plan")
		x, _ := builder.Parameter("x", shapes.Make(tc.dtype, 2, 5, 5, 3), nil)
		k, _ := builder.Parameter("k", shapes.Make(tc.dtype, 3, 3, 3, 4), nil)
		w, _ := builder.Parameter("w", shapes.Make(tc.dtype, 4, 6), nil)
		axes := backends.ConvolveAxesConfig{InputBatch: 0, InputSpatial: []int{1, 2}, InputChannels: 3,
			KernelSpatial: []int{0, 1}, KernelInputChannels: 2, KernelOutputChannels: 3,
			OutputBatch: 0, OutputSpatial: []int{1, 2}, OutputChannels: 3}
		y, err := builder.ConvGeneral(x, k, axes, []int{1, 1}, [][2]int{{1, 1}, {1, 1}}, nil, nil, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := builder.ReduceSum(y, 1, 2)
		z, err := builder.DotGeneral(s, []int{1}, nil, w, []int{0}, nil)
		if err != nil {
			t.Fatal(err)
		}
		exec, err := builder.Compile([]backends.Op{z}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if hot := hotSteps(exec); hot != tc.wantHot {
			t.Errorf("config %q dtype %s: %d hot steps, want %d", tc.config, tc.dtype, hot, tc.wantHot)
		}
		exec.Finalize()
	}
}

// TestElementwise covers the elementwise, broadcast and reduction kernels
// (with elementwise_min=0 in compareBackends, and at sizes above the default).
func TestElementwise(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, dims := range [][]int{{3, 5, 7, 4}, {8, 16, 16, 32}} {
		x := randTensor(r, dims...)
		y := randTensor(r, dims...)
		c := randTensor(r, 1, 1, 1, dims[3])
		row := randTensor(r, dims[0], 1, 1, 1)
		t.Run(fmt.Sprint(dims), func(t *testing.T) {
			compareBackends(t, func(in []*Node) []*Node {
				x, y, c, row := in[0], in[1], in[2], in[3]
				pos := AddScalar(Abs(x), 0.5)
				return []*Node{
					Add(x, y), Sub(x, c), Mul(c, x), Div(x, pos), Max(x, ZerosLike(x)), Min(row, x),
					Neg(x), Sign(x), Sqrt(pos), Rsqrt(pos), Exp(Tanh(x)), Log(pos), MulScalar(x, 3),
					ReduceSum(x, 0, 1, 2), ReduceSum(x, 1, 2), ReduceMax(x, 0, 3), ReduceAllSum(x),
					BroadcastToDims(ReduceAndKeep(x, ReduceSum, 0, 1, 2), dims...),
					Add(TransposeAllDims(x, 0, 2, 1, 3), TransposeAllDims(y, 0, 2, 1, 3)),
					// Fusion: per-channel, per-row and scalar broadcasts in one tree.
					Max(Sub(Add(Mul(x, c), row), Mul(y, c)), ZerosLike(x)),
					Mul(Sign(Sub(x, row)), Add(Neg(y), MulScalar(c, 2))),
				}
			}, []*tensors.Tensor{x, y, c, row}, 1e-5)
		})
	}
}

func TestSign32(t *testing.T) {
	for _, v := range []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, 3, -7, float32(math.Inf(1)), float32(math.Inf(-1))} {
		want := v
		if v > 0 {
			want = 1
		} else if v < 0 {
			want = -1
		}
		if got := sign32(v); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("sign32(%g) = %g, want %g", v, got, want)
		}
	}
	if got := sign32(float32(math.NaN())); got == got {
		t.Errorf("sign32(NaN) = %g", got)
	}
	if got := max32(float32(math.NaN()), 1); got == got {
		t.Errorf("max32(NaN, 1) = %g", got)
	}
	if got := max32(1, float32(math.NaN())); got == got {
		t.Errorf("max32(1, NaN) = %g", got)
	}
}

// TestFusionPlanned checks that batch-norm + ReLU becomes one fused step.
func TestFusionPlanned(t *testing.T) {
	b := newFast(t, "")
	builder := b.Builder("fusion")
	x, _ := builder.Parameter("x", shapes.Make(dtypes.Float32, 8, 16, 16, 32), nil)
	scale, _ := builder.Parameter("scale", shapes.Make(dtypes.Float32, 1, 1, 1, 32), nil)
	shift, _ := builder.Parameter("shift", shapes.Make(dtypes.Float32, 1, 1, 1, 32), nil)
	zero, _ := builder.Constant([]float32{0})
	zero, _ = builder.Reshape(zero)
	zeros, err := builder.BroadcastInDim(zero, shapes.Make(dtypes.Float32, 8, 16, 16, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := builder.Mul(x, scale)
	y, _ = builder.Add(y, shift)
	y, _ = builder.Max(y, zeros)
	exec, err := builder.Compile([]backends.Op{y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	var labels []string
	for _, st := range exec.(*Executable).steps {
		if st.hot != nil {
			labels = append(labels, st.hot.label)
		}
	}
	if len(labels) != 1 || !strings.HasPrefix(labels[0], "Fused(") {
		t.Fatalf("hot steps %q, want one fused step", labels)
	}
}

// TestPooling compares max/sum pooling and max-pool gradients (NHWC and a
// window moving along the last axis) with the reference backend.
func TestPooling(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, dims := range [][]int{{2, 9, 9, 3}, {4, 16, 16, 24}} {
		x := randTensor(r, dims...)
		t.Run(fmt.Sprint(dims), func(t *testing.T) {
			compareBackends(t, func(in []*Node) []*Node {
				x := in[0]
				mp := MaxPool(x).Window(3).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
				sp := SumPool(x).Window(2).Strides(2).Done()
				w := Sin(Iota(x.Graph(), mp.Shape(), 3))
				g := Gradient(ReduceAllSum(Mul(mp, w)), x)[0]
				last := MaxPool(x).ChannelsAxis(images.ChannelsFirst).Window(2).Done()
				return []*Node{mp, sp, g, last}
			}, []*tensors.Tensor{x}, 1e-5)
		})
	}
}

// TestConvEpilogue checks convolutions followed by batch norm, a residual
// addition and ReLU (the inference block): the elementwise tail runs as the
// convolution's epilogue (one hot step) and matches the reference backend,
// across partial tiles, several row blocks and workers, the gathered and the
// indirect kernels, and a convolution whose output is also used elsewhere
// (which must not be fused).
func TestConvEpilogue(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	type tc struct {
		b, h, w, ci, co, stride int
		residual, reuse         bool
	}
	for _, c := range []tc{
		{3, 13, 11, 5, 24, 1, true, false},   // gathered kernel (ci < 8), partial panel
		{2, 16, 16, 16, 32, 1, true, false},  // indirect kernel
		{2, 15, 15, 16, 40, 2, false, false}, // strided, no residual
		{2, 9, 9, 8, 16, 1, false, true},     // conv output used twice
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			x := randTensor(r, c.b, c.h, c.w, c.ci)
			k := randTensor(r, 3, 3, c.ci, c.co)
			scale := randTensor(r, c.co)
			shift := randTensor(r, c.co)
			oh, ow := (c.h-1)/c.stride+1, (c.w-1)/c.stride+1
			res := randTensor(r, c.b, oh, ow, c.co)
			fn := func(in []*Node) []*Node {
				y := Convolve(in[0], in[1]).StridePerAxis(c.stride, c.stride).
					PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
				z := Add(Mul(y, ExpandLeftToRank(in[2], 4)), ExpandLeftToRank(in[3], 4))
				if c.residual {
					z = Add(z, in[4])
				}
				z = Max(z, ZerosLike(z))
				if c.reuse {
					return []*Node{z, ReduceSum(y, 1, 2)}
				}
				return []*Node{z}
			}
			inputs := []*tensors.Tensor{x, k, scale, shift, res}
			want := runGraph(t, newRef(t), fn, inputs)
			for _, cfg := range []string{"elementwise_min=0", "purego,workers=1,elementwise_min=0", "workers=2,elementwise_min=0"} {
				b := newFast(t, cfg+",stats")
				got := runGraph(t, b, fn, inputs)
				for i := range want {
					closeEnough(t, fmt.Sprintf("config %q output #%d", cfg, i), got[i], want[i], 1e-5)
				}
				fused := strings.Contains(b.(*Backend).Stats(), "ConvGeneral/forward+Fused(")
				if fused == c.reuse {
					t.Errorf("config %q: convolution epilogue fused = %v, want %v; stats:\n%s", cfg, fused, !c.reuse, b.(*Backend).Stats())
				}
			}
		})
	}
}

// TestConvEpilogueReexecute runs one compiled conv + batch-norm graph twice
// with different scales: state reused by the epilogue across executions must
// not carry the first execution's values.
func TestConvEpilogueReexecute(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	fn := func(x, k, scale *Node) *Node {
		y := Convolve(x, k).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		z := Mul(y, ExpandLeftToRank(scale, 4))
		return Max(z, ZerosLike(z))
	}
	x, k := randTensor(r, 2, 12, 12, 16), randTensor(r, 3, 3, 16, 32)
	exec, err := NewExec(newFast(t, "workers=1,elementwise_min=0"), fn)
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	for i := range 2 {
		scale := randTensor(r, 32)
		want := runGraph(t, newRef(t), func(in []*Node) []*Node { return []*Node{fn(in[0], in[1], in[2])} },
			[]*tensors.Tensor{x, k, scale})
		got, err := exec.Exec(localClone(t, x), localClone(t, k), localClone(t, scale))
		if err != nil {
			t.Fatal(err)
		}
		closeEnough(t, fmt.Sprintf("execution %d", i), tensors.MustCopyFlatData[float32](got[0]), want[0], 1e-5)
	}
}

// TestConvEpilogueReadsConvInput: the epilogue's other operand is the
// convolution's own input (a residual around a 1×1 convolution), so the fused
// node lists that buffer twice.
func TestConvEpilogueReadsConvInput(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	x, k := randTensor(r, 2, 9, 9, 16), randTensor(r, 1, 1, 16, 16)
	fn := func(in []*Node) []*Node {
		y := Convolve(in[0], in[1]).Done()
		z := Add(y, in[0])
		return []*Node{Max(z, ZerosLike(z))}
	}
	want := runGraph(t, newRef(t), fn, []*tensors.Tensor{x, k})
	b := newFast(t, "elementwise_min=0,stats")
	got := runGraph(t, b, fn, []*tensors.Tensor{x, k})
	closeEnough(t, "residual on the input", got[0], want[0], 1e-5)
	if !strings.Contains(b.(*Backend).Stats(), "ConvGeneral/forward+Fused(") {
		t.Errorf("not fused; stats:\n%s", b.(*Backend).Stats())
	}
}

// TestConvKernelGradient: the kernel gradients of the small ResNet's convolution
// kinds (3×3 stride 1 and 2, 1×1 stride 2, the 1-channel stem, an odd size with
// kernel dilation, channel counts off the 6×16 tile) run on gemm.ConvKernelGrad,
// in place and (kgradgather) gathered — the stats must show it — and match the swavgo backend; with nokgrad the same graph takes the transposed
// generic convolution instead.
func TestConvKernelGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	type tc struct{ b, h, ci, co, k, stride, pad, dil int }
	for _, c := range []tc{
		{3, 10, 32, 32, 3, 1, 1, 1},
		{2, 10, 32, 64, 3, 2, 1, 1},
		{2, 9, 16, 32, 1, 2, 0, 1},
		{4, 8, 1, 32, 3, 1, 1, 1},
		{2, 11, 5, 7, 3, 1, 2, 2},
		{3, 7, 20, 24, 3, 1, 1, 1},
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			x := randTensor(r, c.b, c.h, c.h, c.ci)
			k := randTensor(r, c.k, c.k, c.ci, c.co)
			fn := func(in []*Node) []*Node {
				y := Convolve(in[0], in[1]).StridePerAxis(c.stride, c.stride).
					PaddingPerDim([][2]int{{c.pad, c.pad}, {c.pad, c.pad}}).DilationPerAxis(c.dil, c.dil).Done()
				loss := ReduceAllSum(Mul(y, Sin(Iota(y.Graph(), y.Shape(), 3))))
				return []*Node{Gradient(loss, in[1])[0]}
			}
			inputs := []*tensors.Tensor{x, k}
			want := runGraph(t, newRef(t), fn, inputs)
			for _, cfg := range []string{"", "workers=1", "workers=2", "purego,workers=1", "kgradgather", "kgradgather,workers=2", "kgradunits,workers=2", "nokgrad"} {
				b := newFast(t, cfg+",stats")
				got := runGraph(t, b, fn, inputs)
				closeEnough(t, fmt.Sprintf("config %q kernel gradient", cfg), got[0], want[0], 1e-5)
				stats := b.(*Backend).Stats()
				if used := strings.Contains(stats, "ConvGeneral/kernel-gradient"); used == (cfg == "nokgrad") {
					t.Errorf("config %q: kernel-gradient path used = %v; stats:\n%s", cfg, used, stats)
				}
			}
		})
	}
}

// TestConvKernelGradientWorkers: a kernel gradient large enough to split its
// reduction (batch 32 of 14×14×32 → 32) differs in its last bits between 1 and 2
// workers by default (Winograd F(4×4), ranges of tile blocks) and with
// nowinograd4 (the in-place form's pixel split), and is the same bit for bit
// for 1, 2 and 3 workers with kgradunits.
func TestConvKernelGradientWorkers(t *testing.T) {
	// Workers are capped at GOMAXPROCS: under GOMAXPROCS=1 "workers=2" would
	// run one worker and the split would not happen (the goroutines need
	// not run in parallel for it to).
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	r := rand.New(rand.NewPCG(31, 32))
	inputs := []*tensors.Tensor{randTensor(r, 32, 14, 14, 32), randTensor(r, 3, 3, 32, 32)}
	fn := func(in []*Node) []*Node {
		y := Convolve(in[0], in[1]).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		loss := ReduceAllSum(Mul(y, Sin(Iota(y.Graph(), y.Shape(), 3))))
		return []*Node{Gradient(loss, in[1])[0]}
	}
	same := func(a, b []float32) bool {
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				return false
			}
		}
		return true
	}
	for _, form := range []string{"", "nowinograd4,"} {
		if same(runGraph(t, newFast(t, form+"workers=1"), fn, inputs)[0], runGraph(t, newFast(t, form+"workers=2"), fn, inputs)[0]) {
			t.Errorf("config %q: the kernel gradient gives the same bits for 1 and 2 workers: its reduction was not split, so this test shows nothing", form)
		}
	}
	one := runGraph(t, newFast(t, "kgradunits,workers=1"), fn, inputs)[0]
	for _, cfg := range []string{"kgradunits,workers=2", "kgradunits,workers=3"} {
		if !same(runGraph(t, newFast(t, cfg), fn, inputs)[0], one) {
			t.Errorf("config %q: not the bits of one worker", cfg)
		}
	}
}

// batchNormGraph is model's training batch norm (statistics of the batch) with a
// ReLU and its gradient with respect to the input, scale and shift.
func batchNormGraph(in []*Node) []*Node {
	x, gamma, beta, w := in[0], in[1], in[2], in[3]
	mean := ReduceMean(x, 0, 1, 2)
	centred := Sub(x, ExpandLeftToRank(mean, 4))
	variance := ReduceMean(Square(centred), 0, 1, 2)
	scale := Mul(Rsqrt(AddScalar(variance, 1e-5)), gamma)
	shift := Sub(beta, Mul(mean, scale))
	y := Add(Mul(x, ExpandLeftToRank(scale, 4)), ExpandLeftToRank(shift, 4))
	y = Max(y, ZerosLike(y))
	loss := ReduceAllSum(Mul(y, w))
	g := Gradient(loss, x, gamma, beta)
	return []*Node{y, g[0], g[1], g[2]}
}

// TestReduceFusion: batch norm's Σ(x−μ)² and the Σ dy·x of its gradient
// reduce fused elementwise programs (the stats must show it), broadcasts read by
// several groups are not materialised, and every output matches the swavgo
// backend — and is bit for bit what the unfused reductions give (noreducefuse),
// since rows are summed in the same order.
func TestReduceFusion(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 30))
	inputs := []*tensors.Tensor{randTensor(r, 8, 12, 12, 32), randTensor(r, 32), randTensor(r, 32), randTensor(r, 8, 12, 12, 32)}
	want := runGraph(t, newRef(t), batchNormGraph, inputs)
	for _, workers := range []string{"workers=1", "workers=2"} {
		b := newFast(t, workers+",stats")
		got := runGraph(t, b, batchNormGraph, inputs)
		stats := b.(*Backend).Stats()
		for i := range want {
			closeEnough(t, fmt.Sprintf("%s output #%d", workers, i), got[i], want[i], 1e-4)
		}
		if n := strings.Count(stats, "ReduceSum(Fused("); n == 0 {
			t.Errorf("%s: no fused reduction; stats:\n%s", workers, stats)
		}
		if strings.Contains(stats, "\nBroadcastInDim ") || strings.HasPrefix(stats, "BroadcastInDim ") {
			t.Errorf("%s: a broadcast was materialised; stats:\n%s", workers, stats)
		}
		plain := newFast(t, workers+",noreducefuse,stats")
		ref := runGraph(t, plain, batchNormGraph, inputs)
		if s := plain.(*Backend).Stats(); strings.Contains(s, "ReduceSum(Fused(") {
			t.Errorf("%s,noreducefuse: fused reduction; stats:\n%s", workers, s)
		}
		for i := range ref {
			for j := range ref[i] {
				if got[i][j] != ref[i][j] {
					t.Fatalf("%s output #%d[%d] = %g fused, %g unfused", workers, i, j, got[i][j], ref[i][j])
				}
			}
		}
	}
}

// TestGroupedReduce: sums over every axis but the channels, whose rows are
// added eight at a time, match swavgo for row counts that are not multiples of
// eight (per worker and per block), of the materialised and the fused operand.
func TestGroupedReduce(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, dims := range [][]int{{5, 7, 9, 24}, {3, 11, 13, 48}, {1, 1, 13, 512}, {2, 3, 37, 520}} {
		x := randTensor(r, dims...)
		fn := func(in []*Node) []*Node {
			return []*Node{ReduceSum(in[0], 0, 1, 2), ReduceSum(Mul(in[0], in[0]), 0, 1, 2)}
		}
		want := runGraph(t, newRef(t), fn, []*tensors.Tensor{x})
		for _, cfg := range []string{"workers=1,elementwise_min=0", "workers=2,elementwise_min=0"} {
			got := runGraph(t, newFast(t, cfg), fn, []*tensors.Tensor{x})
			for i := range want {
				closeEnough(t, fmt.Sprintf("%v %s output #%d", dims, cfg, i), got[i], want[i], 1e-5)
			}
		}
	}
}

// hotSteps is how many of exec's steps run on this backend's hot path.
func hotSteps(exec backends.Executable) int {
	n := 0
	for _, st := range exec.(*Executable).steps {
		if st.hot != nil {
			n++
		}
	}
	return n
}

// TestStatShapes: with statshapes, the stats name each convolution by its shape —
// the forward of a 2×10×10×32 → 64 stride-2 convolution and its kernel gradient
// both as the forward convolution's shape — and without it by role only.
func TestStatShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := randTensor(r, 2, 10, 10, 32)
	k := randTensor(r, 3, 3, 32, 64)
	fn := func(in []*Node) []*Node {
		y := Convolve(in[0], in[1]).StridePerAxis(2, 2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		loss := ReduceAllSum(Mul(y, y))
		return []*Node{y, Gradient(loss, in[1])[0]}
	}
	const shape = "[2×10×10 32→64 k3×3 s2×2]"
	for cfg, want := range map[string]bool{"stats": false, "statshapes": true} {
		b := newFast(t, cfg)
		runGraph(t, b, fn, []*tensors.Tensor{x, k})
		stats := b.(*Backend).Stats()
		for _, kind := range []string{"ConvGeneral/forward", "ConvGeneral/kernel-gradient"} {
			if !strings.Contains(stats, kind) {
				t.Errorf("%s: no %s in the stats:\n%s", cfg, kind, stats)
			}
			if got := strings.Contains(stats, kind+shape); got != want {
				t.Errorf("%s: %s%s in the stats = %v, want %v:\n%s", cfg, kind, shape, got, want, stats)
			}
		}
	}
}
