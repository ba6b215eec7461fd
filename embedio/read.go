package embedio

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
	"strconv"
	"strings"

	"github.com/swav-go/swav/internal/userfile"
)

// ErrMalformed is wrapped by Read's errors about what an embeddings file or its
// .paths.txt sidecar holds: not a file of the format, a header this reader does not
// accept, a size that disagrees with the header, rows of different lengths, a sidecar
// with the wrong number of lines, non-finite values.
var ErrMalformed = errors.New("malformed embeddings file")

// Defaults of ReadOptions.
const (
	// DefaultMaxReadBytes caps an embeddings file by default: 16 GiB, e.g. 8·10⁶
	// vectors of 512 float32s.
	DefaultMaxReadBytes = 16 << 30
	// DefaultMaxPathsBytes caps the .paths.txt sidecar by default: 1 GiB, several
	// million paths of any realistic length.
	DefaultMaxPathsBytes = 1 << 30
)

// Limits of the reader.
const (
	maxNPYHeader = 1 << 16  // longest NPY header dict (numpy's own reader takes 10,000 bytes)
	maxPathLine  = 1 << 20  // longest line of the sidecar
	maxTextLine  = 64 << 20 // longest JSON Lines row or CSV record (a 65536-d vector as text)
)

// ReadOptions choose the format of Read and bound it. The zero value infers the format
// from the extension and applies the default caps.
type ReadOptions struct {
	// Format is the file's format; empty means inferred from the path's extension as
	// FormatFromPath does.
	Format Format
	// MaxBytes caps the embeddings file's size, checked before reading; zero means
	// DefaultMaxReadBytes, a negative value no cap.
	MaxBytes int64
	// MaxPathsBytes caps the .npy sidecar's size; zero means DefaultMaxPathsBytes, a
	// negative value no cap.
	MaxPathsBytes int64
}

// Embeddings are the rows of an embeddings file, as stored (not normalised).
type Embeddings struct {
	// Paths names the image of each row.
	Paths []string
	// Dim is the length of every row, at least 1.
	Dim int
	// Data holds len(Paths)·Dim values, row i at [i·Dim, (i+1)·Dim).
	Data []float32
}

// Len is the number of rows.
func (e *Embeddings) Len() int { return len(e.Paths) }

// capOr is a ReadOptions cap as userfile takes it.
func capOr(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0 // userfile: no cap
	}
	return v
}

// Read reads an embeddings file in any of the formats this package writes, the
// format given by opts or inferred from the extension:
//
//   - .npy: any 2-d little-endian float32 or float64 array in NPY format 1.0, 2.0 or
//     3.0, in C or Fortran order (float64 values are rounded to float32), with the
//     X.npy.paths.txt sidecar (see [SidecarPath]) holding exactly one non-empty line
//     per row (a final newline optional, CRLF accepted);
//   - .jsonl: one {"path": …, "embedding": […]} object per line (blank lines skipped);
//   - .csv: a "path,v0,…" header and one record per image.
//
// There must be at least one row, all rows of one non-zero length, and every value
// finite (a non-finite one is refused naming its row, path and column). Files are
// opened as regular files only (a FIFO, device or directory is refused by name and
// reason, wrapping userfile.ErrNotRegular) and capped in size as opts say
// (userfile.ErrTooLarge). Errors about the files' contents wrap ErrMalformed; all
// name the file and stay short.
func Read(path string, opts ReadOptions) (*Embeddings, error) {
	format, err := FormatFromPath(path, string(opts.Format))
	if err != nil {
		return nil, err
	}
	f, err := userfile.Open(path, capOr(opts.MaxBytes, DefaultMaxReadBytes))
	if err != nil {
		return nil, fmt.Errorf("embedio: %w", err)
	}
	defer f.Close()
	var e *Embeddings
	switch format {
	case FormatNPY:
		a, err := readNPY(f, f.Size())
		if err != nil {
			return nil, fmt.Errorf("embedio: %s: %w", path, err)
		}
		sidecar := SidecarPath(path)
		text, err := userfile.ReadFile(sidecar, capOr(opts.MaxPathsBytes, DefaultMaxPathsBytes))
		if err != nil {
			return nil, fmt.Errorf("embedio: %s: paths: %w", path, err)
		}
		paths, err := parsePaths(text, a.rows)
		if err != nil {
			return nil, fmt.Errorf("embedio: %s: %s: %w", path, sidecar, err)
		}
		e = &Embeddings{Paths: paths, Dim: a.cols, Data: a.data}
	case FormatJSONL:
		e, err = readJSONL(f)
	default:
		e, err = readCSV(f)
	}
	if err == nil {
		err = e.checkFinite()
	}
	if err != nil {
		return nil, fmt.Errorf("embedio: %s: %w", path, err)
	}
	return e, nil
}

// checkFinite refuses a NaN or infinite value, naming its row, path and column.
func (e *Embeddings) checkFinite() error {
	for i, v := range e.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			r := i / e.Dim
			return fmt.Errorf("%w: row %d (%s) holds %v at column %d", ErrMalformed, r, clip(e.Paths[r]), v, i%e.Dim)
		}
	}
	return nil
}

// clip shortens text from a file for an error message.
func clip(s string) string {
	if len(s) > 200 {
		return fmt.Sprintf("%q… (%d bytes)", s[:200], len(s))
	}
	return s
}

// quoteClipped quotes text from a file for an error message, shortened as clip does.
func quoteClipped(s string) string {
	if len(s) > 200 {
		return clip(s)
	}
	return strconv.Quote(s)
}

// npyArray is a 2-d array read from an NPY file, in C order.
type npyArray struct {
	rows, cols int
	data       []float32
	// Header fields, as read.
	descr   string
	fortran bool
	offset  int64 // of the data from the file's start
}

// readNPY reads an NPY file of size bytes from r: a 2-d '<f4' or '<f8' array.
func readNPY(r io.Reader, size int64) (*npyArray, error) {
	var pre [12]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return nil, fmt.Errorf("%w: %d bytes, too short for an NPY file", ErrMalformed, size)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("%w: not a NumPy .npy file (no \\x93NUMPY magic)", ErrMalformed)
	}
	major, minor := pre[6], pre[7]
	var hlen int64
	switch {
	case major == 1 && minor == 0:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return nil, fmt.Errorf("%w: the file ends in its header", ErrMalformed)
		}
		hlen = int64(binary.LittleEndian.Uint16(pre[8:10]))
	case (major == 2 || major == 3) && minor == 0:
		if _, err := io.ReadFull(r, pre[8:12]); err != nil {
			return nil, fmt.Errorf("%w: the file ends in its header", ErrMalformed)
		}
		hlen = int64(binary.LittleEndian.Uint32(pre[8:12]))
	default:
		return nil, fmt.Errorf("%w: NPY format version %d.%d (1.0, 2.0 and 3.0 are read)", ErrMalformed, major, minor)
	}
	start := int64(10)
	if major > 1 {
		start = 12
	}
	if hlen > maxNPYHeader || hlen > size-start {
		return nil, fmt.Errorf("%w: a header of %d bytes in a file of %d (at most %d are read)", ErrMalformed, hlen, size, maxNPYHeader)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%w: the file ends in its header", ErrMalformed)
	}
	a, err := parseNPYHeader(hdr)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	a.offset = start + hlen
	esize := int64(4)
	if a.descr == "<f8" {
		esize = 8
	}
	if a.rows < 1 || a.cols < 1 {
		return nil, fmt.Errorf("%w: shape (%d, %d) holds no embeddings", ErrMalformed, a.rows, a.cols)
	}
	room := size - a.offset
	if int64(a.rows) > room/esize/int64(a.cols) || int64(a.rows)*int64(a.cols)*esize != room {
		return nil, fmt.Errorf("%w: shape (%d, %d) of %s needs %s bytes of data, the file has %d after its header",
			ErrMalformed, a.rows, a.cols, a.descr, needBytes(a.rows, a.cols, esize), room)
	}
	n := a.rows * a.cols
	a.data = make([]float32, n)
	// Decode in chunks straight into the array (Fortran order is transposed on the way).
	buf := make([]byte, 64<<10)
	for i := 0; i < n; {
		k := min(len(buf)/int(esize), n-i)
		if _, err := io.ReadFull(r, buf[:k*int(esize)]); err != nil {
			return nil, fmt.Errorf("%w: the file ends in its data (element %d of %d): %v", ErrMalformed, i, n, err)
		}
		for j := 0; j < k; j++ {
			var v float32
			if esize == 4 {
				v = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:]))
			} else {
				v = float32(math.Float64frombits(binary.LittleEndian.Uint64(buf[8*j:])))
			}
			at := i + j
			if a.fortran { // element at is (at % rows, at / rows)
				at = (at%a.rows)*a.cols + at/a.rows
			}
			a.data[at] = v
		}
		i += k
	}
	if k, _ := io.ReadFull(r, buf[:1]); k != 0 {
		return nil, fmt.Errorf("%w: the file grew while being read", ErrMalformed)
	}
	return a, nil
}

// needBytes formats rows×cols×esize without overflowing.
func needBytes(rows, cols int, esize int64) string {
	return strconv.FormatFloat(float64(rows)*float64(cols)*float64(esize), 'f', -1, 64)
}

// parseNPYHeader parses an NPY header: a Python dict literal with exactly the keys
// 'descr', 'fortran_order' and 'shape', padded with spaces and ended by a newline.
func parseNPYHeader(h []byte) (*npyArray, error) {
	if len(h) == 0 || h[len(h)-1] != '\n' {
		return nil, errors.New("does not end with a newline")
	}
	p := &literal{s: h[:len(h)-1]}
	a := &npyArray{}
	seen := map[string]bool{}
	p.space()
	if !p.eat('{') {
		return nil, p.errorf("expected '{'")
	}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, p.errorf("key %q twice", key)
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return nil, p.errorf("expected ':' after %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if a.descr, err = p.str(); err != nil {
				return nil, err
			}
			switch a.descr {
			case "<f4", "<f8":
			default:
				return nil, fmt.Errorf("descr %q: only little-endian float32 ('<f4') and float64 ('<f8') arrays are read", a.descr)
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				a.fortran = true
			case p.word("False"):
			default:
				return nil, p.errorf("fortran_order is not True or False")
			}
		case "shape":
			shape, err := p.tuple()
			if err != nil {
				return nil, err
			}
			if len(shape) != 2 {
				return nil, fmt.Errorf("shape %v: the embeddings must be a 2-d array (N, D)", shape)
			}
			a.rows, a.cols = shape[0], shape[1]
		default:
			return nil, p.errorf("unknown key %q", key)
		}
		p.space()
		if p.eat('}') {
			break
		}
		if !p.eat(',') {
			return nil, p.errorf("expected ',' or '}'")
		}
	}
	p.space()
	if p.i != len(p.s) {
		return nil, p.errorf("text after the dict")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return nil, fmt.Errorf("no %q key", k)
		}
	}
	return a, nil
}

// literal scans the subset of Python literals an NPY header uses.
type literal struct {
	s []byte
	i int
}

func (p *literal) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *literal) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *literal) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *literal) word(w string) bool {
	if bytes.HasPrefix(p.s[p.i:], []byte(w)) {
		p.i += len(w)
		return true
	}
	return false
}

// str scans a quoted string without escapes, of at most 64 bytes.
func (p *literal) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", p.errorf("expected a string")
	}
	q := p.s[p.i]
	end := bytes.IndexByte(p.s[p.i+1:], q)
	if end < 0 || end > 64 {
		return "", p.errorf("unterminated or overlong string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	if bytes.IndexByte(v, '\\') >= 0 {
		return "", p.errorf("escapes in a string")
	}
	p.i += end + 2
	return string(v), nil
}

// tuple scans a tuple of non-negative ints (Python 2's "3L" included).
func (p *literal) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, p.errorf("expected a tuple")
	}
	var out []int
	for {
		p.space()
		if p.eat(')') {
			return out, nil
		}
		if len(out) == 32 {
			return nil, p.errorf("more than 32 dimensions")
		}
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		n, err := strconv.ParseInt(string(p.s[j:p.i]), 10, 0)
		if err != nil || (p.i-j > 1 && p.s[j] == '0') {
			return nil, p.errorf("dimension %q is not a non-negative int", p.s[j:min(p.i+1, len(p.s), j+24)])
		}
		p.eat('L')
		out = append(out, int(n))
		p.space()
		if p.eat(')') {
			return out, nil
		}
		if !p.eat(',') {
			return nil, p.errorf("expected ',' or ')' in a tuple")
		}
	}
}

// parsePaths splits a sidecar into its lines (a final newline optional, a trailing
// "\r" dropped), which must be rows non-empty paths.
func parsePaths(text []byte, rows int) ([]string, error) {
	n := bytes.Count(text, []byte{'\n'})
	if len(text) > 0 && text[len(text)-1] != '\n' {
		n++
	}
	if n != rows {
		return nil, fmt.Errorf("%w: %d lines for the %d rows of the embeddings (the sidecar lists %d paths)", ErrMalformed, n, rows, n)
	}
	paths := make([]string, 0, n)
	for i := 0; len(text) > 0; i++ {
		line := text
		if k := bytes.IndexByte(text, '\n'); k >= 0 {
			line, text = text[:k], text[k+1:]
		} else {
			text = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		switch {
		case len(line) == 0:
			return nil, fmt.Errorf("%w: line %d is empty", ErrMalformed, i+1)
		case len(line) > maxPathLine:
			return nil, fmt.Errorf("%w: line %d is %d bytes long (at most %d)", ErrMalformed, i+1, len(line), maxPathLine)
		}
		paths = append(paths, string(line))
	}
	return paths, nil
}

// add appends one row of a text format, checking its length against the first.
func (e *Embeddings) add(path string, vec []float32) error {
	if e.Len() == 0 {
		if len(vec) == 0 {
			return errors.New("empty embedding")
		}
		e.Dim = len(vec)
	}
	if len(vec) != e.Dim {
		return fmt.Errorf("embedding of %s has %d values, earlier rows %d", clip(path), len(vec), e.Dim)
	}
	e.Paths = append(e.Paths, path)
	e.Data = append(e.Data, vec...)
	return nil
}

// readJSONL reads {"path": …, "embedding": […]} lines.
func readJSONL(r io.Reader) (*Embeddings, error) {
	e := &Embeddings{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxTextLine)
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
			return nil, fmt.Errorf("%w: line %d: %s", ErrMalformed, line, clip(err.Error()))
		}
		if row.Path == nil || row.Embedding == nil {
			return nil, fmt.Errorf("%w: line %d: want an object with \"path\" and \"embedding\"", ErrMalformed, line)
		}
		if err := e.add(*row.Path, row.Embedding); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrMalformed, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %v", ErrMalformed, line+1, err)
	}
	if e.Len() == 0 {
		return nil, fmt.Errorf("%w: no vectors", ErrMalformed)
	}
	return e, nil
}

// readCSV reads a "path,v0,…" header and one record per image.
func readCSV(r io.Reader) (*Embeddings, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if len(head) < 2 || head[0] != "path" {
		return nil, fmt.Errorf("%w: header %s: want path,v0,v1,…", ErrMalformed, clip(strings.Join(head[:min(len(head), 3)], ",")))
	}
	e := &Embeddings{}
	vec := make([]float32, len(head)-1)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		line, _ := cr.FieldPos(0)
		for i, field := range rec[1:] {
			v, err := strconv.ParseFloat(field, 32)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d, column %d: %s is not a number", ErrMalformed, line, i+2, quoteClipped(field))
			}
			vec[i] = float32(v)
		}
		if err := e.add(rec[0], vec); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrMalformed, line, err)
		}
	}
	if e.Len() == 0 {
		return nil, fmt.Errorf("%w: no vectors", ErrMalformed)
	}
	return e, nil
}
