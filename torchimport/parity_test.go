package torchimport

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	mlctx "github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/backend/compat"
	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/infer"
	"github.com/swav-go/swav/model"
)

// swavHead is the key layout of SwAV's head (Linear, BatchNorm1d, ReLU, Linear).
var swavHead = headKeys{first: "projection_head.0", bn: "projection_head.1", last: "projection_head.3"}

// tolerance is the largest absolute difference allowed between PyTorch's outputs and
// swav-go's on the imported weights.
const tolerance = 1e-4

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := compat.New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run computes features, raw projection, embedding and scores (the ones cfg has) of x
// with the checkpoint's variables.
func run(t *testing.T, b backends.Backend, f *checkpoint.File, x []float32, shape []int) map[string][]float32 {
	t.Helper()
	cfg, err := model.ParseConfig(f.Header.Model)
	if err != nil {
		t.Fatal(err)
	}
	ctx := mlctx.New()
	if err := model.ImportVariables(ctx, f.Tensors, nil); err != nil {
		t.Fatal(err)
	}
	names := []string{"features", "embedding"}
	if cfg.OutDim > 0 {
		names = append(names, "projection")
	}
	if cfg.Prototypes > 0 {
		names = append(names, "scores")
	}
	// Reuse: every variable the graph uses must come from the checkpoint.
	exec, err := mlctx.NewExec(b, ctx.Reuse(), func(ctx *mlctx.Context, images *Node) []*Node {
		feats := model.Backbone(ctx, cfg, images, false)
		proj := model.Projection(ctx, cfg, feats, false)
		z := model.Embed(proj)
		outs := []*Node{feats, z}
		if cfg.OutDim > 0 {
			outs = append(outs, proj)
		}
		if cfg.Prototypes > 0 {
			outs = append(outs, model.Scores(ctx, cfg, z))
		}
		return outs
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	res, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, shape...))
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]float32, len(res))
	for i, r := range res {
		out[names[i]] = tensors.MustCopyFlatData[float32](r)
		r.FinalizeAll()
	}
	return out
}

// TestParity converts the PyTorch fixtures and checks that swav-go computes what PyTorch
// computed on them (recorded by testdata/make_fixtures.py).
func TestParity(t *testing.T) {
	e := loadExpected(t)
	x, shape := loadInput(t, e)
	b := testBackend(t)
	wantCfg := map[string]model.Config{
		"resnet_basic_tv.pt": {Block: model.BasicBlock, Layers: []int{1, 1, 1, 1}, Widths: []int{8, 16, 32, 64},
			WidthMultiplier: 1, Stem: model.ImageNetStem, InChannels: 3, BNMomentum: 0.1, BNEpsilon: 1e-5},
		"swav_bottleneck.pt": {Block: model.BottleneckBlock, Layers: []int{3, 4, 6, 3}, Widths: []int{4, 8, 16, 32},
			WidthMultiplier: 1, Stem: model.ImageNetStem, InChannels: 3, HiddenDim: 32, HeadBatchNorm: true, OutDim: 16,
			Prototypes: 10, BNMomentum: 0.1, BNEpsilon: 1e-5},
		"swav_basic_nobn.pt": {Block: model.BasicBlock, Layers: []int{1, 1, 1, 1}, Widths: []int{4, 8, 16, 32},
			WidthMultiplier: 1, Stem: model.ImageNetStem, InChannels: 3, HiddenDim: 16, OutDim: 8,
			Prototypes: 5, BNMomentum: 0.1, BNEpsilon: 1e-5},
	}
	wantCfg["swav_bottleneck_legacy.pt"] = wantCfg["swav_bottleneck.pt"]
	names := make([]string, 0, len(e.Models))
	for name := range e.Models {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			sd, err := ReadStateDict(fixture(name))
			if err != nil {
				t.Fatal(err)
			}
			var logs []string
			f, err := Convert(sd, ConvertOptions{Logf: func(format string, args ...any) {
				logs = append(logs, format)
			}})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := model.ParseConfig(f.Header.Model)
			if err != nil {
				t.Fatal(err)
			}
			want, ok := wantCfg[name]
			if !ok {
				t.Fatalf("no expected config for %s", name)
			}
			if string(want.MarshalJSONConfig()) != string(cfg.MarshalJSONConfig()) {
				t.Fatalf("inferred config\n%s\nwant\n%s", cfg.MarshalJSONConfig(), want.MarshalJSONConfig())
			}
			if f.Header.Kind != Kind || f.Header.Preprocess == nil || f.Header.Preprocess.InputSize != 224 {
				t.Fatalf("header %+v", f.Header)
			}
			got := run(t, b, f, x, shape)
			rec := e.Models[name]
			if len(got) != len(rec) {
				t.Fatalf("computed %d outputs, PyTorch recorded %d", len(got), len(rec))
			}
			for _, out := range []string{"features", "projection", "embedding", "scores"} {
				if _, ok := rec[out]; !ok {
					continue
				}
				d := maxAbsDiff(t, out, got[out], rec[out])
				t.Logf("%-10s max |swav-go − PyTorch| = %.2e", out, d)
				if !(d <= tolerance) {
					t.Errorf("%s differs from PyTorch by %g (tolerance %g)", out, d, tolerance)
				}
			}
			if strings.HasPrefix(name, "resnet_basic_tv") && !slices.ContainsFunc(logs, func(s string) bool { return strings.Contains(s, "fc.*") }) {
				t.Errorf("no note about the ignored classifier in %q", logs)
			}
		})
	}
}

// TestConvertFileInfer converts a fixture to a file with ConvertFile and embeds the
// fixture input with package infer, as the CLI will.
func TestConvertFileInfer(t *testing.T) {
	e := loadExpected(t)
	x, shape := loadInput(t, e)
	name := "swav_bottleneck_legacy.pt"
	for _, f16 := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "model.swav")
		pre := DefaultPreprocess()
		pre.InputSize, pre.ResizeSize = shape[1], shape[1]
		if err := ConvertFile(fixture(name), out, ConvertOptions{Preprocess: &pre, Float16: f16}); err != nil {
			t.Fatal(err)
		}
		ck, err := checkpoint.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if ck.Header.Float16 != f16 || !strings.Contains(string(ck.Header.Extra[ExtraKey]), name) {
			t.Fatalf("header float16 %v, extra %s", ck.Header.Float16, ck.Header.Extra[ExtraKey])
		}
		m, err := infer.Load(out, infer.Options{Backend: testBackend(t), Output: infer.Projection, Raw: true, BatchSize: shape[0]})
		if err != nil {
			t.Fatal(err)
		}
		per := shape[1] * shape[2] * shape[3]
		inputs := make([]imageio.Tensor, shape[0])
		for i := range inputs {
			inputs[i] = imageio.Tensor{H: shape[1], W: shape[2], C: shape[3], Pix: x[i*per : (i+1)*per]}
		}
		vecs, err := m.EmbedTensors(context.Background(), inputs)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Concat(vecs...)
		tol := tolerance
		if f16 {
			tol = 2e-2 // float16 weights: about 3 significant digits
		}
		d := maxAbsDiff(t, "projection", got, e.Models[name]["projection"])
		t.Logf("float16=%v: infer projection max |swav-go − PyTorch| = %.2e", f16, d)
		if !(d <= tol) {
			t.Errorf("float16=%v: infer's projection differs from PyTorch by %g", f16, d)
		}
		protos, err := m.Prototypes()
		if err != nil || len(protos) != 10 || len(protos[0]) != 16 {
			t.Fatalf("prototypes: %d, %v", len(protos), err)
		}
	}
}

// TestLayoutMatchesModel checks that the parameters Convert produces are exactly the
// variables the model package creates, names and shapes, for the reference configs.
func TestLayoutMatchesModel(t *testing.T) {
	b := testBackend(t)
	w2 := model.ResNet50()
	w2.WidthMultiplier = 2
	w5 := model.ResNet50()
	w5.WidthMultiplier, w5.HeadBatchNorm = 5, false
	linearHead := model.ResNet18()
	linearHead.HiddenDim = 0
	noHead := model.ResNet18()
	noHead.OutDim, noHead.HiddenDim, noHead.Prototypes = 0, 0, 0
	protosOnly := model.Small(1)
	protosOnly.OutDim, protosOnly.HiddenDim = 0, 0
	for name, cfg := range map[string]model.Config{
		"resnet50": model.ResNet50(), "resnet50w2": w2, "resnet50w5": w5, "resnet18": model.ResNet18(),
		"small": model.Small(1), "linear head": linearHead, "no head": noHead, "prototypes only": protosOnly,
	} {
		t.Run(name, func(t *testing.T) {
			ctx := mlctx.New()
			g := NewGraph(b, "layout")
			x := Parameter(g, "x", shapes.Make(dtypes.Float32, 1, 32, 32, cfg.InChannels))
			z := model.Embed(model.Projection(ctx, cfg, model.Backbone(ctx, cfg, x, false), false))
			if cfg.Prototypes > 0 {
				model.Scores(ctx, cfg, z)
			}
			have := map[string][]int{}
			ctx.EnumerateVariables(func(v *mlctx.Variable) {
				have[model.VariableName(v)] = v.Shape().Dimensions
			})
			g.Finalize()
			head := swavHead
			if !cfg.HeadBatchNorm {
				head.bn, head.last = "", "projection_head.2"
			}
			ps := layout(cfg, head)
			if len(ps) != len(have) {
				t.Errorf("layout has %d parameters, the model %d variables", len(ps), len(have))
			}
			for _, p := range ps {
				want := p.shape
				switch p.kind {
				case convParam:
					want = []int{p.shape[2], p.shape[3], p.shape[1], p.shape[0]}
				case linearParam:
					want = []int{p.shape[1], p.shape[0]}
				}
				if got, ok := have[p.name]; !ok || !equalInts(got, want) {
					t.Errorf("%s (from %s): model has %v (exists %v), layout %v", p.name, p.torch, got, ok, want)
				}
			}
		})
	}
}

// TestInferConfigRoundTrip writes the PyTorch layout of configs (shapes only, no data)
// and infers them back, including the released wide models.
func TestInferConfigRoundTrip(t *testing.T) {
	w := func(k int, bn bool) model.Config {
		c := model.ResNet50()
		c.WidthMultiplier, c.HeadBatchNorm = k, bn
		return c
	}
	linearHead := model.ResNet18()
	linearHead.HiddenDim, linearHead.HeadBatchNorm = 0, false
	odd := model.Small(3)
	odd.Widths = []int{48, 96, 192}
	for name, tc := range map[string]struct {
		cfg  model.Config
		head headKeys
	}{
		"resnet50":    {model.ResNet50(), swavHead},
		"resnet50w2":  {w(2, true), swavHead},
		"resnet50w4":  {w(4, true), swavHead},
		"resnet50w5":  {w(5, false), headKeys{first: "projection_head.0", last: "projection_head.2"}},
		"resnet18":    {model.ResNet18(), swavHead},
		"small":       {model.Small(1), swavHead},
		"odd widths":  {odd, swavHead},
		"linear head": {linearHead, headKeys{first: "projection_head"}},
	} {
		t.Run(name, func(t *testing.T) {
			sd := map[string]Tensor{}
			for _, p := range layout(tc.cfg, tc.head) {
				sd[p.torch] = Tensor{Shape: p.shape}
			}
			opts := ConvertOptions{}
			if tc.cfg.InChannels != 3 {
				pre := DefaultPreprocess()
				pre.Channels, pre.Mean, pre.Std = 1, []float64{0.5}, []float64{0.5}
				opts.Preprocess = &pre
			}
			cfg, head, err := inferConfig(sd, opts)
			if err != nil {
				t.Fatal(err)
			}
			if string(cfg.MarshalJSONConfig()) != string(tc.cfg.MarshalJSONConfig()) || head != tc.head {
				t.Fatalf("inferred\n%s %+v\nwant\n%s %+v", cfg.MarshalJSONConfig(), head, tc.cfg.MarshalJSONConfig(), tc.head)
			}
			if err := compare(sd, layout(cfg, head)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTransposes(t *testing.T) {
	// conv [O=2, I=3, kh=1, kw=2] → [1, 2, 3, 2]
	v := make([]float32, 12)
	for i := range v {
		v[i] = float32(i)
	}
	shape, got := convToHWIO([]int{2, 3, 1, 2}, v)
	if !equalInts(shape, []int{1, 2, 3, 2}) {
		t.Fatal(shape)
	}
	for o := 0; o < 2; o++ {
		for i := 0; i < 3; i++ {
			for w := 0; w < 2; w++ {
				if got[(w*3+i)*2+o] != v[(o*3+i)*2+w] {
					t.Fatalf("conv element o%d i%d w%d", o, i, w)
				}
			}
		}
	}
	shape, got = transpose2D([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	if !equalInts(shape, []int{3, 2}) || !slices.Equal(got, []float32{1, 4, 2, 5, 3, 6}) {
		t.Fatal(shape, got)
	}
	if math.IsNaN(float64(halfToFloat32(0x7e00))) == false || halfToFloat32(0x3c00) != 1 || halfToFloat32(0x0001) != 1.0/(1<<24) ||
		halfToFloat32(0xc000) != -2 || !math.IsInf(float64(halfToFloat32(0xfc00)), -1) || halfToFloat32(0x8001) != -1.0/(1<<24) {
		t.Fatal("float16 conversion")
	}
}
