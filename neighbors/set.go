package neighbors

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
	"regexp"
	"strconv"
	"strings"

	"github.com/swav-go/swav/embedio"
	"github.com/swav-go/swav/internal/userfile"
)

// MaxFileSize caps an embeddings file (and its sidecar) read by Read: 16 GiB, e.g. 8·10⁶
// vectors of 512 float32s.
const MaxFileSize = 16 << 30

// maxLine caps one JSON Lines row or CSV record (a 65536-d vector written as text).
const maxLine = 64 << 20

// Set is a collection of embeddings: one L2-normalised vector per path, row-major.
// Its methods do not modify it, so it is safe for concurrent use.
type Set struct {
	// Paths names the image of each row.
	Paths []string
	// Dim is the length of every vector.
	Dim int
	// Vectors holds Len()·Dim values, row i at [i·Dim, (i+1)·Dim), each row of unit norm.
	Vectors []float32
}

// NewSet builds a Set from paths and their vectors, L2-normalising copies of them. Every
// vector must have the same non-zero length, finite values and a non-zero norm.
func NewSet(paths []string, vecs [][]float32) (*Set, error) {
	if len(paths) != len(vecs) {
		return nil, fmt.Errorf("neighbors: %d paths for %d vectors", len(paths), len(vecs))
	}
	s := &Set{Paths: append([]string(nil), paths...)}
	for i, v := range vecs {
		if i == 0 {
			s.Dim = len(v)
			s.Vectors = make([]float32, 0, len(vecs)*len(v))
		}
		if len(v) != s.Dim || len(v) == 0 {
			return nil, fmt.Errorf("neighbors: vector %d (%s) has %d values, want %d", i, paths[i], len(v), s.Dim)
		}
		s.Vectors = append(s.Vectors, v...)
	}
	if err := s.normalize("vectors"); err != nil {
		return nil, err
	}
	return s, nil
}

// Len is the number of vectors.
func (s *Set) Len() int { return len(s.Paths) }

// Row returns vector i (a view into Vectors; do not modify it).
func (s *Set) Row(i int) []float32 { return s.Vectors[i*s.Dim : (i+1)*s.Dim : (i+1)*s.Dim] }

// Find returns the row of path, or -1 when the set does not hold it. When a path occurs
// more than once, the first row is returned.
func (s *Set) Find(path string) int {
	for i, p := range s.Paths {
		if p == path {
			return i
		}
	}
	return -1
}

// normalize L2-normalises every row in place; name is used in errors.
func (s *Set) normalize(name string) error {
	for i := range s.Len() {
		row := s.Row(i)
		var ss float64
		for j, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("neighbors: %s: row %d (%s) value %d is %v", name, i, s.Paths[i], j, v)
			}
			ss += float64(v) * float64(v)
		}
		if ss == 0 {
			return fmt.Errorf("neighbors: %s: row %d (%s) is a zero vector, which has no direction to compare", name, i, s.Paths[i])
		}
		inv := 1 / math.Sqrt(ss)
		for j, v := range row {
			row[j] = float32(float64(v) * inv)
		}
	}
	return nil
}

// Read loads an embeddings file written by `swav-embed embed` in any of its formats,
// chosen by the extension: .npy (float32 or float64 N×D in C order, with the
// X.npy.paths.txt sidecar embedio writes), .jsonl ({"path","embedding"} per line) or .csv
// (a "path,v0,…" header and one row per image). Vectors are L2-normalised on reading, so
// files written with --raw work too; a zero or non-finite vector is an error naming its
// row and path.
func Read(path string) (*Set, error) {
	format, err := embedio.FormatFromPath(path, "")
	if err != nil {
		return nil, fmt.Errorf("neighbors: embeddings %s: %w", path, err)
	}
	var s *Set
	switch format {
	case embedio.FormatNPY:
		s, err = readNPY(path)
	case embedio.FormatJSONL:
		s, err = readJSONL(path)
	default:
		s, err = readCSV(path)
	}
	if err != nil {
		return nil, fmt.Errorf("neighbors: embeddings %s: %w", path, err)
	}
	if s.Len() == 0 {
		return nil, fmt.Errorf("neighbors: embeddings %s: no vectors", path)
	}
	if err := s.normalize(path); err != nil {
		return nil, err
	}
	return s, nil
}

// readNPY reads a 2-D float32/float64 .npy array and its paths sidecar.
func readNPY(path string) (*Set, error) {
	f, err := userfile.Open(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	d, hlen, err := readNPYHeader(br)
	if err != nil {
		return nil, err
	}
	var width int
	switch d.typ {
	case "<f4":
		width = 4
	case "<f8":
		width = 8
	default:
		return nil, fmt.Errorf("array type %s: want little-endian float32 (<f4) or float64 (<f8)", d.typ)
	}
	if d.fortran {
		return nil, errors.New("array is in Fortran order; want C order (numpy.ascontiguousarray)")
	}
	if len(d.shape) != 2 || d.shape[1] <= 0 {
		return nil, fmt.Errorf("array shape %v: want (N, D) with D > 0", d.shape)
	}
	n, dim := d.shape[0], d.shape[1]
	if rest := f.Size() - hlen; n > 0 && (rest/int64(width)/int64(dim) < int64(n)) {
		return nil, fmt.Errorf("shape (%d, %d) needs %d bytes of data, the file holds %d", n, dim, int64(n)*int64(dim)*int64(width), rest)
	}
	s := &Set{Dim: dim, Vectors: make([]float32, n*dim)}
	buf := make([]byte, 1<<16)
	for off := 0; off < len(s.Vectors); {
		chunk := min(len(buf)/width, len(s.Vectors)-off)
		if _, err := io.ReadFull(br, buf[:chunk*width]); err != nil {
			return nil, fmt.Errorf("read row data: %w", err)
		}
		for i := range chunk {
			if width == 4 {
				s.Vectors[off+i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
			} else {
				s.Vectors[off+i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:])))
			}
		}
		off += chunk
	}
	side := embedio.SidecarPath(path)
	s.Paths, err = readLines(side)
	if err != nil {
		return nil, fmt.Errorf("paths sidecar: %w", err)
	}
	if len(s.Paths) != n {
		return nil, fmt.Errorf("%d rows but %s lists %d paths", n, side, len(s.Paths))
	}
	return s, nil
}

// npyHeader is what readNPY needs of a .npy header.
type npyHeader struct {
	typ     string
	fortran bool
	shape   []int
}

// The fields of the header dict, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 128), }.
var (
	npyDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// readNPYHeader parses the magic string, version and header dict of a .npy file (format
// versions 1 to 3), and returns the header and its total length in bytes.
func readNPYHeader(r io.Reader) (npyHeader, int64, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil || string(pre[:6]) != "\x93NUMPY" {
		return npyHeader{}, 0, errors.New("not a NumPy .npy file (no \\x93NUMPY magic)")
	}
	var hlen int64
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return npyHeader{}, 0, fmt.Errorf("truncated .npy header: %w", err)
		}
		hlen = int64(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return npyHeader{}, 0, fmt.Errorf("truncated .npy header: %w", err)
		}
		hlen = int64(binary.LittleEndian.Uint32(b[:]))
	default:
		return npyHeader{}, 0, fmt.Errorf(".npy format version %d.%d: want 1, 2 or 3", pre[6], pre[7])
	}
	if hlen > 1<<16 {
		return npyHeader{}, 0, fmt.Errorf(".npy header of %d bytes, more than 64 KiB", hlen)
	}
	dict := make([]byte, hlen)
	if _, err := io.ReadFull(r, dict); err != nil {
		return npyHeader{}, 0, fmt.Errorf("truncated .npy header: %w", err)
	}
	var h npyHeader
	m := npyDescr.FindSubmatch(dict)
	f := npyFortran.FindSubmatch(dict)
	sh := npyShape.FindSubmatch(dict)
	if m == nil || f == nil || sh == nil {
		return npyHeader{}, 0, fmt.Errorf(".npy header %q lacks descr, fortran_order or shape", dict)
	}
	h.typ, h.fortran = string(m[1]), string(f[1]) == "True"
	for _, field := range strings.Split(string(sh[1]), ",") {
		if field = strings.TrimSpace(field); field == "" {
			continue
		}
		v, err := strconv.Atoi(field)
		if err != nil || v < 0 {
			return npyHeader{}, 0, fmt.Errorf(".npy shape (%s): %q is not a size", sh[1], field)
		}
		h.shape = append(h.shape, v)
	}
	return h, int64(len(pre)) + hlenFieldSize(pre[6]) + hlen, nil
}

// hlenFieldSize is the size of the header-length field of .npy version v.
func hlenFieldSize(v byte) int64 {
	if v == 1 {
		return 2
	}
	return 4
}

// readLines reads a sidecar of one path per line.
func readLines(path string) ([]string, error) {
	f, err := userfile.Open(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		lines = append(lines, strings.TrimSuffix(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: line %d: %w", path, len(lines)+1, err)
	}
	return lines, nil
}

// readJSONL reads {"path": …, "embedding": […]} lines.
func readJSONL(path string) (*Set, error) {
	f, err := userfile.Open(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &Set{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var row struct {
			Path      *string   `json:"path"`
			Embedding []float32 `json:"embedding"`
		}
		if err := json.Unmarshal(b, &row); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if row.Path == nil || row.Embedding == nil {
			return nil, fmt.Errorf("line %d: want an object with \"path\" and \"embedding\"", line)
		}
		if err := s.add(*row.Path, row.Embedding); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return s, nil
}

// readCSV reads a "path,v0,…" header and one row per image.
func readCSV(path string) (*Set, error) {
	f, err := userfile.Open(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(bufio.NewReader(f))
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if len(head) < 2 || head[0] != "path" {
		return nil, fmt.Errorf("header %q: want path,v0,v1,…", strings.Join(head[:min(len(head), 3)], ","))
	}
	s := &Set{}
	vec := make([]float32, len(head)-1)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		for i, field := range rec[1:] {
			v, err := strconv.ParseFloat(field, 32)
			if err != nil {
				return nil, fmt.Errorf("line %d, column %d: %w", line, i+2, err)
			}
			vec[i] = float32(v)
		}
		if err := s.add(rec[0], vec); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
	}
	return s, nil
}

// add appends one row, checking its length against the first.
func (s *Set) add(path string, vec []float32) error {
	if s.Len() == 0 {
		if len(vec) == 0 {
			return errors.New("empty embedding")
		}
		s.Dim = len(vec)
	}
	if len(vec) != s.Dim {
		return fmt.Errorf("embedding of %s has %d values, earlier rows %d", path, len(vec), s.Dim)
	}
	s.Paths = append(s.Paths, path)
	s.Vectors = append(s.Vectors, vec...)
	return nil
}
