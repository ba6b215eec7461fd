package torchimport

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadTensors checks the reader's tensors against PyTorch's values: non-contiguous
// and offset views, shared storages, float16, float64, int64, scalars, empty tensors, in
// both serialisations.
func TestReadTensors(t *testing.T) {
	e := loadExpected(t)
	for _, name := range []string{"tensors.pt", "tensors_legacy.pt", "tensors_proto4.pt"} {
		t.Run(name, func(t *testing.T) {
			sd, err := ReadStateDict(fixture(name))
			if err != nil {
				t.Fatal(err)
			}
			if len(sd) != len(e.Tensors) {
				t.Fatalf("read %d tensors, want %d", len(sd), len(e.Tensors))
			}
			for k, want := range e.Tensors {
				got, ok := sd[k]
				if !ok {
					t.Fatalf("tensor %s missing", k)
				}
				if got.DType != want.DType || !equalInts(got.Shape, want.Shape) || len(got.Data) != len(want.Values) {
					t.Fatalf("%s: %s %v with %d values, want %s %v with %d", k, got.DType, got.Shape, len(got.Data),
						want.DType, want.Shape, len(want.Values))
				}
				for i, v := range want.Values {
					if got.Data[i] != float32(v) {
						t.Fatalf("%s[%d] = %v, want %v", k, i, got.Data[i], float32(v))
					}
				}
			}
		})
	}
}

// TestReadLegacyMatchesZip reads the same weights from both serialisations.
func TestReadLegacyMatchesZip(t *testing.T) {
	a, err := ReadStateDict(fixture("swav_bottleneck.pt"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadStateDict(fixture("swav_bottleneck_legacy.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) || len(a) < 300 {
		t.Fatalf("%d and %d tensors", len(a), len(b))
	}
	for k, ta := range a {
		if !strings.HasPrefix(k, "module.") {
			t.Fatalf("key %s lost its prefix", k)
		}
		tb, ok := b[k]
		if !ok || ta.DType != tb.DType || !equalInts(ta.Shape, tb.Shape) || !equalFloats(ta.Data, tb.Data) {
			t.Fatalf("tensor %s differs between the formats", k)
		}
	}
}

func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// rezip copies a zip archive, renaming its top-level directory and compressing with
// method.
func rezip(t *testing.T, src, dir string, method uint16) []byte {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range zr.File {
		_, rest, _ := strings.Cut(e.Name, "/")
		w, err := zw.CreateHeader(&zip.FileHeader{Name: dir + "/" + rest, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadAnyArchiveName reads archives whose top-level directory is not the one torch
// wrote, stored or deflated.
func TestReadAnyArchiveName(t *testing.T) {
	want, err := ReadStateDict(fixture("tensors.pt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir    string
		method uint16
	}{{"archive", zip.Store}, {"my model.v2", zip.Deflate}} {
		p := writeTemp(t, "x.pt", rezip(t, fixture("tensors.pt"), tc.dir, tc.method))
		got, err := ReadStateDict(p)
		if err != nil {
			t.Fatalf("%s: %v", tc.dir, err)
		}
		for k, w := range want {
			if g := got[k]; !equalFloats(g.Data, w.Data) || !equalInts(g.Shape, w.Shape) {
				t.Fatalf("%s: tensor %s differs", tc.dir, k)
			}
		}
	}
}

// --- a tiny pickle writer for hand-made, hostile checkpoints ---

type pk struct{ bytes.Buffer }

func (p *pk) op(b ...byte) *pk { p.Write(b); return p }
func (p *pk) str(s string) *pk {
	p.WriteByte('X')
	binary.Write(&p.Buffer, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}
func (p *pk) int(v int64) *pk {
	p.op(0x8a, 8)
	binary.Write(&p.Buffer, binary.LittleEndian, v)
	return p
}
func (p *pk) global(m, n string) *pk { p.WriteString("c" + m + "\n" + n + "\n"); return p }
func (p *pk) ints(vs ...int64) *pk {
	p.op('(')
	for _, v := range vs {
		p.int(v)
	}
	return p.op('t')
}

// tensorPickle is a zip data.pkl holding {"w": tensor} with the given storage numel,
// tensor offset, size and stride.
func tensorPickle(numel, offset int64, size, stride []int64) []byte {
	return customPickle("FloatStorage", "_rebuild_tensor_v2", false, numel, offset, size, stride)
}

// customPickle is tensorPickle with a chosen storage class and rebuild function, the
// tensor optionally wrapped in torch._utils._rebuild_parameter.
func customPickle(storage, rebuild string, param bool, numel, offset int64, size, stride []int64) []byte {
	p := &pk{}
	p.op(0x80, 2, '}', '(')
	p.str("w")
	if param {
		p.global("torch._utils", "_rebuild_parameter").op('(')
	}
	p.global("torch._utils", rebuild).op('(')
	p.op('(').str("storage").global("torch", storage).str("0").str("cpu").int(numel).op('t', 'Q')
	p.int(offset).ints(size...).ints(stride...).op(0x89, '}', 't', 'R')
	if param {
		p.op(0x88).global("collections", "OrderedDict").op(')', 'R', 't', 'R')
	}
	p.op('u', '.')
	return p.Bytes()
}

// torchZip builds a torch-style zip from records.
func torchZip(t testing.TB, records map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range records {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReadHandMade checks the reader on hand-made archives, valid and hostile.
func TestReadHandMade(t *testing.T) {
	floats := func(vs ...float32) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, vs)
		return b.Bytes()
	}
	deep := bytes.Repeat([]byte{'('}, 1<<17)
	huge := &pk{}
	huge.op(0x80, 2, 'X', 0xff, 0xff, 0xff, 0x7f) // a 2 GiB string
	long := &pk{}
	long.op(0x80, 2, 'X', 0, 0, 0, 3, 'a', 'b') // a 48 MiB string, 2 bytes present
	for _, tc := range []struct {
		name    string
		records map[string][]byte
		want    error
		msg     string
		check   func(Tensor) bool
	}{
		{"valid", map[string][]byte{"a/data.pkl": tensorPickle(4, 1, []int64{2}, []int64{2}), "a/data/0": floats(1, 2, 3, 4)},
			nil, "", func(x Tensor) bool { return equalFloats(x.Data, []float32{2, 4}) }},
		{"broadcast", map[string][]byte{"a/data.pkl": tensorPickle(1, 0, []int64{3, 2}, []int64{0, 0}), "a/data/0": floats(7)},
			nil, "", func(x Tensor) bool { return equalFloats(x.Data, []float32{7, 7, 7, 7, 7, 7}) }},
		{"parameter", map[string][]byte{"a/data.pkl": customPickle("HalfStorage", "_rebuild_tensor_v2", true, 2, 0, []int64{2}, []int64{1}),
			"a/data/0": {0x00, 0x3c, 0x00, 0xc0}}, nil, "", func(x Tensor) bool { return x.DType == "float16" && equalFloats(x.Data, []float32{1, -2}) }},
		{"complex storage", map[string][]byte{"a/data.pkl": customPickle("ComplexFloatStorage", "_rebuild_tensor_v2", false, 2, 0, []int64{2}, []int64{1})},
			ErrUnsupported, "torch.ComplexFloatStorage", nil},
		{"quantized", map[string][]byte{"a/data.pkl": customPickle("FloatStorage", "_rebuild_qtensor", false, 2, 0, []int64{2}, []int64{1})},
			ErrUnsupported, "quantized", nil},
		{"storage size lies", map[string][]byte{"a/data.pkl": tensorPickle(1<<40, 0, []int64{2}, []int64{1}), "a/data/0": floats(1, 2)},
			ErrCorrupt, "pickle declares", nil},
		{"storage record missing", map[string][]byte{"a/data.pkl": tensorPickle(2, 0, []int64{2}, []int64{1})},
			ErrCorrupt, "missing", nil},
		{"overrun", map[string][]byte{"a/data.pkl": tensorPickle(4, 0, []int64{10}, []int64{1}), "a/data/0": floats(1, 2, 3, 4)},
			ErrCorrupt, "overrun", nil},
		{"offset overrun", map[string][]byte{"a/data.pkl": tensorPickle(4, 4, []int64{1}, []int64{1}), "a/data/0": floats(1, 2, 3, 4)},
			ErrCorrupt, "overrun", nil},
		{"stride overflow", map[string][]byte{"a/data.pkl": tensorPickle(4, 0, []int64{3}, []int64{1 << 62}), "a/data/0": floats(1, 2, 3, 4)},
			ErrCorrupt, "overrun", nil},
		{"broadcast bomb", map[string][]byte{"a/data.pkl": tensorPickle(1, 0, []int64{1 << 30, 1 << 30}, []int64{0, 0}), "a/data/0": floats(1)},
			ErrCorrupt, "too large", nil},
		{"deep marks", map[string][]byte{"a/data.pkl": append([]byte{0x80, 2}, deep...)}, ErrCorrupt, "nested deeper", nil},
		{"huge string", map[string][]byte{"a/data.pkl": huge.Bytes()}, ErrCorrupt, "limit", nil},
		{"short string", map[string][]byte{"a/data.pkl": long.Bytes()}, ErrCorrupt, "ends early", nil},
		{"bad memo", map[string][]byte{"a/data.pkl": {0x80, 2, 'h', 9, '.'}}, ErrCorrupt, "never stored", nil},
		{"bad opcode", map[string][]byte{"a/data.pkl": {0x80, 2, 'i', '.'}}, ErrCorrupt, "opcode", nil},
		{"not a dict", map[string][]byte{"a/data.pkl": {0x80, 2, 'K', 3, '.'}}, ErrNotCheckpoint, "holds a Python int", nil},
		{"whole module", map[string][]byte{"a/data.pkl": (&pk{}).op(0x80, 2).global("models", "ResNet").op(')', 0x81, '}', 'b', '.').Bytes()},
			ErrUnsupported, "models.ResNet object", nil},
		{"torchscript", map[string][]byte{"a/data.pkl": {0x80, 2, '}', '.'}, "a/constants.pkl": {0x80, 2, ')', '.'}},
			ErrUnsupported, "TorchScript", nil},
		{"little endian", map[string][]byte{"a/data.pkl": tensorPickle(4, 0, []int64{2}, []int64{1}), "a/data/0": floats(1, 2, 3, 4),
			"a/byteorder": []byte("little")}, nil, "", func(x Tensor) bool { return equalFloats(x.Data, []float32{1, 2}) }},
		{"big endian", map[string][]byte{"a/data.pkl": tensorPickle(4, 0, []int64{2}, []int64{1}), "a/data/0": floats(1, 2, 3, 4),
			"a/byteorder": []byte("big")}, ErrUnsupported, "byte order", nil},
		{"other zip", map[string][]byte{"readme.txt": []byte("hello")}, ErrNotCheckpoint, "data.pkl", nil},
		{"empty state dict", map[string][]byte{"a/data.pkl": {0x80, 2, '}', '.'}}, ErrNotCheckpoint, "no tensors", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTemp(t, "hand.pt", torchZip(t, tc.records))
			sd, err := ReadStateDict(p)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !tc.check(sd["w"]) {
					t.Fatalf("read %+v", sd["w"])
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v, want %v mentioning %q and the file", err, tc.want, tc.msg)
			}
			t.Log(err)
		})
	}
}

// TestReadRejects checks the errors for files that are not PyTorch checkpoints.
func TestReadRejects(t *testing.T) {
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	tw.WriteHeader(&tar.Header{Name: "pickle", Mode: 0o644, Size: 3})
	tw.Write([]byte("abc"))
	tw.Close()
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrNotCheckpoint},
		{"text", []byte("hello, world\n"), ErrNotCheckpoint},
		{"plain pickle", []byte{0x80, 2, '}', 'q', 0, '.'}, ErrNotCheckpoint},
		{"swav-go checkpoint", []byte("SWAVCKPT\x01\x00\x00\x00"), ErrNotCheckpoint},
		{"tar", tarBuf.Bytes(), ErrUnsupported},
		{"zip header only", []byte("PK\x03\x04junk"), ErrCorrupt},
	} {
		p := writeTemp(t, "in.pt", tc.data)
		_, err := ReadStateDict(p)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want %v naming the file", tc.name, err, tc.want)
		}
	}
	if _, err := ReadStateDict(filepath.Join(t.TempDir(), "absent.pt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
	if _, err := ReadStateDict(t.TempDir()); !errors.Is(err, ErrNotCheckpoint) {
		t.Errorf("directory: %v", err)
	}
}

// checkClean fails on errors that come from a recovered panic.
func checkClean(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "internal error") {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestReadTruncated cuts the fixtures short at many points: every cut must fail cleanly,
// naming the file.
func TestReadTruncated(t *testing.T) {
	for _, name := range []string{"swav_basic_nobn.pt", "tensors.pt", "tensors_legacy.pt", "swav_bottleneck_legacy.pt"} {
		data, err := os.ReadFile(fixture(name))
		if err != nil {
			t.Fatal(err)
		}
		step := max(1, len(data)/97)
		dir := t.TempDir()
		for cut := 0; cut < len(data); cut += step {
			p := filepath.Join(dir, fmt.Sprintf("%s.%d", name, cut))
			if err := os.WriteFile(p, data[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadStateDict(p)
			if err == nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("%s cut at %d of %d bytes: error %v", name, cut, len(data), err)
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotCheckpoint) {
				t.Fatalf("%s cut at %d: %v", name, cut, err)
			}
			checkClean(t, name, err)
		}
	}
}

// TestReadCorrupted flips random bytes of the fixtures: reading may fail or succeed, but
// never panics.
func TestReadCorrupted(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range []string{"tensors.pt", "tensors_legacy.pt", "mlp.pt", "swav_basic_nobn.pt"} {
		data, err := os.ReadFile(fixture(name))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 150; i++ {
			c := bytes.Clone(data)
			for j := rng.IntN(4); j >= 0; j-- {
				c[rng.IntN(len(c))] = byte(rng.IntN(256))
			}
			_, err := readStateDict(bytes.NewReader(c), int64(len(c)), ReadOptions{}.limits(int64(len(c))))
			checkClean(t, name, err)
		}
	}
}

// legacyFile builds a legacy torch.save stream holding {"w": tensor of size [n]} whose
// storage the pickle declares with declared elements and the stream with header
// elements followed by data; view, when set, is the storage view metadata.
func legacyFile(version int64, littleEndian bool, declared, header int64, view []int64, n int64, data []byte) []byte {
	var out bytes.Buffer
	out.Write([]byte{0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'})
	v := &pk{}
	out.Write(v.op(0x80, 2).int(version).op('.').Bytes())
	info := &pk{}
	le := byte(0x88)
	if !littleEndian {
		le = 0x89
	}
	out.Write(info.op(0x80, 2, '}').str("little_endian").op(le, 's', '.').Bytes())
	p := &pk{}
	p.op(0x80, 2, '}').str("w")
	p.global("torch._utils", "_rebuild_tensor").op('(')
	p.op('(').str("storage").global("torch", "FloatStorage").str("140").str("cpu").int(declared)
	if view == nil {
		p.op('N')
	} else {
		p.op('(').str("141").int(view[0]).int(view[1]).op('t')
	}
	p.op('t', 'Q').int(0).ints(n).ints(1).op('t', 'R', 's', '.')
	out.Write(p.Bytes())
	keys := &pk{}
	out.Write(keys.op(0x80, 2, ']').str("140").op('a', '.').Bytes())
	binary.Write(&out, binary.LittleEndian, header)
	out.Write(data)
	return out.Bytes()
}

// TestReadLegacyHandMade checks the legacy reader on hand-made streams.
func TestReadLegacyHandMade(t *testing.T) {
	four := []byte{0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64} // 1, 2, 3, 4
	for _, tc := range []struct {
		name string
		data []byte
		want error
		msg  string
		vals []float32
	}{
		{"valid", legacyFile(1001, true, 4, 4, nil, 4, four), nil, "", []float32{1, 2, 3, 4}},
		{"view", legacyFile(1001, true, 4, 4, []int64{1, 2}, 2, four), nil, "", []float32{2, 3}},
		{"view overrun", legacyFile(1001, true, 4, 4, []int64{3, 2}, 2, four), ErrCorrupt, "storage view", nil},
		{"tensor beyond view", legacyFile(1001, true, 4, 4, []int64{1, 2}, 3, four), ErrCorrupt, "overrun", nil},
		{"header disagrees", legacyFile(1001, true, 4, 5, nil, 4, four), ErrCorrupt, "holds 5 elements", nil},
		{"size lies", legacyFile(1001, true, 1<<40, 1<<40, nil, 4, four), ErrCorrupt, "declares 1099511627776 float32 values (4398046511104 bytes)", nil},
		{"data short", legacyFile(1001, true, 4, 4, nil, 4, four[:10]), ErrCorrupt, "needs 16 bytes", nil},
		{"version", legacyFile(1000, true, 4, 4, nil, 4, four), ErrUnsupported, "protocol version 1000", nil},
		{"big endian", legacyFile(1001, false, 4, 4, nil, 4, four), ErrUnsupported, "big-endian", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTemp(t, "legacy.pt", tc.data)
			sd, err := ReadStateDict(p)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !equalFloats(sd["w"].Data, tc.vals) {
					t.Fatalf("read %v, want %v", sd["w"].Data, tc.vals)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v, want %v mentioning %q and the file", err, tc.want, tc.msg)
			}
		})
	}
}
