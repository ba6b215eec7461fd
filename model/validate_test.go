package model

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/checkpoint"
)

// resNet50w5 is the released ×5 model: no batch norm in its 10240-wide head.
func resNet50w5() Config {
	c := ResNet50()
	c.WidthMultiplier, c.HiddenDim, c.HeadBatchNorm = 5, 10240, false
	return c
}

// layoutConfigs are configs covering every branch of the network's layout.
func layoutConfigs() map[string]Config {
	w2 := ResNet50()
	w2.WidthMultiplier, w2.HiddenDim = 2, 8192
	linearHead := ResNet18()
	linearHead.HiddenDim = 0
	noHead := ResNet18()
	noHead.OutDim, noHead.HiddenDim, noHead.Prototypes = 0, 0, 0
	protosOnly := Small(1)
	protosOnly.OutDim, protosOnly.HiddenDim = 0, 0
	noHeadBN := Small(3)
	noHeadBN.HeadBatchNorm = false
	tinyBottleneck := Config{Block: BottleneckBlock, Layers: []int{2, 1, 3}, Widths: []int{2, 3, 5}, WidthMultiplier: 3,
		Stem: SmallStem, InChannels: 4, HiddenDim: 6, HeadBatchNorm: true, OutDim: 5, Prototypes: 7, BNMomentum: 0.1, BNEpsilon: 1e-5}
	return map[string]Config{
		"resnet50": ResNet50(), "resnet50w2": w2, "resnet50w5": resNet50w5(), "resnet18": ResNet18(),
		"small": Small(1), "linear head": linearHead, "no head": noHead, "prototypes only": protosOnly,
		"head without bn": noHeadBN, "tiny bottleneck": tinyBottleneck,
	}
}

// TestVariablesMatchGraph: Config.Variables lists exactly the variables (names and
// shapes) that building the network's graph creates.
func TestVariablesMatchGraph(t *testing.T) {
	b := testBackend(t)
	for name, cfg := range layoutConfigs() {
		t.Run(name, func(t *testing.T) {
			ctx := context.New()
			g := NewGraph(b, "layout")
			x := Parameter(g, "x", shapes.Make(dtypes.Float32, 1, 32, 32, cfg.InChannels))
			z := Embed(Projection(ctx, cfg, Backbone(ctx, cfg, x, false), false))
			if cfg.Prototypes > 0 {
				Scores(ctx, cfg, z)
			}
			have := map[string][]int{}
			ctx.EnumerateVariables(func(v *context.Variable) {
				have[VariableName(v)] = v.Shape().Dimensions
			})
			g.Finalize()
			vs, err := cfg.Variables()
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != len(have) {
				t.Errorf("Variables lists %d, the graph has %d", len(vs), len(have))
			}
			for i, v := range vs {
				if i > 0 && vs[i-1].Name >= v.Name {
					t.Errorf("not sorted: %s before %s", vs[i-1].Name, v.Name)
				}
				if got, ok := have[v.Name]; !ok || !slices.Equal(got, v.Shape) {
					t.Errorf("%s: graph has %v (exists %v), Variables %v", v.Name, got, ok, v.Shape)
				}
			}
		})
	}
}

// countValues sums the values of vs, split into learned parameters and batch-norm
// running statistics.
func countValues(vs []VariableSpec, scope string) (params, stats int64) {
	for _, v := range vs {
		if !strings.HasPrefix(v.Name, scope+"/") {
			continue
		}
		n := int64(1)
		for _, d := range v.Shape {
			n *= int64(d)
		}
		if strings.HasSuffix(v.Name, "/"+RunningMeanVar) || strings.HasSuffix(v.Name, "/"+RunningVarVar) {
			stats += n
		} else {
			params += n
		}
	}
	return params, stats
}

// TestVariablesParameterCounts checks Variables against published counts: torchvision's
// ResNet-50 and ResNet-18 (25,557,032 and 11,689,512 parameters, less the 1000-class fc
// layer: 2,049,000 and 513,000) and SwAV's ResNet-50 ×5 (586 M backbone parameters).
func TestVariablesParameterCounts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		params int64
	}{
		{"resnet50", ResNet50(), 25_557_032 - 2_049_000},
		{"resnet18", ResNet18(), 11_689_512 - 513_000},
		{"resnet50w5", resNet50w5(), 586_450_240},
	} {
		vs, err := tc.cfg.Variables()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if p, _ := countValues(vs, BackboneScope); p != tc.params {
			t.Errorf("%s backbone: %d parameters, want %d", tc.name, p, tc.params)
		}
	}
	// The ×5 model's head: 10240×10240 + 10240 + 10240×128 + 128; prototypes 128×3000.
	vs, _ := resNet50w5().Variables()
	if p, s := countValues(vs, ProjectionScope); p != 106_178_688 || s != 0 {
		t.Errorf("resnet50w5 head: %d parameters, %d statistics; want 106178688, 0", p, s)
	}
	if p, _ := countValues(vs, PrototypesScope); p != 384_000 {
		t.Errorf("resnet50w5 prototypes: %d, want 384000", p)
	}
}

// TestFeatureMapValues checks the largest feature map per image against hand counts.
func TestFeatureMapValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		input int
		want  int64
	}{
		// Stem conv 112²×64 and layer1's output 56²×256: both 802,816.
		{"resnet50 224", ResNet50(), 224, 112 * 112 * 64},
		// 225 → ⌊224/2⌋+1 = 113 after the stem conv, 57 after the pool: layer1 57²×256
		// (12769·64 = 817,216 at the stem is smaller than 3249·256 = 831,744).
		{"resnet50 225", ResNet50(), 225, 57 * 57 * 256},
		// ×5 at 1024 px: 512²×320 at the stem = 256²×1280 in layer1 = 83,886,080.
		{"resnet50w5 1024", resNet50w5(), 1024, 512 * 512 * 320},
		// The small stem keeps 28×28: 28²×32 after the stem and layer1.
		{"small 28", Small(1), 28, 28 * 28 * 32},
		// A tiny net whose input is its largest map: 5²×4 > 5²×1.
		{"input largest", Config{Block: BasicBlock, Layers: []int{1}, Widths: []int{1}, WidthMultiplier: 1, Stem: SmallStem,
			InChannels: 4, BNMomentum: 0.1, BNEpsilon: 1e-5}, 5, 5 * 5 * 4},
	} {
		got, err := tc.cfg.FeatureMapValues(tc.input)
		if err != nil || got != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	if _, err := ResNet50().FeatureMapValues(0); err == nil {
		t.Error("input size 0: no error")
	}
}

// TestValidateBounds: every field outside its bounds gives a *FieldError naming it, the
// real models pass, and products that would overflow are refused.
func TestValidateBounds(t *testing.T) {
	for name, cfg := range layoutConfigs() {
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, tc := range []struct {
		name   string
		edit   func(c *Config)
		field  string
		detail string
	}{
		{"block", func(c *Config) { c.Block = "dense" }, "model.block", `"dense" is not valid`},
		{"stem", func(c *Config) { c.Stem = "" }, "model.stem", "stems are"},
		{"no stages", func(c *Config) { c.Layers, c.Widths = nil, nil }, "model.layers", "0 stages"},
		{"nine stages", func(c *Config) { c.Layers, c.Widths = make([]int, 9), make([]int, 9) }, "model.layers", "9 stages"},
		{"widths length", func(c *Config) { c.Widths = c.Widths[:3] }, "model.widths", "3 stages but model.layers has 4"},
		{"zero blocks", func(c *Config) { c.Layers[1] = 0 }, "model.layers[1]", "below the minimum 1"},
		{"too many blocks", func(c *Config) { c.Layers[2] = 1 << 40 }, "model.layers[2]", "above the limit 64"},
		{"zero width", func(c *Config) { c.Widths[0] = 0 }, "model.widths[0]", "below the minimum 1"},
		{"huge width", func(c *Config) { c.Widths[3] = 1 << 62 }, "model.widths[3]", "above the limit 4096"},
		{"width × multiplier", func(c *Config) { c.Widths[3], c.WidthMultiplier = 4096, 16 }, "model.widths[3]", "262144 channels, above the limit 32768"},
		{"multiplier 2^62", func(c *Config) { c.WidthMultiplier = 1 << 62 }, "model.width_multiplier", "4611686018427387904 is above the limit 16"},
		{"multiplier 0", func(c *Config) { c.WidthMultiplier = 0 }, "model.width_multiplier", "below the minimum 1"},
		{"in_channels 0", func(c *Config) { c.InChannels = 0 }, "model.in_channels", "below"},
		{"in_channels 5", func(c *Config) { c.InChannels = 5 }, "model.in_channels", "above the limit 4"},
		{"hidden_dim", func(c *Config) { c.HiddenDim = 1 << 40 }, "model.hidden_dim", "above the limit 65536"},
		{"negative hidden_dim", func(c *Config) { c.HiddenDim = -1 }, "model.hidden_dim", "below the minimum 0"},
		{"out_dim", func(c *Config) { c.OutDim, c.Prototypes = 1<<40, 1<<40 }, "model.out_dim", "1099511627776 is above the limit 65536"},
		{"prototypes", func(c *Config) { c.Prototypes = 1 << 40 }, "model.prototypes", "above the limit 65536"},
		{"hidden without out", func(c *Config) { c.OutDim, c.Prototypes = 0, 0 }, "model.hidden_dim", "needs model.out_dim"},
		{"momentum NaN", func(c *Config) { c.BNMomentum = math.NaN() }, "model.bn_momentum", "NaN must be in (0, 1]"},
		{"momentum 0", func(c *Config) { c.BNMomentum = 0 }, "model.bn_momentum", "(0, 1]"},
		{"momentum 2", func(c *Config) { c.BNMomentum = 2 }, "model.bn_momentum", "(0, 1]"},
		{"epsilon Inf", func(c *Config) { c.BNEpsilon = math.Inf(1) }, "model.bn_epsilon", "+Inf must be in (0, 1]"},
		{"epsilon negative", func(c *Config) { c.BNEpsilon = -1e-5 }, "model.bn_epsilon", "(0, 1]"},
		// Every field within bounds, but 4 stages × 64 blocks of 3×3 convs with 32768
		// channels: 2.5·10^12 values.
		{"values", func(c *Config) {
			c.Block, c.Layers, c.Widths, c.WidthMultiplier = BasicBlock, []int{64, 64, 64, 64}, []int{4096, 4096, 4096, 4096}, 8
		}, "model", "values (variables and batch-norm statistics), above the limit 2147483648"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ResNet50()
			c.Layers, c.Widths = slices.Clone(c.Layers), slices.Clone(c.Widths)
			tc.edit(&c)
			err := c.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want a *FieldError for %s", err, tc.field)
			}
			if !strings.HasPrefix(err.Error(), tc.field+" ") || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q, want %q … %q", err, tc.field, tc.detail)
			}
			if _, err := c.Variables(); err == nil {
				t.Error("Variables of an invalid config: no error")
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"missing", ``, "model section is missing"},
		{"not an int", `{"block":"basic","out_dim":1e40}`, "out_dim"},
		{"unknown field", `{"block":"basic","depth":50}`, "depth"},
		{"bounds", string(Config{Block: BasicBlock, Layers: []int{1}, Widths: []int{8}, WidthMultiplier: 1 << 62, Stem: SmallStem,
			InChannels: 1, BNMomentum: 0.1, BNEpsilon: 1e-5}.MarshalJSONConfig()), "model.width_multiplier = 4611686018427387904 is above the limit 16"},
	} {
		if _, err := ParseConfig([]byte(tc.raw)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	c, err := ParseConfig(ResNet18().MarshalJSONConfig())
	if err != nil || c.FeatureDim() != 512 {
		t.Errorf("ResNet-18 round trip: %v, %v", c, err)
	}
}

func imagenetPre() checkpoint.Preprocess {
	return checkpoint.Preprocess{InputSize: 224, ResizeSize: 256, Mean: []float64{0.485, 0.456, 0.406},
		Std: []float64{0.229, 0.224, 0.225}, Channels: 3, Interpolation: Interpolation}
}

func TestValidatePreprocess(t *testing.T) {
	big := imagenetPre()
	big.InputSize, big.ResizeSize = 1024, 1170
	for name, tc := range map[string]struct {
		cfg Config
		pre checkpoint.Preprocess
	}{"resnet50": {ResNet50(), imagenetPre()}, "resnet50w5 1024 px": {resNet50w5(), big}} {
		if err := ValidatePreprocess(tc.pre, tc.cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		edit   func(p *checkpoint.Preprocess)
		field  string
		detail string
	}{
		{"channels 4", ResNet50(), func(p *checkpoint.Preprocess) { p.Channels = 4 }, "preprocess.channels", "channels are 1 (grayscale) and 3 (RGB)"},
		{"channels vs model", Small(1), func(p *checkpoint.Preprocess) {}, "preprocess.channels", "differs from model.in_channels = 1"},
		{"input_size 0", ResNet50(), func(p *checkpoint.Preprocess) { p.InputSize = 0 }, "preprocess.input_size", "below the minimum 1"},
		{"input_size 1e6", ResNet50(), func(p *checkpoint.Preprocess) { p.InputSize, p.ResizeSize = 1e6, 1e6 }, "preprocess.input_size", "1000000 is above the limit 1024"},
		{"input_size 20000", ResNet50(), func(p *checkpoint.Preprocess) { p.InputSize = 20000 }, "preprocess.input_size", "above the limit 1024"},
		{"resize below input", ResNet50(), func(p *checkpoint.Preprocess) { p.ResizeSize = 200 }, "preprocess.resize_size", "below preprocess.input_size = 224"},
		{"resize 2^62", ResNet50(), func(p *checkpoint.Preprocess) { p.ResizeSize = 1 << 62 }, "preprocess.resize_size", "4611686018427387904 is above the limit 2048"},
		{"mean length", ResNet50(), func(p *checkpoint.Preprocess) { p.Mean = p.Mean[:2] }, "preprocess.mean", "has 2 values, preprocess.channels is 3"},
		{"std length", ResNet50(), func(p *checkpoint.Preprocess) { p.Std = nil }, "preprocess.std", "has 0 values"},
		{"mean NaN", ResNet50(), func(p *checkpoint.Preprocess) { p.Mean = []float64{0.5, math.NaN(), 0.5} }, "preprocess.mean[1]", "NaN is outside"},
		{"mean beyond float32", ResNet50(), func(p *checkpoint.Preprocess) { p.Mean = []float64{1e300, 0, 0} }, "preprocess.mean[0]", "1e+300 is outside"},
		{"std 0", ResNet50(), func(p *checkpoint.Preprocess) { p.Std = []float64{0.2, 0.2, 0} }, "preprocess.std[2]", "0 is outside [1e-06, 1e+06]"},
		{"std negative", ResNet50(), func(p *checkpoint.Preprocess) { p.Std = []float64{-0.2, 0.2, 0.2} }, "preprocess.std[0]", "outside"},
		// 1e-40 is positive, but only a denormal as float32 (normalising by it gives
		// values near 10^40): below MinNormStd.
		{"std tiny", ResNet50(), func(p *checkpoint.Preprocess) { p.Std = []float64{1e-40, 0.2, 0.2} }, "preprocess.std[0]", "outside"},
		{"std Inf", ResNet50(), func(p *checkpoint.Preprocess) { p.Std = []float64{math.Inf(1), 0.2, 0.2} }, "preprocess.std[0]", "+Inf is outside"},
		{"interpolation bicubic", ResNet50(), func(p *checkpoint.Preprocess) { p.Interpolation = "bicubic" }, "preprocess.interpolation", `"bicubic" is not supported, interpolations are: "bilinear"`},
		{"interpolation empty", ResNet50(), func(p *checkpoint.Preprocess) { p.Interpolation = "" }, "preprocess.interpolation", `"" is not supported`},
		// Within every bound, but the small stem keeps 1024×1024 with 512 channels.
		{"feature map", Config{Block: BasicBlock, Layers: []int{1}, Widths: []int{512}, WidthMultiplier: 1, Stem: SmallStem,
			InChannels: 3, BNMomentum: 0.1, BNEpsilon: 1e-5}, func(p *checkpoint.Preprocess) { p.InputSize, p.ResizeSize = 1024, 1024 },
			"preprocess.input_size", "feature map of 536870912 values per image, above the limit 268435456"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := imagenetPre()
			tc.edit(&p)
			err := ValidatePreprocess(p, tc.cfg)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want a *FieldError for %s", err, tc.field)
			}
			if !strings.HasPrefix(err.Error(), tc.field+" ") || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q, want %q … %q", err, tc.field, tc.detail)
			}
		})
	}
}

// tableOf returns the tensor table of cfg's network, as float32.
func tableOf(t *testing.T, cfg Config) []TensorSpec {
	t.Helper()
	vs, err := cfg.Variables()
	if err != nil {
		t.Fatal(err)
	}
	table := make([]TensorSpec, len(vs))
	for i, v := range vs {
		table[i] = TensorSpec{Name: v.Name, DType: checkpoint.Float32, Shape: v.Shape}
	}
	return table
}

func TestCheckTensors(t *testing.T) {
	cfg := Small(1)
	good := tableOf(t, cfg)
	if err := CheckTensors(cfg, good); err != nil {
		t.Fatalf("the network's own table: %v", err)
	}
	find := func(table []TensorSpec, name string) int {
		i := slices.IndexFunc(table, func(s TensorSpec) bool { return s.Name == name })
		if i < 0 {
			t.Fatalf("no %s in the table", name)
		}
		return i
	}
	for _, tc := range []struct {
		name, tensor, detail string
		edit                 func(table []TensorSpec) []TensorSpec
	}{
		{"missing", "backbone/layer2/0/conv1/kernel", "is missing: the header's model needs it as float32 [3 3 32 64]", func(tb []TensorSpec) []TensorSpec {
			return slices.Delete(tb, find(tb, "backbone/layer2/0/conv1/kernel"), find(tb, "backbone/layer2/0/conv1/kernel")+1)
		}},
		{"missing prototypes", "prototypes/kernel", "is missing: the header's model needs it as float32 [128 200]", func(tb []TensorSpec) []TensorSpec {
			return slices.Delete(tb, find(tb, "prototypes/kernel"), find(tb, "prototypes/kernel")+1)
		}},
		{"shape", "backbone/conv1/kernel", "has shape [3 3 1 31], the header's model needs [3 3 1 32]", func(tb []TensorSpec) []TensorSpec {
			tb[find(tb, "backbone/conv1/kernel")].Shape = []int{3, 3, 1, 31}
			return tb
		}},
		{"rank", "projection/0/bias", "has shape [1 512], the header's model needs [512]", func(tb []TensorSpec) []TensorSpec {
			tb[find(tb, "projection/0/bias")].Shape = []int{1, 512}
			return tb
		}},
		{"dtype", "backbone/bn1/running_var", "is int64 [32], the header's model needs float32 (or float16) [32]", func(tb []TensorSpec) []TensorSpec {
			tb[find(tb, "backbone/bn1/running_var")].DType = checkpoint.Int64
			return tb
		}},
		{"extra network tensor", "backbone/layer4/0/conv1/kernel", "is not a variable of the network the header describes", func(tb []TensorSpec) []TensorSpec {
			return append(tb, TensorSpec{Name: "backbone/layer4/0/conv1/kernel", DType: checkpoint.Float32, Shape: []int{3, 3, 128, 256}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTensors(cfg, tc.edit(slices.Clone(good)))
			var te *TensorError
			if !errors.As(err, &te) || te.Name != tc.tensor {
				t.Fatalf("error %v, want a *TensorError for %s", err, tc.tensor)
			}
			if want := "tensor " + tc.tensor + " "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q, want %q … %q", err, want, tc.detail)
			}
		})
	}
	// Float16 storage and tensors outside the network's scopes are fine.
	f16 := slices.Clone(good)
	for i := range f16 {
		f16[i].DType = checkpoint.Float16
	}
	f16 = append(f16, TensorSpec{Name: "sgd_momentum/backbone/conv1/kernel_momentum", DType: checkpoint.Float64, Shape: []int{7}},
		TensorSpec{Name: "swav_queue/queue", DType: checkpoint.Float32, Shape: []int{2, 3}})
	if err := CheckTensors(cfg, f16); err != nil {
		t.Errorf("float16 table with optimiser state: %v", err)
	}
	if err := CheckTensors(Config{}, good); err == nil {
		t.Error("invalid config: no error")
	}
}
