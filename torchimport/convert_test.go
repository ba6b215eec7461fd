package torchimport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/model"
)

func readFixture(t *testing.T, name string) map[string]Tensor {
	t.Helper()
	sd, err := ReadStateDict(fixture(name))
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

func clone(sd map[string]Tensor) map[string]Tensor {
	out := make(map[string]Tensor, len(sd))
	for k, v := range sd {
		out[k] = v
	}
	return out
}

func ones(shape ...int) Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = 1
	}
	return Tensor{DType: "float32", Shape: shape, Data: v}
}

// TestConvertOtherArchitecture converts a state dict of an MLP: the error says why and
// lists its keys.
func TestConvertOtherArchitecture(t *testing.T) {
	_, err := Convert(readFixture(t, "mlp.pt"), ConvertOptions{})
	if !errors.Is(err, ErrArchitecture) || !strings.Contains(err.Error(), "not a ResNet") ||
		!strings.Contains(err.Error(), "0.weight [8 4]") || !strings.Contains(err.Error(), "2.bias [2]") {
		t.Fatalf("error %v", err)
	}
	t.Log(err)
	out := filepath.Join(t.TempDir(), "mlp.swav")
	err = ConvertFile(fixture("mlp.pt"), out, ConvertOptions{})
	if !errors.Is(err, ErrArchitecture) || !strings.Contains(err.Error(), fixture("mlp.pt")) {
		t.Fatalf("ConvertFile error %v", err)
	}
	if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
		t.Fatalf("ConvertFile left %s behind", out)
	}
}

// TestConvertMismatches checks that unknown keys, missing keys and shape mismatches are
// all listed in one error.
func TestConvertMismatches(t *testing.T) {
	base := readFixture(t, "swav_basic_nobn.pt")
	for _, tc := range []struct {
		name  string
		edit  func(sd map[string]Tensor)
		wants []string
	}{
		{"unknown key", func(sd map[string]Tensor) { sd["layer1.0.foo.weight"] = ones(3) },
			[]string{"1 unknown keys: layer1.0.foo.weight [3]"}},
		{"prototype bias", func(sd map[string]Tensor) { sd["prototypes.bias"] = ones(5) },
			[]string{"unknown keys: prototypes.bias [5]"}},
		{"missing key", func(sd map[string]Tensor) { delete(sd, "layer2.0.downsample.0.weight") },
			[]string{"1 missing keys: layer2.0.downsample.0.weight [8 4 1 1]"}},
		{"shape mismatch", func(sd map[string]Tensor) { sd["layer3.0.bn1.weight"] = ones(17) },
			[]string{"1 shape mismatches: layer3.0.bn1.weight is [17], expected [16]"}},
		{"all at once", func(sd map[string]Tensor) {
			sd["extra.weight"] = ones(2)
			sd["layer4.0.conv9.weight"] = ones(1)
			delete(sd, "bn1.running_var")
			sd["projection_head.2.weight"] = ones(8, 17)
		}, []string{"2 unknown keys: extra.weight [2], layer4.0.conv9.weight [1]", "1 missing keys: bn1.running_var [4]",
			"1 shape mismatches: projection_head.2.weight is [8 17], expected [8 16]"}},
		{"multi prototypes", func(sd map[string]Tensor) {
			sd["prototypes.prototypes0.weight"] = sd["prototypes.weight"]
			delete(sd, "prototypes.weight")
		}, []string{"MultiPrototypes"}},
		{"stem narrower than layer1", func(sd map[string]Tensor) {
			sd["layer1.0.conv1.weight"] = ones(8, 4, 3, 3)
		}, []string{"the stem has 4 channels but layer1 is 8 wide"}},
		{"stem kernel", func(sd map[string]Tensor) { sd["conv1.weight"] = ones(4, 3, 5, 5) }, []string{"5×5 kernel"}},
		{"no stages", func(sd map[string]Tensor) {
			for k := range sd {
				if strings.HasPrefix(k, "layer") {
					delete(sd, k)
				}
			}
		}, []string{"no layerS.B.* keys"}},
		{"stage gap", func(sd map[string]Tensor) {
			for k := range sd {
				if strings.HasPrefix(k, "layer2.") {
					delete(sd, k)
				}
			}
		}, []string{"stage layer2 has no blocks"}},
		{"duplicate", func(sd map[string]Tensor) { sd["module.bn1.bias"] = sd["bn1.bias"] }, []string{`both map to "bn1.bias"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd := clone(base)
			tc.edit(sd)
			_, err := Convert(sd, ConvertOptions{})
			if !errors.Is(err, ErrArchitecture) {
				t.Fatalf("error %v, want ErrArchitecture", err)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestConvertOptions checks the ignored keys, the overrides and the header.
func TestConvertOptions(t *testing.T) {
	sd := readFixture(t, "swav_basic_nobn.pt")

	f, err := Convert(sd, ConvertOptions{BackboneOnly: true, WidthMultiplier: 4, BNEpsilon: 1e-3, BNMomentum: 0.01, Source: "x.pth"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ParseConfig(f.Header.Model)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OutDim != 0 || cfg.Prototypes != 0 || cfg.WidthMultiplier != 4 || cfg.Widths[0] != 1 || cfg.BNEpsilon != 1e-3 || cfg.BNMomentum != 0.01 {
		t.Fatalf("config %s", f.Header.Model)
	}
	for _, ts := range f.Tensors {
		if !strings.HasPrefix(ts.Name, model.BackboneScope+"/") {
			t.Fatalf("backbone-only checkpoint has %s", ts.Name)
		}
	}
	extra := string(f.Header.Extra[ExtraKey])
	for _, w := range []string{`"source":"x.pth"`, "prototypes.weight", "projection_head.0.weight", "bn1.num_batches_tracked"} {
		if !strings.Contains(extra, w) {
			t.Errorf("header extra %s lacks %s", extra, w)
		}
	}

	if _, err := Convert(sd, ConvertOptions{WidthMultiplier: 3}); !errors.Is(err, ErrArchitecture) {
		t.Errorf("width multiplier 3 of width 4: %v", err)
	}

	pre := DefaultPreprocess()
	pre.Channels = 1
	if _, err := Convert(sd, ConvertOptions{Preprocess: &pre}); err == nil || !strings.Contains(err.Error(), "channels") {
		t.Errorf("1-channel preprocessing for a 3-channel model: %v", err)
	}
	pre = DefaultPreprocess()
	pre.InputSize, pre.ResizeSize = 64, 72
	f, err = Convert(sd, ConvertOptions{Preprocess: &pre})
	if err != nil || f.Header.Preprocess.InputSize != 64 || f.Header.Preprocess.ResizeSize != 72 {
		t.Fatalf("preprocess override: %v", err)
	}

	// A one-channel model needs its own preprocessing.
	gray := clone(sd)
	gray["conv1.weight"] = ones(4, 1, 7, 7)
	if _, err := Convert(gray, ConvertOptions{}); err == nil || !strings.Contains(err.Error(), "ConvertOptions.Preprocess") {
		t.Errorf("one-channel model without preprocessing: %v", err)
	}

	bad := clone(sd)
	bad["bn1.bias"] = Tensor{Shape: []int{4}, Data: make([]float32, 3)}
	if _, err := Convert(bad, ConvertOptions{}); err == nil || !strings.Contains(err.Error(), "bn1.bias") {
		t.Errorf("data disagreeing with the shape: %v", err)
	}
	if _, err := Convert(nil, ConvertOptions{}); !errors.Is(err, ErrArchitecture) {
		t.Errorf("empty state dict: %v", err)
	}
}

// TestConvertFileErrors checks ConvertFile's refusals.
func TestConvertFileErrors(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(fixture("swav_basic_nobn.pt"))
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.pt")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ConvertFile(in, in, ConvertOptions{}); err == nil || !strings.Contains(err.Error(), "overwrite") {
		t.Errorf("converting onto the input: %v", err)
	}
	if after, _ := os.ReadFile(in); len(after) != len(data) {
		t.Fatal("the input was modified")
	}
	cut := filepath.Join(dir, "cut.pt")
	if err := os.WriteFile(cut, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ConvertFile(cut, filepath.Join(dir, "out.swav"), ConvertOptions{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), cut) {
		t.Errorf("truncated input: %v", err)
	}
	if err := ConvertFile(in, filepath.Join(dir, "missing", "out.swav"), ConvertOptions{}); err == nil || !strings.Contains(err.Error(), in) {
		t.Errorf("unwritable output: %v", err)
	}
	out := filepath.Join(dir, "ok.swav")
	if err := ConvertFile(in, out, ConvertOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.Load(out); err != nil {
		t.Fatal(err)
	}
}
