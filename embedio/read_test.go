package embedio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swav-go/swav/embedio"
	"github.com/swav-go/swav/internal/userfile"
)

// TestReadWhatIsWritten writes knownRows (the largest float32, a denormal, -0, paths
// with spaces, commas, quotes and non-ASCII) in every format and reads them back with
// Read, bit for bit, the format inferred from the extension.
func TestReadWhatIsWritten(t *testing.T) {
	for _, tc := range formats {
		t.Run(string(tc.format), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), tc.name)
			w := writeRows(t, p, tc.format, 3, knownRows())
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			e, err := embedio.Read(p, embedio.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if e.Dim != 3 || e.Len() != 3 || len(e.Data) != 9 {
				t.Fatalf("dim %d, %d rows, %d values", e.Dim, e.Len(), len(e.Data))
			}
			var got []row
			for i, path := range e.Paths {
				got = append(got, row{path, e.Data[3*i : 3*i+3]})
			}
			compareRows(t, got, knownRows())
		})
	}
}

// npyBytes builds an NPY 1.0 file: the dict padded to a multiple of 64, then data.
func npyBytes(dict string, data ...float32) []byte {
	h := dict
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	b = append(b, h...)
	for _, v := range data {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// write puts content at name in dir and returns its path.
func write(t *testing.T, dir, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadFortranAndFormatOverride reads a Fortran-order array transposed back to rows,
// and a .npy content under another extension when the format is given.
func TestReadFortranAndFormatOverride(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "f.bin", npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 1, 4, 2, 5, 3, 6))
	write(t, dir, "f.bin.paths.txt", []byte("a\r\nb"))
	if _, err := embedio.Read(p, embedio.ReadOptions{}); err == nil || !strings.Contains(err.Error(), "cannot infer") {
		t.Fatalf("no format for .bin: %v", err)
	}
	e, err := embedio.Read(p, embedio.ReadOptions{Format: embedio.FormatNPY})
	if err != nil {
		t.Fatal(err)
	}
	if e.Dim != 3 || strings.Join(e.Paths, "|") != "a|b" || !bytes.Equal(f32bytes(e.Data), f32bytes([]float32{1, 2, 3, 4, 5, 6})) {
		t.Fatalf("dim %d paths %q data %v", e.Dim, e.Paths, e.Data)
	}
}

func f32bytes(v []float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// TestReadRejects checks that hostile or malformed files in each format are refused
// with errors wrapping ErrMalformed that name the file and the problem.
func TestReadRejects(t *testing.T) {
	dir := t.TempDir()
	good := "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }"
	nanNPY := write(t, dir, "nan.npy", npyBytes(good, 1, float32(math.NaN())))
	write(t, dir, "nan.npy.paths.txt", []byte("a\nb/c.png\n"))
	countNPY := write(t, dir, "count.npy", npyBytes(good, 1, 2))
	write(t, dir, "count.npy.paths.txt", []byte("a\n"))
	emptyLine := write(t, dir, "blank.npy", npyBytes(good, 1, 2))
	write(t, dir, "blank.npy.paths.txt", []byte("\nb\n"))
	longPath := strings.Repeat("x", 5000)
	for _, tc := range []struct {
		name, content, want string
	}{
		{"magic.npy", "PK\x03\x04 a zip", "not a NumPy .npy file"},
		{"short.npy", "\x93NUM", "too short"},
		{"dims.jsonl", `{"path":"a","embedding":[1,2]}` + "\n" + `{"path":"b","embedding":[1]}`, "line 2: embedding of b has 1 values, earlier rows 2"},
		{"nopath.jsonl", `{"embedding":[1]}`, `line 1: want an object with "path" and "embedding"`},
		{"syntax.jsonl", `{"path":"a","embedding":[1,]}`, "line 1: invalid character"},
		{"empty.jsonl", "\n\n", "no vectors"},
		{"noheader.csv", "file,a\nx,1\n", "want path,v0"},
		{"empty.csv", "path,v0\n", "no vectors"},
		{"value.csv", "path,v0,v1\nx,1," + longPath + "\n", "line 2, column 3: \"xxx"},
		{"ragged.csv", "path,v0,v1\nx,1\n", "wrong number of fields"},
		{"nan.csv", "path,v0\na,1\nb/c.png,NaN\n", "row 1 (b/c.png) holds NaN at column 0"},
		{"inf.csv", "path,v0,v1\na,1,-Inf\n", "row 0 (a) holds -Inf at column 1"},
		{"longpath.csv", "path,v0\n" + longPath + ",NaN\n", "(5000 bytes)) holds NaN"},
	} {
		p := write(t, dir, tc.name, []byte(tc.content))
		_, err := embedio.Read(p, embedio.ReadOptions{})
		if !errors.Is(err, embedio.ErrMalformed) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) || len(err.Error()) > 1024 {
			t.Errorf("%s: %v, want ErrMalformed naming the file and %q, in at most 1024 bytes", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct{ path, want string }{
		{nanNPY, "row 1 (b/c.png) holds NaN at column 0"},
		{countNPY, "1 lines for the 2 rows"},
		{emptyLine, "line 1 is empty"},
	} {
		_, err := embedio.Read(tc.path, embedio.ReadOptions{})
		if !errors.Is(err, embedio.ErrMalformed) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrMalformed naming the file and %q", filepath.Base(tc.path), err, tc.want)
		}
	}
}

// TestReadCaps checks the size caps of the file and the sidecar: equal to the size is
// read, one byte less is refused naming the file, negative means no cap.
func TestReadCaps(t *testing.T) {
	dir := t.TempDir()
	npy := npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", 1, 2)
	p := write(t, dir, "e.npy", npy)
	write(t, dir, "e.npy.paths.txt", []byte("a/b.png\n"))
	for _, tc := range []struct {
		opts    embedio.ReadOptions
		refused string
	}{
		{embedio.ReadOptions{MaxBytes: int64(len(npy)), MaxPathsBytes: 8}, ""},
		{embedio.ReadOptions{MaxBytes: -1, MaxPathsBytes: -1}, ""},
		{embedio.ReadOptions{MaxBytes: int64(len(npy)) - 1}, p},
		{embedio.ReadOptions{MaxPathsBytes: 7}, embedio.SidecarPath(p)},
	} {
		_, err := embedio.Read(p, tc.opts)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%+v: %v", tc.opts, err)
		case tc.refused != "" && (!errors.Is(err, userfile.ErrTooLarge) || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%+v: %v, want ErrTooLarge naming %s", tc.opts, err, tc.refused)
		}
	}
	csvPath := write(t, dir, "e.csv", []byte("path,v0\na,1\n"))
	if _, err := embedio.Read(csvPath, embedio.ReadOptions{MaxBytes: 5}); !errors.Is(err, userfile.ErrTooLarge) {
		t.Errorf("csv over its cap: %v", err)
	}
}
