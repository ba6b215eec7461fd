package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// roundTrip encodes and decodes f.
func roundTrip(t *testing.T, f *File, opts EncodeOptions) *File {
	t.Helper()
	got, err := Decode(encodeBytes(t, f, opts), "roundtrip")
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return got
}

func TestRoundTripDTypes(t *testing.T) {
	tests := []struct {
		name   string
		tensor Tensor
	}{
		{"float32", Float32Tensor("w", []int{2, 2}, []float32{0.5, -2, 1e-3, float32(math.Inf(-1))})},
		{"float16", Tensor{Name: "h", DType: Float16, Shape: []int{3}, Data: []byte{0x00, 0x3c, 0x01, 0x00, 0xff, 0x7b}}},
		{"float64", Float64Tensor("d", []int{3}, []float64{math.Pi, -0.0, math.MaxFloat64})},
		{"int64", Int64Tensor("i", []int{2}, []int64{math.MinInt64, math.MaxInt64})},
		{"int32", Int32Tensor("i", []int{1, 2}, []int32{math.MinInt32, math.MaxInt32})},
		{"uint64", Uint64Tensor("u", []int{2}, []uint64{0, math.MaxUint64})},
		{"uint8", Uint8Tensor("b", []int{2, 1, 1}, []uint8{0, 255})},
		{"scalar", Float32Tensor("s", nil, []float32{7})},
		{"zero-size", Int64Tensor("z", []int{4, 0, 2}, nil)},
		{"rank 8", Uint8Tensor("r", []int{1, 1, 1, 1, 1, 1, 1, 2}, []uint8{1, 2})},
		{"unicode name", Float32Tensor("层.权重/ü", []int{1}, []float32{1})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &File{Header: Header{Kind: "test"}, Tensors: []Tensor{tc.tensor}}
			got := roundTrip(t, f, EncodeOptions{})
			assertTensorsEqual(t, got.Tensors, f.Tensors)
			if got.Header.FormatVersion != FormatVersion || got.Header.Float16 {
				t.Errorf("header version %d float16 %v", got.Header.FormatVersion, got.Header.Float16)
			}
		})
	}
}

func TestRoundTripAllInOne(t *testing.T) {
	f := goldenFile()
	for _, level := range []int{0, 1, 3, 7, 22} {
		got := roundTrip(t, f, EncodeOptions{Level: level})
		assertTensorsEqual(t, got.Tensors, f.Tensors)
		want := f.Header
		want.FormatVersion = FormatVersion
		assertHeadersEqual(t, got.Header, want)
	}
}

func TestRoundTripEmptyFile(t *testing.T) {
	got := roundTrip(t, &File{}, EncodeOptions{})
	if len(got.Tensors) != 0 || got.Header.Kind != "" || got.Header.FormatVersion != 1 {
		t.Errorf("got %+v", got)
	}
}

func TestRoundTripFloat16Option(t *testing.T) {
	values := []float32{0.5, -2, 1e-3, 3.14159, -65504, 1e-6, 0, 123.456}
	f := &File{
		Header: Header{Kind: "swav-model"},
		Tensors: []Tensor{
			Float32Tensor("w", []int{2, 4}, values),
			Float64Tensor("d", []int{1}, []float64{0.1}),
			Int64Tensor("step", nil, []int64{99}),
		},
	}
	enc := encodeBytes(t, f, EncodeOptions{Float16: true})
	full := encodeBytes(t, f, EncodeOptions{})
	got, err := Decode(enc, "f16")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Header.Float16 {
		t.Error("header Float16 not set")
	}
	w, _ := got.Tensor("w")
	if w.DType != Float16 || len(w.Data) != 2*len(values) || !reflect.DeepEqual(w.Shape, []int{2, 4}) {
		t.Fatalf("w stored as %s %v with %d bytes", w.DType, w.Shape, len(w.Data))
	}
	back, err := w.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		// binary16 has an 11-bit significand: relative error <= 2^-11 for
		// normal values, absolute error <= 2^-25 in the subnormal range.
		tol := math.Max(math.Abs(float64(v))*0x1p-11, 0x1p-25)
		if d := math.Abs(float64(back[i]) - float64(v)); d > tol {
			t.Errorf("w[%d] = %g, want %g ± %g", i, back[i], v, tol)
		}
	}
	// Non-float32 tensors are untouched.
	assertTensorsEqual(t, got.Tensors[1:], f.Tensors[1:])
	if f.Tensors[0].DType != Float32 || f.Header.Float16 {
		t.Error("Encode modified its argument")
	}
	if len(enc) >= len(full) {
		t.Errorf("float16 file (%d bytes) not smaller than float32 file (%d bytes)", len(enc), len(full))
	}
}

// TestFloat16Sticky: re-saving a float16 export without the option keeps the
// header flag, since the precision is already lost.
func TestFloat16Sticky(t *testing.T) {
	f := roundTrip(t, &File{Tensors: []Tensor{Float32Tensor("w", []int{1}, []float32{1})}}, EncodeOptions{Float16: true})
	if again := roundTrip(t, f, EncodeOptions{}); !again.Header.Float16 || again.Tensors[0].DType != Float16 {
		t.Errorf("float16 flag or dtype lost on re-save: %v %s", again.Header.Float16, again.Tensors[0].DType)
	}
}

// TestHighCompressionRatio: zero-initialised tensors compress far beyond
// 1000:1 and must still load.
func TestHighCompressionRatio(t *testing.T) {
	f := &File{Tensors: []Tensor{{Name: "zeros", DType: Float32, Shape: []int{1 << 20}, Data: make([]byte, 4<<20)}}}
	b := encodeBytes(t, f, EncodeOptions{})
	if ratio := (4 << 20) / len(b); ratio < 1000 {
		t.Fatalf("test premise: zeros compressed only %d:1", ratio)
	}
	got, err := Decode(b, "zeros")
	if err != nil {
		t.Fatal(err)
	}
	assertTensorsEqual(t, got.Tensors, f.Tensors)
}

func TestRoundTripLargeRandom(t *testing.T) {
	// Several zstd blocks and a window's worth of data.
	data := make([]byte, 3<<20)
	var x uint32 = 1
	for i := range data {
		x = x*1664525 + 1013904223
		data[i] = byte(x >> 24)
	}
	f := &File{Tensors: []Tensor{
		{Name: "a", DType: Uint8, Shape: []int{1 << 20}, Data: data[:1<<20]},
		{Name: "b", DType: Float32, Shape: []int{512, 1024}, Data: data[1<<20:]},
	}}
	for _, opts := range []EncodeOptions{{}, {Float16: true}, {Level: 1}} {
		got := roundTrip(t, f, opts)
		if opts.Float16 {
			if got.Tensors[1].DType != Float16 {
				t.Fatal("not converted")
			}
			assertTensorsEqual(t, got.Tensors[:1], f.Tensors[:1])
			continue
		}
		assertTensorsEqual(t, got.Tensors, f.Tensors)
	}
}

func TestDecodedDataIsolated(t *testing.T) {
	b := encodeBytes(t, goldenFile(), EncodeOptions{})
	f, err := Decode(b, "x")
	if err != nil {
		t.Fatal(err)
	}
	// Appending to one tensor's data must not clobber the next one.
	first := f.Tensors[0]
	_ = append(first.Data, 1, 2, 3, 4)
	assertTensorsEqual(t, f.Tensors[1:2], goldenFile().Tensors[1:2])
	// And the result does not alias the input.
	for i := range b {
		b[i] = 0
	}
	assertTensorsEqual(t, f.Tensors, goldenFile().Tensors)
}

func TestEncodeDeterministic(t *testing.T) {
	want := encodeBytes(t, goldenFile(), EncodeOptions{})
	var wg sync.WaitGroup
	results := make([][]byte, 8)
	for i := range results {
		wg.Go(func() {
			var buf bytes.Buffer
			if err := Encode(&buf, goldenFile(), EncodeOptions{}); err == nil {
				results[i] = buf.Bytes()
			}
		})
	}
	wg.Wait()
	for i, got := range results {
		if !bytes.Equal(got, want) {
			t.Errorf("encoding %d differs", i)
		}
	}
	// Map iteration order must not matter.
	f := goldenFile()
	f.Header.Extra = map[string]json.RawMessage{}
	for _, k := range []string{"z", "a", "m", "b", "y"} {
		f.Header.Extra[k] = json.RawMessage(`1`)
	}
	first := encodeBytes(t, f, EncodeOptions{})
	for range 10 {
		if !bytes.Equal(encodeBytes(t, f, EncodeOptions{}), first) {
			t.Fatal("encoding depends on map order")
		}
	}
}

func TestEncodeHeaderFilled(t *testing.T) {
	f := &File{Header: Header{FormatVersion: 77, Kind: "linear-probe", Model: json.RawMessage(" { \"a\" : [1, 2] } ")}}
	got := roundTrip(t, f, EncodeOptions{})
	if got.Header.FormatVersion != 1 || string(got.Header.Model) != `{"a":[1,2]}` {
		t.Errorf("version %d model %s", got.Header.FormatVersion, got.Header.Model)
	}
	if f.Header.FormatVersion != 77 {
		t.Error("Encode modified its argument")
	}
	tm := time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	f = &File{Header: Header{Training: &Training{Time: tm, Extra: map[string]any{"big": int64(1) << 60, "s": "x<y"}}}}
	got = roundTrip(t, f, EncodeOptions{})
	if !got.Header.Training.Time.Equal(tm) {
		t.Errorf("time %v, want %v", got.Header.Training.Time, tm)
	}
	if v := got.Header.Training.Extra["big"]; v != json.Number("1152921504606846976") {
		t.Errorf("extra big = %#v", v)
	}
	if v := got.Header.Training.Extra["s"]; v != "x<y" {
		t.Errorf("extra s = %#v", v)
	}
}

func TestEncodeInvalid(t *testing.T) {
	ok := Float32Tensor("ok", []int{1}, []float32{1})
	tests := []struct {
		name string
		f    *File
		opts EncodeOptions
		want error
		msg  string
	}{
		{"nil file", nil, EncodeOptions{}, ErrInvalid, "nil File"},
		{"level", &File{}, EncodeOptions{Level: 23}, ErrInvalid, "level"},
		{"negative level", &File{}, EncodeOptions{Level: -1}, ErrInvalid, "level"},
		{"empty name", &File{Tensors: []Tensor{{DType: Uint8, Data: []byte{1}}}}, EncodeOptions{}, ErrInvalid, "empty tensor name"},
		{"long name", &File{Tensors: []Tensor{{Name: strings.Repeat("n", 1025), DType: Uint8, Data: []byte{1}}}}, EncodeOptions{}, ErrTooLarge, "exceeds 1024"},
		{"bad utf8", &File{Tensors: []Tensor{{Name: "\xff", DType: Uint8, Data: []byte{1}}}}, EncodeOptions{}, ErrInvalid, "UTF-8"},
		{"duplicate", &File{Tensors: []Tensor{ok, ok}}, EncodeOptions{}, ErrInvalid, "duplicate"},
		{"dtype", &File{Tensors: []Tensor{{Name: "x", DType: "bfloat16", Data: []byte{1, 2}}}}, EncodeOptions{}, ErrInvalid, "unknown dtype"},
		{"rank", &File{Tensors: []Tensor{{Name: "x", DType: Uint8, Shape: []int{1, 1, 1, 1, 1, 1, 1, 1, 1}, Data: []byte{1}}}}, EncodeOptions{}, ErrTooLarge, "rank 9"},
		{"negative dim", &File{Tensors: []Tensor{{Name: "x", DType: Uint8, Shape: []int{-1}}}}, EncodeOptions{}, ErrInvalid, "negative"},
		{"huge dim", &File{Tensors: []Tensor{{Name: "x", DType: Uint8, Shape: []int{1 << 40}}}}, EncodeOptions{}, ErrTooLarge, "dimension"},
		{"huge product", &File{Tensors: []Tensor{{Name: "x", DType: Uint8, Shape: []int{1 << 20, 1 << 20}}}}, EncodeOptions{}, ErrTooLarge, "elements"},
		{"short data", &File{Tensors: []Tensor{{Name: "x", DType: Float32, Shape: []int{2}, Data: make([]byte, 7)}}}, EncodeOptions{}, ErrInvalid, "needs 8 bytes"},
		{"bad model json", &File{Header: Header{Model: json.RawMessage(`{`)}}, EncodeOptions{}, ErrInvalid, "header"},
		{"bad extra json", &File{Header: Header{Extra: map[string]json.RawMessage{"k": json.RawMessage(`nope`)}}}, EncodeOptions{}, ErrInvalid, "header"},
		{"bad training extra", &File{Header: Header{Training: &Training{Extra: map[string]any{"f": math.NaN()}}}}, EncodeOptions{}, ErrInvalid, "header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Encode(&buf, tc.f, tc.opts)
			if !errors.Is(err, tc.want) || !strings.HasPrefix(err.Error(), "checkpoint: ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Encode error %v, want %v containing %q", err, tc.want, tc.msg)
			}
			if buf.Len() != 0 {
				t.Errorf("Encode wrote %d bytes before failing validation", buf.Len())
			}
		})
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		n := w.n
		w.n = 0
		return n, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestEncodeWriteError(t *testing.T) {
	total := len(encodeBytes(t, goldenFile(), EncodeOptions{}))
	for _, n := range []int{0, 10, 100, total - 1} {
		err := Encode(&failWriter{n: n}, goldenFile(), EncodeOptions{})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("after %d bytes: error %v, want the writer's error", n, err)
		}
	}
}
