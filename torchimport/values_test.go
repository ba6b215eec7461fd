package torchimport

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swav-go/swav/checkpoint"
)

// TestConvertFileDTypes writes the basic-block fixture back as a torch.save archive
// with some tensors stored under other element types, and converts it: float64 and the
// int64 num_batches_tracked counters are accepted, integer parameters are refused with
// an error naming the file, every such tensor and its type.
func TestConvertFileDTypes(t *testing.T) {
	sd := readFixture(t, "swav_basic_nobn.pt")
	keys, base := fileStateDict(sd)
	tracked := 0
	for _, k := range keys {
		if strings.HasSuffix(k, "num_batches_tracked") {
			if base[k].storage != "LongStorage" {
				t.Fatalf("%s is stored as %s, want int64 as PyTorch does", k, base[k].storage)
			}
			tracked++
		}
	}
	if tracked == 0 {
		t.Fatal("the fixture has no num_batches_tracked counters")
	}
	want, err := Convert(sd, ConvertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		types map[string]string // key → dtype
		err   error
		msgs  []string
	}{
		{"as saved", nil, nil, nil},
		{"float64 weights", map[string]string{"conv1.weight": "float64", "bn1.running_var": "float64"}, nil, nil},
		{"int64 running mean", map[string]string{"bn1.running_mean": "int64"}, ErrArchitecture,
			[]string{"1 are not", "bn1.running_mean (int64)"}},
		{"integer batch norm and weights", map[string]string{"layer1.0.bn2.running_var": "int64", "layer2.0.bn1.weight": "int32",
			"layer3.0.bn1.bias": "uint8", "layer1.0.conv1.weight": "int64", "prototypes.weight": "int32"}, ErrArchitecture,
			[]string{"5 are not", "layer1.0.bn2.running_var (int64)", "layer2.0.bn1.weight (int32)", "layer3.0.bn1.bias (uint8)",
				"layer1.0.conv1.weight (int64)", "prototypes.weight (int32)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tensors := make(map[string]fileTensor, len(base))
			for k, v := range base {
				tensors[k] = v
			}
			for k, dtype := range tc.types {
				tensors[k] = contiguous(dtype, sd[k].Shape, sd[k].Data)
			}
			dir := t.TempDir()
			in := writeTemp(t, "typed.pt", stateDictZip(t, keys, tensors))
			out := filepath.Join(dir, "out.swav")
			err := ConvertFile(in, out, ConvertOptions{})
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), in) {
					t.Fatalf("error %v, want %v naming %s", err, tc.err, in)
				}
				for _, m := range tc.msgs {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error %q lacks %q", err, m)
					}
				}
				if strings.Contains(err.Error(), "num_batches_tracked") {
					t.Errorf("error %q blames the int64 counters", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := checkpoint.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			// The fixture's values are float32, so float64 storage round-trips them exactly.
			if len(got.Tensors) != len(want.Tensors) {
				t.Fatalf("%d tensors, want %d", len(got.Tensors), len(want.Tensors))
			}
			for i, w := range want.Tensors {
				g := got.Tensors[i]
				gv, err1 := g.Float32s()
				wv, err2 := w.Float32s()
				if g.Name != w.Name || err1 != nil || err2 != nil || !equalInts(g.Shape, w.Shape) || !equalFloats(gv, wv) {
					t.Fatalf("tensor %s differs from converting the fixture directly (%v, %v)", w.Name, err1, err2)
				}
			}
		})
	}
}

// TestConvertValues checks that NaN or infinite parameters and negative running
// variances are refused, naming each tensor, while ignored tensors may hold anything.
func TestConvertValues(t *testing.T) {
	base := readFixture(t, "swav_basic_nobn.pt")
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	with := func(sd map[string]Tensor, key string, at int, v float32) {
		t := sd[key]
		t.Data = append([]float32(nil), t.Data...)
		t.Data[at] = v
		sd[key] = t
	}
	for _, tc := range []struct {
		name string
		edit func(sd map[string]Tensor)
		msgs []string // nil: accepted
	}{
		{"NaN weight", func(sd map[string]Tensor) { with(sd, "layer2.0.conv1.weight", 5, nan) },
			[]string{"1 tensors", "layer2.0.conv1.weight (1 NaN or infinite values of 288, the first at index 5: NaN)"}},
		{"infinities", func(sd map[string]Tensor) {
			with(sd, "prototypes.weight", 0, inf)
			with(sd, "prototypes.weight", 3, -inf)
			with(sd, "projection_head.0.bias", 2, inf)
		}, []string{"2 tensors", "prototypes.weight (2 NaN or infinite values", "the first at index 0: +Inf",
			"projection_head.0.bias (1 NaN"}},
		{"negative variance", func(sd map[string]Tensor) { with(sd, "layer1.0.bn1.running_var", 2, -0.5) },
			[]string{"layer1.0.bn1.running_var (1 negative variances of 4, the first at index 2: -0.5)"}},
		{"negative mean and bias are fine", func(sd map[string]Tensor) {
			with(sd, "layer1.0.bn1.running_mean", 2, -0.5)
			with(sd, "layer1.0.bn1.bias", 1, -3)
		}, nil},
		{"NaN in an ignored tensor", func(sd map[string]Tensor) {
			sd["fc.weight"] = Tensor{DType: "float32", Shape: []int{2}, Data: []float32{nan, inf}}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd := clone(base)
			tc.edit(sd)
			_, err := Convert(sd, ConvertOptions{})
			if tc.msgs == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidValues) {
				t.Fatalf("error %v, want ErrInvalidValues", err)
			}
			for _, m := range tc.msgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
		})
	}
}

// TestConvertFileShortStorage converts archives whose tensors need more elements than
// their storages hold (the storage record matching what the pickle declares): the
// error wraps ErrCorrupt and names the file and the tensor.
func TestConvertFileShortStorage(t *testing.T) {
	sd := readFixture(t, "swav_basic_nobn.pt")
	keys, tensors := fileStateDict(sd)
	w := tensors["layer1.0.conv1.weight"] // [4 4 3 3], 144 elements
	w.numel, w.data = 143, w.data[:4*143]
	tensors["layer1.0.conv1.weight"] = w
	b := tensors["bn1.bias"] // [4] read with an offset of 1: one past the end
	b.offset = 1
	tensors["bn1.bias"] = b
	in := writeTemp(t, "short.pt", stateDictZip(t, keys, tensors))
	err := ConvertFile(in, filepath.Join(t.TempDir(), "out.swav"), ConvertOptions{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), in) || !strings.Contains(err.Error(), "overrun") {
		t.Fatalf("error %v, want ErrCorrupt naming %s and an overrun", err, in)
	}
	// Tensors are decoded in key order: bn1.bias comes first.
	if !strings.Contains(err.Error(), `"bn1.bias"`) {
		t.Errorf("error %q does not name bn1.bias", err)
	}
	delete(tensors, "bn1.bias")
	tensors["bn1.bias"] = contiguous("float32", sd["bn1.bias"].Shape, sd["bn1.bias"].Data)
	in = writeTemp(t, "short2.pt", stateDictZip(t, keys, tensors))
	err = ConvertFile(in, filepath.Join(t.TempDir(), "out.swav"), ConvertOptions{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `"layer1.0.conv1.weight"`) ||
		!strings.Contains(err.Error(), "storage of 143 elements") {
		t.Fatalf("error %v, want ErrCorrupt naming layer1.0.conv1.weight", err)
	}

	// A state dict built in Go whose data is shorter than its shape is refused too.
	short := clone(sd)
	short["layer1.0.conv1.weight"] = Tensor{DType: "float32", Shape: []int{4, 4, 3, 3}, Data: make([]float32, 143)}
	if _, err := Convert(short, ConvertOptions{}); !errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), "layer1.0.conv1.weight (shape [4 4 3 3], 143 values)") {
		t.Fatalf("short data: %v", err)
	}
}

// TestConvertPreprocessValues checks that preprocessing infer.Load would refuse is
// refused when converting: NaN or infinite mean and std, an unknown interpolation.
func TestConvertPreprocessValues(t *testing.T) {
	sd := readFixture(t, "swav_basic_nobn.pt")
	for _, tc := range []struct {
		name string
		edit func(p *checkpoint.Preprocess)
		msg  string
	}{
		{"NaN mean", func(p *checkpoint.Preprocess) { p.Mean[1] = math.NaN() }, "preprocess.mean[1]"},
		{"infinite std", func(p *checkpoint.Preprocess) { p.Std[2] = math.Inf(1) }, "preprocess.std[2]"},
		{"zero std", func(p *checkpoint.Preprocess) { p.Std[0] = 0 }, "preprocess.std[0]"},
		{"interpolation", func(p *checkpoint.Preprocess) { p.Interpolation = "nearest" }, "preprocess.interpolation"},
	} {
		pre := DefaultPreprocess()
		tc.edit(&pre)
		_, err := Convert(sd, ConvertOptions{Preprocess: &pre})
		if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "ConvertOptions.Preprocess") {
			t.Errorf("%s: error %v, want one naming %s", tc.name, err, tc.msg)
		}
	}
}
