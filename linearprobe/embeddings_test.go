package linearprobe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/swav-go/swav/embedio"
	"github.com/swav-go/swav/internal/userfile"
)

// npyFile builds an NPY file: magic, version, header length (2 bytes for version 1,
// 4 otherwise), the dict padded to a multiple of 64 and a newline, then data.
func npyFile(major byte, dict string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.WriteByte(major)
	b.WriteByte(0)
	pre := 10
	if major > 1 {
		pre = 12
	}
	h := dict
	for (pre+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	if major == 1 {
		binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(h)))
	}
	b.WriteString(h)
	b.Write(data)
	return b.Bytes()
}

func le32(vs ...float32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, vs)
	return b.Bytes()
}

func le64(vs ...float64) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, vs)
	return b.Bytes()
}

// writeNPY writes an .npy file and its sidecar into a new directory.
func writeNPY(t *testing.T, npy []byte, sidecar string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "emb.npy")
	if err := os.WriteFile(p, npy, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(embedio.SidecarPath(p), []byte(sidecar), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const threePaths = "data/cat/1.png\ndata/dog/2.png\ndata/cat/3.png\n"

// TestReadEmbeddingsEmbedOutput reads what `swav-embed embed` writes (through embedio's own
// writer) and checks every value, the classes and the labels.
func TestReadEmbeddingsEmbedOutput(t *testing.T) {
	for _, format := range []embedio.Format{embedio.FormatNPY, embedio.FormatJSONL, embedio.FormatCSV} {
		p := filepath.Join(t.TempDir(), "emb."+string(format))
		w, err := embedio.Create(p, format, 2)
		if err != nil {
			t.Fatal(err)
		}
		rows := [][]float32{{1, -2}, {0.5, 3e-8}, {-0, 7}}
		for i, path := range strings.Fields(threePaths) {
			if err := w.Write(path, rows[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		d, err := ReadEmbeddings(p)
		if err != nil {
			t.Fatal(err)
		}
		if d.N != 3 || d.D != 2 || !reflect.DeepEqual(d.Features, []float32{1, -2, 0.5, 3e-8, -0, 7}) {
			t.Fatalf("%s: N %d D %d features %v", format, d.N, d.D, d.Features)
		}
		if !reflect.DeepEqual(d.Classes, []string{"cat", "dog"}) || !reflect.DeepEqual(d.Labels, []int{0, 1, 0}) {
			t.Fatalf("%s: classes %v labels %v", format, d.Classes, d.Labels)
		}
	}
}

// TestReadEmbeddingsFormats reads the header variants the reader accepts: versions 1 to 3,
// float64, Fortran order (transposed back), Python 2 longs, double quotes and no
// trailing comma, and CRLF sidecars without a final newline.
func TestReadEmbeddingsFormats(t *testing.T) {
	want := []float32{1, 2, 3, 4, 5, 6} // (3, 2) in C order
	for _, tc := range []struct {
		name, sidecar string
		npy           []byte
	}{
		{"v1 float32", threePaths, npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", le32(want...))},
		{"v2", threePaths, npyFile(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", le32(want...))},
		{"v3", threePaths, npyFile(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", le32(want...))},
		{"float64", threePaths, npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }", le64(1, 2, 3, 4, 5, 6))},
		{"fortran", threePaths, npyFile(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", le32(1, 3, 5, 2, 4, 6))},
		{"python 2", threePaths, npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 2L), }", le32(want...))},
		{"key order and quotes", threePaths, npyFile(1, `{"shape": (3,2), "fortran_order": False, "descr": "<f4"}`, le32(want...))},
		{"crlf, no final newline", "data/cat/1.png\r\ndata/dog/2.png\r\ndata/cat/3.png", npyFile(1,
			"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", le32(want...))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ReadEmbeddings(writeNPY(t, tc.npy, tc.sidecar))
			if err != nil {
				t.Fatal(err)
			}
			if d.N != 3 || d.D != 2 || !reflect.DeepEqual(d.Features, want) || !reflect.DeepEqual(d.Labels, []int{0, 1, 0}) {
				t.Fatalf("N %d D %d features %v labels %v", d.N, d.D, d.Features, d.Labels)
			}
		})
	}
}

// TestReadEmbeddingsRejects checks that malformed files and sidecars are refused with errors
// wrapping ErrEmbeddings, naming the file and the problem.
func TestReadEmbeddingsRejects(t *testing.T) {
	good := "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }"
	data := le32(1, 2, 3, 4, 5, 6)
	long := npyFile(1, good, data)
	binary.LittleEndian.PutUint16(long[8:], 0xffff)
	v2long := npyFile(2, good, data)
	binary.LittleEndian.PutUint32(v2long[8:], 1<<31)
	noNewline := npyFile(1, good, data)
	noNewline[len(noNewline)-len(data)-1] = ' '
	for _, tc := range []struct {
		name    string
		npy     []byte
		sidecar string
		msg     string
	}{
		{"empty", nil, threePaths, "too short"},
		{"not npy", []byte("PK\x03\x04 a zip file, really"), threePaths, "no \\x93NUMPY magic"},
		{"version 4", npyFile(4, good, data), threePaths, "version 4.0"},
		{"header length beyond the file", long, threePaths, "header of 65535 bytes"},
		{"huge v2 header", v2long, threePaths, "header of 2147483648 bytes"},
		{"no newline", noNewline, threePaths, "newline"},
		{"big endian", npyFile(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (3, 2), }", data), threePaths, `descr ">f4"`},
		{"int64", npyFile(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3, 1), }", data[:24]), threePaths, `descr "<i8"`},
		{"structured", npyFile(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3, 2), }", data), threePaths, "expected a string"},
		{"1-d", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", data), threePaths, "2-d array"},
		{"3-d", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 1), }", data), threePaths, "2-d array"},
		{"no rows", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2), }", nil), "", "holds no embeddings"},
		{"negative", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 2), }", data), threePaths, "non-negative int"},
		{"overflowing shape", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", data), threePaths,
			"needs 73786976294838210000 bytes"},
		{"data short", npyFile(1, good, data[:20]), threePaths, "needs 24 bytes of data, the file has 20"},
		{"data long", npyFile(1, good, append(data, 0)), threePaths, "the file has 25"},
		{"unknown key", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), 'x': 1}", data), threePaths, `unknown key "x"`},
		{"missing key", npyFile(1, "{'descr': '<f4', 'shape': (3, 2), }", data), threePaths, `no "fortran_order" key`},
		{"duplicate key", npyFile(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3, 2)}", data), threePaths, "twice"},
		{"fortran_order", npyFile(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (3, 2)}", data), threePaths, "True or False"},
		{"trailing text", npyFile(1, good+" x", data), threePaths, "text after the dict"},
		{"too few paths", npyFile(1, good, data), "a/b.png\nc/d.png\n", "2 lines for the 3 rows"},
		{"too many paths", npyFile(1, good, data), threePaths + "e/f.png\n", "4 lines for the 3 rows"},
		{"empty path", npyFile(1, good, data), "a/b.png\n\nc/d.png\n", "line 2 is empty"},
		{"NaN", npyFile(1, good, le32(1, 2, 3, float32(math.NaN()), 5, 6)), threePaths, "row 1 (data/dog/2.png) holds NaN at column 1"},
		{"Inf", npyFile(1, good, le32(1, 2, 3, 4, float32(math.Inf(-1)), 6)), threePaths, "row 2 (data/cat/3.png) holds -Inf"},
		{"float64 overflow", npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }", le64(1, 2, 3, 4, 5, 1e300)), threePaths, "+Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeNPY(t, tc.npy, tc.sidecar)
			_, err := ReadEmbeddings(p)
			if !errors.Is(err, ErrEmbeddings) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want ErrEmbeddings naming %s and %q", err, p, tc.msg)
			}
		})
	}
	// A missing sidecar is an I/O error naming it.
	p := filepath.Join(t.TempDir(), "alone.npy")
	os.WriteFile(p, npyFile(1, good, data), 0o644)
	if _, err := ReadEmbeddings(p); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), embedio.SidecarPath(p)) {
		t.Errorf("missing sidecar: %v", err)
	}
}

// TestReadEmbeddingsCaps checks the size caps: options smaller than the files refuse them
// (naming the file), and a sparse file just over the default cap is refused at once,
// without reading or allocating.
func TestReadEmbeddingsCaps(t *testing.T) {
	npy := npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", le32(1, 2, 3, 4, 5, 6))
	p := writeNPY(t, npy, threePaths)
	if _, err := ReadEmbeddingsWith(p, EmbeddingsOptions{MaxBytes: int64(len(npy))}); err != nil {
		t.Fatalf("cap equal to the size: %v", err)
	}
	if _, err := ReadEmbeddingsWith(p, EmbeddingsOptions{MaxBytes: -1, MaxPathsBytes: -1}); err != nil {
		t.Fatalf("no caps: %v", err)
	}
	if _, err := ReadEmbeddingsWith(p, EmbeddingsOptions{MaxBytes: int64(len(npy)) - 1}); !errors.Is(err, userfile.ErrTooLarge) || !strings.Contains(err.Error(), p) {
		t.Errorf("cap below the .npy size: %v", err)
	}
	if _, err := ReadEmbeddingsWith(p, EmbeddingsOptions{MaxPathsBytes: 10}); !errors.Is(err, userfile.ErrTooLarge) || !strings.Contains(err.Error(), embedio.SidecarPath(p)) {
		t.Errorf("cap below the sidecar size: %v", err)
	}

	huge := filepath.Join(t.TempDir(), "huge.npy")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(npy[:64])
	if err := f.Truncate(DefaultMaxEmbeddingsBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err = ReadEmbeddings(huge)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, userfile.ErrTooLarge) || !strings.Contains(err.Error(), huge) {
		t.Fatalf("file over the default cap: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 || took > 2*time.Second {
		t.Fatalf("refusing took %v and allocated %d bytes", took, alloc)
	}
	// The default holds the documented 500,000 ResNet-50 embeddings (2048-d float32)
	// and their header.
	if DefaultMaxEmbeddingsBytes < 500_000*2048*4+128 {
		t.Errorf("DefaultMaxEmbeddingsBytes %d is below 500,000 2048-d embeddings", DefaultMaxEmbeddingsBytes)
	}
}
