package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// goldenCases are the committed golden files and the options that wrote them.
var goldenCases = []struct {
	file string
	opts EncodeOptions
}{
	{"small.swav", EncodeOptions{}},
	{"small_f16.swav", EncodeOptions{Float16: true}},
}

// TestGoldenUpdate rewrites the golden files, only with -update.
func TestGoldenUpdate(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/*.swav")
	}
	for _, c := range goldenCases {
		if err := Save(filepath.Join("testdata", c.file), goldenFile(), c.opts); err != nil {
			t.Fatal(err)
		}
	}
}

// wantHeaderJSON is the exact header section of small.swav: it pins the
// field order, the naming and the number formatting.
const wantHeaderJSON = `{"format_version":1,"kind":"swav-model",` +
	`"model":{"arch":"resnet18","hidden_dim":512,"output_dim":128,"prototypes":30},` +
	`"preprocess":{"input_size":224,"resize_size":256,"mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225],"channels":3,"interpolation":"bilinear"},` +
	`"training":{"epoch":3,"step":1234,"seed":42,"dataset":"imagenet-tiny","library_version":"swav-go/test","time":"2024-05-01T12:00:00Z","extra":{"lr":0.6,"temperature":0.1}},` +
	`"float16":false,"extra":{"note":"golden test file"}}`

func TestGoldenHeaderBytes(t *testing.T) {
	b := readTestdata(t, "small.swav")
	if string(b[:8]) != "SWAVCKPT" || binary.LittleEndian.Uint32(b[8:]) != 1 {
		t.Fatalf("prefix %q, want SWAVCKPT version 1", b[:12])
	}
	n := binary.LittleEndian.Uint32(b[12:])
	if got := string(b[40 : 40+n]); got != wantHeaderJSON {
		t.Errorf("header JSON:\n got %s\nwant %s", got, wantHeaderJSON)
	}
	if got := binary.LittleEndian.Uint32(b[20:]); got != 8 {
		t.Errorf("tensor count %d, want 8", got)
	}
	// 6+3 float32, 1 int64, 2 uint64, 2 int32, 4 uint8, 2 float64, 0 float32.
	if got, want := binary.LittleEndian.Uint64(b[24:]), uint64(9*4+8+2*8+2*4+4+2*8); got != want {
		t.Errorf("raw payload length %d, want %d", got, want)
	}
}

func TestGoldenDecode(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.file, func(t *testing.T) {
			f, err := Load(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			h := f.Header
			if h.FormatVersion != 1 || h.Kind != "swav-model" || h.Float16 != c.opts.Float16 {
				t.Errorf("header version=%d kind=%q float16=%v", h.FormatVersion, h.Kind, h.Float16)
			}
			var model struct {
				Arch       string `json:"arch"`
				HiddenDim  int    `json:"hidden_dim"`
				OutputDim  int    `json:"output_dim"`
				Prototypes int    `json:"prototypes"`
			}
			if err := json.Unmarshal(h.Model, &model); err != nil {
				t.Fatalf("model config: %v", err)
			}
			if model.Arch != "resnet18" || model.HiddenDim != 512 || model.OutputDim != 128 || model.Prototypes != 30 {
				t.Errorf("model config %+v", model)
			}
			wantPre := &Preprocess{224, 256, []float64{0.485, 0.456, 0.406}, []float64{0.229, 0.224, 0.225}, 3, "bilinear"}
			if !reflect.DeepEqual(h.Preprocess, wantPre) {
				t.Errorf("preprocess %+v, want %+v", h.Preprocess, wantPre)
			}
			tr := h.Training
			if tr == nil || tr.Epoch != 3 || tr.Step != 1234 || tr.Seed != 42 || tr.Dataset != "imagenet-tiny" ||
				tr.LibraryVersion != "swav-go/test" || !tr.Time.Equal(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) {
				t.Fatalf("training %+v", tr)
			}
			if !reflect.DeepEqual(tr.Extra, map[string]any{"lr": json.Number("0.6"), "temperature": json.Number("0.1")}) {
				t.Errorf("training extra %#v", tr.Extra)
			}
			if got := string(h.Extra["note"]); len(h.Extra) != 1 || got != `"golden test file"` {
				t.Errorf("extra %q", h.Extra)
			}

			wantNames := []string{"backbone.stem.weight", "head.bias", "train.step", "train.rng", "stats.count", "mask", "bn.running_var", "empty"}
			if len(f.Tensors) != len(wantNames) {
				t.Fatalf("%d tensors, want %d", len(f.Tensors), len(wantNames))
			}
			for i, name := range wantNames {
				if f.Tensors[i].Name != name {
					t.Errorf("tensor %d is %q, want %q", i, f.Tensors[i].Name, name)
				}
			}

			floatType := Float32
			stem := []float32{0.5, -2, 1e-3, 0, 3.25, -0.125}
			if c.opts.Float16 {
				floatType = Float16
				stem[2] = 0.0010004043579101562 // 1e-3 rounded to float16 (0x1419)
			}
			float32s := func(name string, dtype DType, shape []int, want []float32) {
				t.Helper()
				tn, ok := f.Tensor(name)
				if !ok {
					t.Fatalf("no tensor %q", name)
				}
				if tn.DType != dtype || !reflect.DeepEqual(tn.Shape, shape) {
					t.Errorf("%s: %s %v, want %s %v", name, tn.DType, tn.Shape, dtype, shape)
				}
				got, err := tn.Float32s()
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			float32s("backbone.stem.weight", floatType, []int{2, 3}, stem)
			float32s("head.bias", floatType, []int{3}, []float32{1, -1, 0.25})
			float32s("bn.running_var", Float64, []int{2}, []float32{1e-5, 2.5})
			float32s("empty", floatType, []int{0, 4}, nil)
			if c.opts.Float16 {
				tn, _ := f.Tensor("backbone.stem.weight")
				want := []byte{0x00, 0x38, 0x00, 0xc0, 0x19, 0x14, 0x00, 0x00, 0x80, 0x42, 0x00, 0xb0}
				if !bytes.Equal(tn.Data, want) {
					t.Errorf("float16 bits %x, want %x", tn.Data, want)
				}
			}

			step, _ := f.Tensor("train.step")
			if s, err := step.Int64s(); err != nil || step.Shape != nil || !reflect.DeepEqual(s, []int64{1234}) {
				t.Errorf("train.step = %v %v (shape %v)", s, err, step.Shape)
			}
			rng, _ := f.Tensor("train.rng")
			if v, err := rng.Uint64s(); err != nil || !reflect.DeepEqual(v, []uint64{42, 18446744073709551615}) {
				t.Errorf("train.rng = %v %v", v, err)
			}
			cnt, _ := f.Tensor("stats.count")
			if v, err := cnt.Int64s(); err != nil || cnt.DType != Int32 || !reflect.DeepEqual(v, []int64{-7, 7}) {
				t.Errorf("stats.count = %v %v", v, err)
			}
			mask, _ := f.Tensor("mask")
			if mask.DType != Uint8 || !bytes.Equal(mask.Data, []byte{0, 1, 254, 255}) {
				t.Errorf("mask = %s %v", mask.DType, mask.Data)
			}
		})
	}
}

func TestGoldenReencode(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.file, func(t *testing.T) {
			want := readTestdata(t, c.file)
			// The literal File encodes to the committed bytes...
			if got := encodeBytes(t, goldenFile(), c.opts); !bytes.Equal(got, want) {
				t.Errorf("encoding goldenFile() differs from testdata/%s (%d vs %d bytes); if the format or zstd changed on purpose, run with -update", c.file, len(got), len(want))
			}
			// ...and so does the decoded file, with or without options.
			f, err := Decode(want, c.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := encodeBytes(t, f, c.opts); !bytes.Equal(got, want) {
				t.Errorf("re-encoding decoded %s differs", c.file)
			}
			if got := encodeBytes(t, f, EncodeOptions{}); !bytes.Equal(got, want) {
				t.Errorf("re-encoding decoded %s without options differs", c.file)
			}
		})
	}
}

// TestGoldenFilesExist makes a missing golden file an explicit failure.
func TestGoldenFilesExist(t *testing.T) {
	for _, c := range goldenCases {
		if _, err := os.Stat(filepath.Join("testdata", c.file)); err != nil {
			t.Errorf("missing golden file: %v", err)
		}
	}
}
