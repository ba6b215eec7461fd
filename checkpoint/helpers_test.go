package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

var update = flag.Bool("update", false, "rewrite the golden files and fuzz seed corpus under testdata/")

// sentinels lists the errors Decode may wrap; exactly one must match.
var sentinels = []error{ErrBadMagic, ErrVersion, ErrTruncated, ErrChecksum, ErrCorrupt, ErrTooLarge}

// goldenFile is the content of testdata/small.swav, written out literally.
func goldenFile() *File {
	return &File{
		Header: Header{
			Kind:  "swav-model",
			Model: json.RawMessage(`{"arch":"resnet18","hidden_dim":512,"output_dim":128,"prototypes":30}`),
			Preprocess: &Preprocess{
				InputSize:     224,
				ResizeSize:    256,
				Mean:          []float64{0.485, 0.456, 0.406},
				Std:           []float64{0.229, 0.224, 0.225},
				Channels:      3,
				Interpolation: "bilinear",
			},
			Training: &Training{
				Epoch:          3,
				Step:           1234,
				Seed:           42,
				Dataset:        "imagenet-tiny",
				LibraryVersion: "swav-go/test",
				Time:           time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
				Extra:          map[string]any{"lr": json.Number("0.6"), "temperature": json.Number("0.1")},
			},
			Extra: map[string]json.RawMessage{"note": json.RawMessage(`"golden test file"`)},
		},
		Tensors: []Tensor{
			Float32Tensor("backbone.stem.weight", []int{2, 3}, []float32{0.5, -2, 1e-3, 0, 3.25, -0.125}),
			Float32Tensor("head.bias", []int{3}, []float32{1, -1, 0.25}),
			Int64Tensor("train.step", nil, []int64{1234}),
			Uint64Tensor("train.rng", []int{2}, []uint64{42, 18446744073709551615}),
			Int32Tensor("stats.count", []int{2}, []int32{-7, 7}),
			Uint8Tensor("mask", []int{4}, []uint8{0, 1, 254, 255}),
			Float64Tensor("bn.running_var", []int{2}, []float64{1e-5, 2.5}),
			Float32Tensor("empty", []int{0, 4}, nil),
		},
	}
}

// encodeBytes encodes f or fails the test.
func encodeBytes(t testing.TB, f *File, opts EncodeOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, f, opts); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

// readTestdata reads a file under testdata/ or fails the test.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("reading golden file (regenerate with go test -run Golden -update): %v", err)
	}
	return b
}

// assertTensorsEqual compares tensors by name, dtype, shape (nil and empty
// are the same scalar shape) and data bytes.
func assertTensorsEqual(t testing.TB, got, want []Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.DType != w.DType {
			t.Errorf("tensor %d: got %q %s, want %q %s", i, g.Name, g.DType, w.Name, w.DType)
		}
		if len(g.Shape) != len(w.Shape) || (len(w.Shape) > 0 && !reflect.DeepEqual(g.Shape, w.Shape)) {
			t.Errorf("tensor %q: shape %v, want %v", w.Name, g.Shape, w.Shape)
		}
		if !bytes.Equal(g.Data, w.Data) {
			t.Errorf("tensor %q: data %x, want %x", w.Name, g.Data, w.Data)
		}
	}
}

// assertHeadersEqual compares headers through their canonical encoding.
func assertHeadersEqual(t testing.TB, got, want Header) {
	t.Helper()
	g, err := marshalHeader(&got)
	if err != nil {
		t.Fatalf("marshal got header: %v", err)
	}
	w, err := marshalHeader(&want)
	if err != nil {
		t.Fatalf("marshal want header: %v", err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("header mismatch:\n got %s\nwant %s", g, w)
	}
}

// errorIs fails unless err wraps want, and no other decode sentinel.
func errorIs(t testing.TB, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("got error %q, want it to wrap %q", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Fatalf("error %q wraps both %q and %q", err, want, s)
		}
	}
}

// reseal returns a copy of b with its trailing SHA-256 recomputed, so that
// structural corruption can be tested past the checksum.
func reseal(b []byte) []byte {
	out := append([]byte(nil), b...)
	if len(out) < 32 {
		return out
	}
	sum := sha256.Sum256(out[:len(out)-32])
	copy(out[len(out)-32:], sum[:])
	return out
}

// rawEntry is one hand-built tensor table entry.
type rawEntry struct {
	name string
	code byte
	dims []uint64
	off  uint64
	n    uint64
}

// rawFile builds a checkpoint by hand, byte by byte as FORMAT.md describes,
// independently of Encode; the override fields produce malformed files.
type rawFile struct {
	magic      string // default "SWAVCKPT"
	version    uint32 // default 1
	header     string // default a minimal valid header
	entries    []rawEntry
	tableExtra []byte  // appended to the table
	count      *uint32 // default len(entries)
	payload    []byte  // uncompressed, zstd-compressed by build
	zpayload   []byte  // if non-nil, used verbatim as the compressed payload
	rawLen     *uint64 // default len(payload)
}

const minimalHeader = `{"format_version":1,"kind":"raw","float16":false}`

func (r rawFile) build() []byte {
	magic, version, header := r.magic, r.version, r.header
	if magic == "" {
		magic = "SWAVCKPT"
	}
	if version == 0 {
		version = 1
	}
	if header == "" {
		header = minimalHeader
	}
	var table []byte
	for _, e := range r.entries {
		table = binary.LittleEndian.AppendUint16(table, uint16(len(e.name)))
		table = append(table, e.name...)
		table = append(table, e.code, byte(len(e.dims)))
		for _, d := range e.dims {
			table = binary.LittleEndian.AppendUint64(table, d)
		}
		table = binary.LittleEndian.AppendUint64(table, e.off)
		table = binary.LittleEndian.AppendUint64(table, e.n)
	}
	table = append(table, r.tableExtra...)
	count := uint32(len(r.entries))
	if r.count != nil {
		count = *r.count
	}
	rawLen := uint64(len(r.payload))
	if r.rawLen != nil {
		rawLen = *r.rawLen
	}
	z := r.zpayload
	if z == nil {
		enc, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true))
		if err != nil {
			panic(err)
		}
		z = enc.EncodeAll(r.payload, nil)
	}
	var b []byte
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(table)))
	b = binary.LittleEndian.AppendUint32(b, count)
	b = binary.LittleEndian.AppendUint64(b, rawLen)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(z)))
	b = append(b, header...)
	b = append(b, table...)
	b = append(b, z...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func u32(v uint32) *uint32 { return &v }
func u64(v uint64) *uint64 { return &v }

// le32 encodes float32 values little-endian (test-side, independent of the
// package's constructors).
func le32(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}
