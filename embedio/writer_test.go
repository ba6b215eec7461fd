package embedio_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio"
	"codeberg.org/sbinet/npyio/npy"

	"github.com/swav-go/swav/embedio"
)

// row is one expected output row.
type row struct {
	path string
	vec  []float32
}

var negZero = float32(math.Copysign(0, -1))

// knownRows are rows of dimension 3 whose values exercise exact float32
// round-tripping: the largest finite float32, the smallest denormal, -0 and
// values with no short decimal form.
func knownRows() []row {
	return []row{
		{"a.jpg", []float32{1, -2.5, 0}},
		{"dir/b c.png", []float32{0.1, math.MaxFloat32, math.SmallestNonzeroFloat32}},
		{`odd, "quoted" é.jpg`, []float32{negZero, 1.0 / 3, -7e-20}},
	}
}

// formats lists every format with a file name carrying its extension.
var formats = []struct {
	format embedio.Format
	name   string
}{
	{"npy", "emb.npy"},
	{"jsonl", "emb.jsonl"},
	{"csv", "emb.csv"},
}

// finalNames returns the base names a committed output of format f at name
// consists of.
func finalNames(f embedio.Format, name string) []string {
	if f == embedio.FormatNPY {
		return []string{name, name + ".paths.txt"}
	}
	return []string{name}
}

// dirNames lists the base names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// writeRows creates a writer and writes rows, failing the test on error.
func writeRows(t *testing.T, path string, f embedio.Format, dim int, rows []row) embedio.Writer {
	t.Helper()
	w, err := embedio.Create(path, f, dim)
	if err != nil {
		t.Fatalf("Create(%s, %s, %d): %v", path, f, dim, err)
	}
	for i, r := range rows {
		if err := w.Write(r.path, r.vec); err != nil {
			t.Fatalf("Write row %d: %v", i, err)
		}
		if got := w.Count(); got != i+1 {
			t.Fatalf("Count after %d rows = %d", i+1, got)
		}
	}
	return w
}

// sameFloat reports whether a and b are the same float32 bit pattern, or
// both NaN.
func sameFloat(a, b float32) bool {
	if a != a && b != b {
		return true
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// compareRows checks got against want exactly, bit for bit.
func compareRows(t *testing.T, got, want []row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read back %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].path != want[i].path {
			t.Errorf("row %d: path %q, want %q", i, got[i].path, want[i].path)
		}
		if len(got[i].vec) != len(want[i].vec) {
			t.Errorf("row %d: %d values, want %d", i, len(got[i].vec), len(want[i].vec))
			continue
		}
		for j := range want[i].vec {
			if !sameFloat(got[i].vec[j], want[i].vec[j]) {
				t.Errorf("row %d value %d: %g (%#08x), want %g (%#08x)", i, j,
					got[i].vec[j], math.Float32bits(got[i].vec[j]), want[i].vec[j], math.Float32bits(want[i].vec[j]))
			}
		}
	}
}

// readBack parses a committed output with an independent parser.
func readBack(t *testing.T, f embedio.Format, path string, dim int) []row {
	t.Helper()
	switch f {
	case embedio.FormatNPY:
		return readNPY(t, path, dim)
	case embedio.FormatJSONL:
		return readJSONL(t, path, dim)
	case embedio.FormatCSV:
		return readCSV(t, path, dim)
	}
	t.Fatalf("unknown format %q", f)
	return nil
}

// readNPY reads an .npy output with npyio and its sidecar line by line, and
// checks the raw NPY 1.0 layout.
func readNPY(t *testing.T, path string, dim int) []row {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 10 || string(raw[:6]) != "\x93NUMPY" || raw[6] != 1 || raw[7] != 0 {
		t.Fatalf("%s: not an NPY 1.0 file: % x", path, raw[:min(len(raw), 10)])
	}
	total := 10 + int(binary.LittleEndian.Uint16(raw[8:10]))
	if total%64 != 0 {
		t.Errorf("%s: header ends at byte %d, not a multiple of 64", path, total)
	}
	if raw[total-1] != '\n' {
		t.Errorf("%s: header does not end with '\\n'", path)
	}

	r, err := npy.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("npy.NewReader(%s): %v", path, err)
	}
	if r.Header.Descr.Type != "'<f4'" {
		t.Errorf("%s: descr %q, want '<f4'", path, r.Header.Descr.Type)
	}
	if r.Header.Descr.Fortran {
		t.Errorf("%s: fortran_order True, want False", path)
	}
	shape := r.Header.Descr.Shape
	if len(shape) != 2 || shape[1] != dim {
		t.Fatalf("%s: shape %v, want [N %d]", path, shape, dim)
	}
	n := shape[0]
	if want := total + 4*n*dim; len(raw) != want {
		t.Errorf("%s: %d bytes, want %d for shape %v", path, len(raw), want, shape)
	}

	var data []float32
	if err := npyio.Read(bytes.NewReader(raw), &data); err != nil {
		t.Fatalf("npyio.Read(%s): %v", path, err)
	}
	if len(data) != n*dim {
		t.Fatalf("%s: npyio read %d values, want %d", path, len(data), n*dim)
	}

	sidecar, err := os.ReadFile(path + ".paths.txt")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	if len(sidecar) > 0 {
		if sidecar[len(sidecar)-1] != '\n' {
			t.Errorf("%s.paths.txt: last line not terminated", path)
		}
		paths = strings.Split(strings.TrimSuffix(string(sidecar), "\n"), "\n")
	}
	if len(paths) != n {
		t.Fatalf("%s.paths.txt: %d paths for %d rows", path, len(paths), n)
	}
	rows := make([]row, n)
	for i := range rows {
		rows[i] = row{paths[i], data[i*dim : (i+1)*dim]}
	}
	return rows
}

// readJSONL decodes a JSON Lines output with encoding/json, one line at a
// time.
func readJSONL(t *testing.T, path string, dim int) []row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var obj struct {
			Path      *string   `json:"path"`
			Embedding []float32 `json:"embedding"`
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("%s line %d: %v: %s", path, len(rows)+1, err, sc.Bytes())
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Fatalf("%s line %d: trailing data", path, len(rows)+1)
		}
		if obj.Path == nil || len(obj.Embedding) != dim {
			t.Fatalf("%s line %d: missing path or %d values, want %d", path, len(rows)+1, len(obj.Embedding), dim)
		}
		rows = append(rows, row{*obj.Path, obj.Embedding})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// readCSV parses a CSV output with encoding/csv.
func readCSV(t *testing.T, path string, dim int) []row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = dim + 1
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(recs) == 0 {
		t.Fatalf("%s: no header", path)
	}
	wantHeader := []string{"path"}
	for i := range dim {
		wantHeader = append(wantHeader, fmt.Sprintf("v%d", i))
	}
	if !slices.Equal(recs[0], wantHeader) {
		t.Errorf("%s: header %q, want %q", path, recs[0], wantHeader)
	}
	var rows []row
	for _, rec := range recs[1:] {
		vec := make([]float32, dim)
		for i, s := range rec[1:] {
			v, err := strconv.ParseFloat(s, 32)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			vec[i] = float32(v)
		}
		rows = append(rows, row{rec[0], vec})
	}
	return rows
}

// haveNumpy reports whether /usr/bin/python3 can import numpy.
func haveNumpy() bool {
	return exec.Command("/usr/bin/python3", "-c", "import numpy").Run() == nil
}

// numpyLoadScript prints dtype, shape, C-contiguity and the raw float32 bit
// patterns of the array numpy.load reads from argv[1].
const numpyLoadScript = `
import json, sys, numpy
a = numpy.load(sys.argv[1])
print(json.dumps({"dtype": a.dtype.str, "shape": list(a.shape),
    "c": bool(a.flags.c_contiguous), "bits": a.view("<u4").ravel().tolist()}))
`

// checkNumpyLoad loads an .npy output with numpy and compares it with want.
func checkNumpyLoad(t *testing.T, path string, dim int, want []row) {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "-c", numpyLoadScript, path).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy.load(%s): %v\n%s", path, err, out)
	}
	var got struct {
		Dtype string   `json:"dtype"`
		Shape []int    `json:"shape"`
		C     bool     `json:"c"`
		Bits  []uint32 `json:"bits"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("numpy output %q: %v", out, err)
	}
	if got.Dtype != "<f4" || !got.C || !slices.Equal(got.Shape, []int{len(want), dim}) {
		t.Errorf("numpy.load: dtype %s shape %v C-order %v, want <f4 [%d %d] true", got.Dtype, got.Shape, got.C, len(want), dim)
	}
	var wantBits []uint32
	for _, r := range want {
		for _, v := range r.vec {
			wantBits = append(wantBits, math.Float32bits(v))
		}
	}
	if !slices.Equal(got.Bits, wantBits) {
		t.Errorf("numpy.load bits %#x, want %#x", got.Bits, wantBits)
	}
}

func TestRoundTrip(t *testing.T) {
	numpy := haveNumpy()
	if !numpy {
		t.Log("numpy not available: skipping the numpy.load sub-checks (npyio checks still run)")
	}
	known := knownRows()
	sets := []struct {
		name string
		rows []row
	}{
		{"empty", nil},
		{"one row", known[:1]},
		{"three rows", known},
	}
	for _, ft := range formats {
		for _, set := range sets {
			t.Run(fmt.Sprintf("%s/%s", ft.format, set.name), func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, ft.name)
				w := writeRows(t, path, ft.format, 3, set.rows)
				if err := w.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if got := w.Count(); got != len(set.rows) {
					t.Errorf("Count after Close = %d, want %d", got, len(set.rows))
				}
				if got, want := dirNames(t, dir), finalNames(ft.format, ft.name); !slices.Equal(got, want) {
					t.Errorf("directory holds %q, want %q", got, want)
				}
				compareRows(t, readBack(t, ft.format, path, 3), set.rows)
				if ft.format == embedio.FormatNPY && numpy {
					checkNumpyLoad(t, path, 3, set.rows)
				}
			})
		}
	}
}

func TestRoundTripPathsAndValuesPerFormat(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	tests := []struct {
		name   string
		format embedio.Format
		file   string
		rows   []row
	}{
		{"csv line breaks in path", "csv", "e.csv", []row{{"a\nb.jpg", []float32{1, 2}}, {"c\rd.jpg", []float32{3, 4}}}},
		{"jsonl line breaks and escapes in path", "jsonl", "e.jsonl", []row{{"a\nb.jpg", []float32{1, 2}}, {"q\"<&>\\\t.jpg", []float32{3, 4}}}},
		{"csv non-finite values", "csv", "e.csv", []row{{"x.jpg", []float32{inf, -inf}}, {"y.jpg", []float32{nan, 0}}}},
		{"npy non-finite values", "npy", "e.npy", []row{{"x.jpg", []float32{inf, -inf}}, {"y.jpg", []float32{nan, 0}}}},
		{"csv keeps non-UTF-8 paths", "csv", "e.csv", []row{{"bad\xff.jpg", []float32{1, 2}}}},
		{"npy keeps non-UTF-8 paths", "npy", "e.npy", []row{{"bad\xff.jpg", []float32{1, 2}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			w := writeRows(t, path, tc.format, 2, tc.rows)
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			compareRows(t, readBack(t, tc.format, path, 2), tc.rows)
		})
	}
}

func TestJSONLFloatText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.jsonl")
	w := writeRows(t, path, "jsonl", 4, []row{{"p.jpg", []float32{0.1, 1e-7, 16777216, negZero}}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"path":"p.jpg","embedding":[0.1,1e-07,1.6777216e+07,-0]}` + "\n"
	if string(got) != want {
		t.Errorf("jsonl line\n got %q\nwant %q", got, want)
	}
}

func TestCSVText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.csv")
	// encoding/csv's reader would turn the quoted "\r\n" into "\n", so the
	// verbatim CRLF is checked on the bytes here.
	w := writeRows(t, path, "csv", 2, []row{{"a,b.jpg", []float32{0.5, -3}}, {"plain.jpg", []float32{0.1, 2e-10}}, {"c\r\nd.jpg", []float32{1, 2}}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "path,v0,v1\n\"a,b.jpg\",0.5,-3\nplain.jpg,0.1,2e-10\n\"c\r\nd.jpg\",1,2\n"
	if string(got) != want {
		t.Errorf("csv\n got %q\nwant %q", got, want)
	}
}

func TestRejectedRows(t *testing.T) {
	tests := []struct {
		name    string
		format  embedio.Format
		file    string
		path    string
		vec     []float32
		wantErr []string
	}{
		{"npy too short", "npy", "e.npy", "a.jpg", []float32{1, 2}, []string{"e.npy", `"a.jpg"`, "has 2 values, want 3"}},
		{"jsonl too long", "jsonl", "e.jsonl", "a.jpg", []float32{1, 2, 3, 4}, []string{"e.jsonl", "has 4 values, want 3"}},
		{"csv empty", "csv", "e.csv", "a.jpg", nil, []string{"e.csv", "has 0 values, want 3"}},
		{"npy newline in path", "npy", "e.npy", "a\nb.jpg", []float32{1, 2, 3}, []string{"e.npy", `"a\nb.jpg"`, "line break", "e.npy.paths.txt"}},
		{"npy carriage return in path", "npy", "e.npy", "a\rb.jpg", []float32{1, 2, 3}, []string{"line break"}},
		{"jsonl NaN", "jsonl", "e.jsonl", "a.jpg", []float32{1, float32(math.NaN()), 3}, []string{"e.jsonl", "value 1 is NaN"}},
		{"jsonl infinity", "jsonl", "e.jsonl", "a.jpg", []float32{1, 2, float32(math.Inf(-1))}, []string{"value 2 is -Inf"}},
		{"jsonl invalid UTF-8 path", "jsonl", "e.jsonl", "a\xff.jpg", []float32{1, 2, 3}, []string{"UTF-8"}},
	}
	good := knownRows()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tc.file)
			w := writeRows(t, path, tc.format, 3, good[:1])
			err := w.Write(tc.path, tc.vec)
			if err == nil {
				t.Fatal("Write: no error")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if got := w.Count(); got != 1 {
				t.Errorf("Count after rejected row = %d, want 1", got)
			}
			// The writer stays usable and the rejected row leaves no trace.
			if err := w.Write(good[1].path, good[1].vec); err != nil {
				t.Fatalf("Write after rejected row: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			compareRows(t, readBack(t, tc.format, path, 3), good[:2])
		})
	}
}

func TestAbortLeavesNoFiles(t *testing.T) {
	for _, ft := range formats {
		t.Run(string(ft.format), func(t *testing.T) {
			dir := t.TempDir()
			w := writeRows(t, filepath.Join(dir, ft.name), ft.format, 3, knownRows())
			if len(dirNames(t, dir)) == 0 {
				t.Fatal("no temporary file while writing")
			}
			if err := w.Abort(); err != nil {
				t.Fatalf("Abort: %v", err)
			}
			if got := dirNames(t, dir); len(got) != 0 {
				t.Errorf("after Abort the directory holds %q, want nothing", got)
			}
			if err := w.Abort(); err != nil {
				t.Errorf("second Abort: %v", err)
			}
			if err := w.Write("x.jpg", []float32{1, 2, 3}); err == nil {
				t.Error("Write after Abort: no error")
			}
			if err := w.Close(); err == nil {
				t.Error("Close after Abort: no error")
			}
			if got := dirNames(t, dir); len(got) != 0 {
				t.Errorf("after Close-after-Abort the directory holds %q, want nothing", got)
			}
		})
	}
}

func TestAbortKeepsPreviousOutput(t *testing.T) {
	for _, ft := range formats {
		t.Run(string(ft.format), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, ft.name)
			for _, name := range finalNames(ft.format, ft.name) {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("previous"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			w := writeRows(t, path, ft.format, 3, knownRows())
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			if got := dirNames(t, dir); !slices.Equal(got, finalNames(ft.format, ft.name)) {
				t.Errorf("directory holds %q, want %q", got, finalNames(ft.format, ft.name))
			}
			for _, name := range finalNames(ft.format, ft.name) {
				if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != "previous" {
					t.Errorf("%s changed by an aborted writer: %q", name, b)
				}
			}
		})
	}
}

func TestCloseCommitsOnlyAtClose(t *testing.T) {
	for _, ft := range formats {
		t.Run(string(ft.format), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, ft.name)
			want := knownRows()[:2]
			w := writeRows(t, path, ft.format, 3, want)

			names := dirNames(t, dir)
			if len(names) != len(finalNames(ft.format, ft.name)) {
				t.Errorf("while writing the directory holds %q, want one temporary file per output", names)
			}
			for _, n := range names {
				if !strings.HasPrefix(n, ".") || !strings.Contains(n, ".tmp-") {
					t.Errorf("file %q exists before Close; want only hidden .tmp- files", n)
				}
			}
			for _, n := range finalNames(ft.format, ft.name) {
				if _, err := os.Stat(filepath.Join(dir, n)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists before Close (err %v)", n, err)
				}
			}

			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := dirNames(t, dir); !slices.Equal(got, finalNames(ft.format, ft.name)) {
				t.Errorf("after Close the directory holds %q, want %q", got, finalNames(ft.format, ft.name))
			}
			for _, n := range finalNames(ft.format, ft.name) {
				fi, err := os.Stat(filepath.Join(dir, n))
				if err != nil {
					t.Fatal(err)
				}
				if perm := fi.Mode().Perm(); perm != 0o644 {
					t.Errorf("%s mode %v, want 0644", n, perm)
				}
			}
			compareRows(t, readBack(t, ft.format, path, 3), want)

			if err := w.Abort(); err != nil {
				t.Errorf("Abort after Close: %v", err)
			}
			if got := dirNames(t, dir); !slices.Equal(got, finalNames(ft.format, ft.name)) {
				t.Errorf("Abort after Close changed the directory: %q", got)
			}
			if err := w.Write("x.jpg", []float32{1, 2, 3}); err == nil {
				t.Error("Write after Close: no error")
			}
			if err := w.Close(); err == nil {
				t.Error("second Close: no error")
			}
			if got := w.Count(); got != 2 {
				t.Errorf("Count = %d, want 2", got)
			}
		})
	}
}

// TestStreams checks that rows reach the temporary file while writing
// rather than being held in memory until Close.
func TestStreams(t *testing.T) {
	const dim, rows = 64, 2000 // 512 KiB of float32 data
	vec := make([]float32, dim)
	for i := range vec {
		vec[i] = float32(i) / 7
	}
	for _, ft := range formats {
		t.Run(string(ft.format), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, ft.name)
			w, err := embedio.Create(path, ft.format, dim)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			for i := range rows {
				if err := w.Write(fmt.Sprintf("img%05d.jpg", i), vec); err != nil {
					t.Fatal(err)
				}
			}
			var size int64
			for _, n := range dirNames(t, dir) {
				fi, err := os.Stat(filepath.Join(dir, n))
				if err != nil {
					t.Fatal(err)
				}
				size += fi.Size()
			}
			if size < 256<<10 {
				t.Errorf("only %d bytes on disk after %d rows; output is not streamed", size, rows)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got := readBack(t, ft.format, path, dim)
			if len(got) != rows || got[rows-1].path != "img01999.jpg" {
				t.Fatalf("read back %d rows", len(got))
			}
		})
	}
}

func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		path    string
		format  embedio.Format
		dim     int
		wantErr []string
	}{
		{"zero dimension", filepath.Join(dir, "e.npy"), "npy", 0, []string{"e.npy", "dimension", "got 0"}},
		{"negative dimension", filepath.Join(dir, "e.csv"), "csv", -2, []string{"got -2"}},
		{"unknown format", filepath.Join(dir, "e.bin"), "bin", 3, []string{"e.bin", `"bin"`, "npy, jsonl, csv"}},
		{"empty format", filepath.Join(dir, "e.npy"), "", 3, []string{"npy, jsonl, csv"}},
		{"missing directory", filepath.Join(dir, "no", "such", "e.jsonl"), "jsonl", 3, []string{filepath.Join(dir, "no", "such", "e.jsonl")}},
		{"path is a directory", dir, "csv", 3, []string{dir, "directory"}},
		{"empty path", "", "npy", 3, []string{"empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := embedio.Create(tc.path, tc.format, tc.dim)
			if err == nil {
				_ = w.Abort()
				t.Fatal("Create: no error")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("failed Creates left %q", got)
	}
}

func TestSidecarPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"emb.npy", "emb.npy.paths.txt"},
		{"/out/dir/x.npy", "/out/dir/x.npy.paths.txt"},
	}
	for _, tc := range tests {
		if got := embedio.SidecarPath(tc.in); got != tc.want {
			t.Errorf("SidecarPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
