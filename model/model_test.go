package model

import (
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/backend/compat"
	"github.com/swav-go/swav/internal/gradcheck"
)

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := compat.New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// weighted turns y into a scalar with fixed random weights, so every output element's
// gradient matters.
func weighted(y *Node, seed uint64) *Node {
	r := Const(y.Graph(), tensors.FromFlatDataAndDimensions(gradcheck.Random(seed, y.Shape().Size()), y.Shape().Dimensions...))
	return ReduceAllSum(Mul(y, r))
}

func TestConvGradients(t *testing.T) {
	backend := testBackend(t)
	for _, tc := range []struct {
		name                string
		hw, cin, cout, k, s int
		pad                 int
	}{
		{"3x3 stride 1 pad 1", 6, 2, 3, 3, 1, 1},
		{"3x3 stride 2 pad 1", 7, 2, 3, 3, 2, 1},
		{"1x1 stride 2 pad 0", 6, 3, 2, 1, 2, 0},
		{"7x7 stride 2 pad 3", 9, 1, 2, 7, 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xDims := []int{2, tc.hw, tc.hw, tc.cin}
			kDims := []int{tc.k, tc.k, tc.cin, tc.cout}
			f := func(in []*Node) *Node {
				y := Convolve(in[0], in[1]).StridePerAxis(tc.s, tc.s).DilationPerAxis(1, 1).
					PaddingPerDim([][2]int{{tc.pad, tc.pad}, {tc.pad, tc.pad}}).Done()
				return weighted(y, 3)
			}
			err := gradcheck.Check(backend, f,
				[][]float64{gradcheck.Random(1, 2*tc.hw*tc.hw*tc.cin), gradcheck.Random(2, tc.k*tc.k*tc.cin*tc.cout)},
				[][]int{xDims, kDims}, gradcheck.Options{})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMaxPoolGradient(t *testing.T) {
	backend := testBackend(t)
	f := func(in []*Node) *Node {
		y := MaxPool(in[0]).Window(3).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		return weighted(y, 5)
	}
	// Random values are distinct, so the maximum of each window is unique and the
	// finite difference is well defined.
	err := gradcheck.Check(backend, f, [][]float64{gradcheck.Random(4, 2*7*7*3)}, [][]int{{2, 7, 7, 3}},
		gradcheck.Options{Samples: 60, Eps: 1e-7})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBatchNormGradient(t *testing.T) {
	backend := testBackend(t)
	f := func(in []*Node) *Node {
		y, _, _ := normalizeBatch(in[0], in[1], in[2], 1e-5)
		return weighted(y, 6)
	}
	err := gradcheck.Check(backend, f,
		[][]float64{gradcheck.Random(7, 3*4*4*5), gradcheck.Random(8, 5), gradcheck.Random(9, 5)},
		[][]int{{3, 4, 4, 5}, {5}, {5}}, gradcheck.Options{Samples: 40, Tol: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRsqrtGradient(t *testing.T) {
	backend := testBackend(t)
	x := []float64{0.25, 1, 4, 9.5}
	f := func(in []*Node) *Node { return weighted(Rsqrt(in[0]), 10) }
	if err := gradcheck.Check(backend, f, [][]float64{x}, [][]int{{4}}, gradcheck.Options{}); err != nil {
		t.Fatal(err)
	}
}

// TestBatchNormStatistics checks the forward pass and the running-estimate update against
// values computed by hand.
func TestBatchNormStatistics(t *testing.T) {
	backend := testBackend(t)
	ctx := context.New()
	// One channel, values 1, 2, 3, 6: mean 3, biased var 3.5, unbiased 14/3.
	x := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 6}, 4, 1)
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x *Node) *Node {
		return batchNorm(ctx.In("bn"), x, 0.1, 1e-5, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec1(x)
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](out)
	for i, v := range []float64{1, 2, 3, 6} {
		want := (v - 3) / sqrt(3.5+1e-5)
		if d := float64(got[i]) - want; d > 1e-5 || d < -1e-5 {
			t.Errorf("y[%d] = %g, want %g", i, got[i], want)
		}
	}
	mean := tensors.MustCopyFlatData[float32](ctx.GetVariableByScopeAndName("/bn", RunningMeanVar).MustValue())
	vr := tensors.MustCopyFlatData[float32](ctx.GetVariableByScopeAndName("/bn", RunningVarVar).MustValue())
	if want := float32(0.9*0 + 0.1*3); abs32(mean[0]-want) > 1e-6 {
		t.Errorf("running mean %g, want %g", mean[0], want)
	}
	if want := float32(0.9*1 + 0.1*14.0/3); abs32(vr[0]-want) > 1e-6 {
		t.Errorf("running var %g, want %g", vr[0], want)
	}
}

// countParams builds cfg on a tiny batch and returns the number of trainable scalars in
// the backbone, the whole network, and the pooled feature shape.
func countParams(t *testing.T, backend backends.Backend, cfg Config, hw int) (backbone, total int, feat []int) {
	t.Helper()
	ctx := context.New()
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x *Node) []*Node {
		f := Backbone(ctx, cfg, x, false)
		z := Embed(Projection(ctx, cfg, f, false))
		return []*Node{f, Scores(ctx, cfg, z)}
	})
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromFlatDataAndDimensions(make([]float32, hw*hw*cfg.InChannels), 1, hw, hw, cfg.InChannels)
	start := time.Now()
	outs, err := exec.Exec(x)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("forward %dx%dx%d in %v", hw, hw, cfg.InChannels, time.Since(start))
	ctx.EnumerateVariables(func(v *context.Variable) {
		if !v.Trainable {
			return
		}
		n := v.Shape().Size()
		total += n
		if len(v.Scope()) >= len("/"+BackboneScope) && v.Scope()[:len("/"+BackboneScope)] == "/"+BackboneScope {
			backbone += n
		}
	})
	return backbone, total, outs[0].Shape().Dimensions
}

func TestParameterCounts(t *testing.T) {
	backend := testBackend(t)
	for _, tc := range []struct {
		name     string
		cfg      Config
		hw       int
		backbone int // trainable backbone scalars, as torchvision (without fc)
	}{
		// 288+64 stem, 37120 stage 1, 131712 stage 2, 525568 stage 3 (worked out by hand).
		{"small-28x28x1", Small(1), 28, 694752},
		{"resnet18-small-stem-28x28x1", func() Config { c := ResNet18(); c.Stem, c.InChannels = SmallStem, 1; return c }(), 28, 11176512 - 9408 + 576},
		{"resnet50-224x224x3", ResNet50(), 224, 23508032},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.hw == 224 {
				t.Skip("ResNet-50 forward at 224 px is slow on the pure-Go backend")
			}
			bb, total, feat := countParams(t, backend, tc.cfg, tc.hw)
			t.Logf("%s: backbone %d parameters (%.2f M), with head and prototypes %d", tc.name, bb, float64(bb)/1e6, total)
			if bb != tc.backbone {
				t.Errorf("backbone has %d parameters, want %d", bb, tc.backbone)
			}
			if len(feat) != 2 || feat[1] != tc.cfg.FeatureDim() {
				t.Errorf("features %v, want [1 %d]", feat, tc.cfg.FeatureDim())
			}
		})
	}
}
