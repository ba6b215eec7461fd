package evaluate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/swav-go/swav/embedio"
	"github.com/swav-go/swav/internal/userfile"
	"github.com/swav-go/swav/linearprobe"
)

// ErrNPY is wrapped by FromNPY's errors about what an embeddings file or its
// .paths.txt sidecar holds: not an NPY file, a header this reader does not accept,
// a size that disagrees with the header, a sidecar with the wrong number of lines,
// non-finite values.
var ErrNPY = errors.New("malformed embeddings file")

// Defaults of NPYOptions.
const (
	// DefaultMaxNPYBytes caps an embeddings file by default: 4 GiB, e.g. 500,000
	// 2048-d float32 embeddings (ResNet-50's pooled features) or 8 million 128-d ones.
	// The probe holds them all in memory (and trains on them), so larger sets are
	// better subsampled; set NPYOptions.MaxBytes to read one anyway.
	DefaultMaxNPYBytes = 4 << 30
	// DefaultMaxPathsBytes caps the .paths.txt sidecar by default: 1 GiB, several
	// million paths of any realistic length.
	DefaultMaxPathsBytes = 1 << 30
)

// Limits of the NPY reader.
const (
	maxNPYHeader = 1 << 16 // longest header dict (numpy's own reader takes 10,000 bytes)
	maxPathLine  = 1 << 20 // longest line of the sidecar
)

// NPYOptions bound FromNPYWith. The zero value applies the defaults.
type NPYOptions struct {
	// MaxBytes caps the .npy file's size, checked before reading; zero means
	// DefaultMaxNPYBytes, a negative value no cap.
	MaxBytes int64
	// MaxPathsBytes caps the sidecar's size; zero means DefaultMaxPathsBytes, a
	// negative value no cap.
	MaxPathsBytes int64
}

func capOr(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0 // userfile: no cap
	}
	return v
}

// FromNPY reads embeddings saved by `swav-embed embed --out X.npy` (an N×D float32 array
// and its X.npy.paths.txt sidecar) as a labelled dataset: each file's class is the name of
// the folder holding it (the ImageFolder convention); classes are sorted by name.
//
// The file may be any 2-d little-endian float32 or float64 array in NPY format 1.0, 2.0
// or 3.0, in C or Fortran order (float64 values are rounded to float32); the sidecar
// must hold exactly N non-empty lines, and every value must be finite. Both files are
// opened as regular files only (a FIFO, device or directory is refused by name and
// reason, wrapping userfile.ErrNotRegular) and capped in size as NPYOptions' defaults
// say (userfile.ErrTooLarge). Other errors about the files' contents wrap ErrNPY; all
// name the file.
func FromNPY(path string) (linearprobe.Dataset, error) {
	return FromNPYWith(path, NPYOptions{})
}

// FromNPYWith is FromNPY with the size caps of opts.
func FromNPYWith(path string, opts NPYOptions) (linearprobe.Dataset, error) {
	f, err := userfile.Open(path, capOr(opts.MaxBytes, DefaultMaxNPYBytes))
	if err != nil {
		return linearprobe.Dataset{}, fmt.Errorf("embeddings: %w", err)
	}
	defer f.Close()
	arr, err := readNPY(f, f.Size())
	if err != nil {
		return linearprobe.Dataset{}, fmt.Errorf("embeddings %s: %w", path, err)
	}
	sidecar := embedio.SidecarPath(path)
	text, err := userfile.ReadFile(sidecar, capOr(opts.MaxPathsBytes, DefaultMaxPathsBytes))
	if err != nil {
		return linearprobe.Dataset{}, fmt.Errorf("embeddings %s: paths: %w", path, err)
	}
	paths, err := parsePaths(text, arr.rows)
	if err != nil {
		return linearprobe.Dataset{}, fmt.Errorf("embeddings %s: %s: %w", path, sidecar, err)
	}
	d, err := labelled(arr, paths)
	if err != nil {
		return linearprobe.Dataset{}, fmt.Errorf("embeddings %s: %w", path, err)
	}
	return d, nil
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
		return nil, fmt.Errorf("%w: %d bytes, too short for an NPY file", ErrNPY, size)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("%w: not an NPY file (no \\x93NUMPY magic)", ErrNPY)
	}
	major, minor := pre[6], pre[7]
	var hlen int64
	switch {
	case major == 1 && minor == 0:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return nil, fmt.Errorf("%w: the file ends in its header", ErrNPY)
		}
		hlen = int64(binary.LittleEndian.Uint16(pre[8:10]))
	case (major == 2 || major == 3) && minor == 0:
		if _, err := io.ReadFull(r, pre[8:12]); err != nil {
			return nil, fmt.Errorf("%w: the file ends in its header", ErrNPY)
		}
		hlen = int64(binary.LittleEndian.Uint32(pre[8:12]))
	default:
		return nil, fmt.Errorf("%w: NPY format version %d.%d (1.0, 2.0 and 3.0 are read)", ErrNPY, major, minor)
	}
	start := int64(10)
	if major > 1 {
		start = 12
	}
	if hlen > maxNPYHeader || hlen > size-start {
		return nil, fmt.Errorf("%w: a header of %d bytes in a file of %d (at most %d are read)", ErrNPY, hlen, size, maxNPYHeader)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%w: the file ends in its header", ErrNPY)
	}
	a, err := parseNPYHeader(hdr)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrNPY, err)
	}
	a.offset = start + hlen
	esize := int64(4)
	if a.descr == "<f8" {
		esize = 8
	}
	if a.rows < 1 || a.cols < 1 {
		return nil, fmt.Errorf("%w: shape (%d, %d) holds no embeddings", ErrNPY, a.rows, a.cols)
	}
	room := size - a.offset
	if int64(a.rows) > room/esize/int64(a.cols) || int64(a.rows)*int64(a.cols)*esize != room {
		return nil, fmt.Errorf("%w: shape (%d, %d) of %s needs %s bytes of data, the file has %d after its header",
			ErrNPY, a.rows, a.cols, a.descr, needBytes(a.rows, a.cols, esize), room)
	}
	n := a.rows * a.cols
	a.data = make([]float32, n)
	// Decode in chunks straight into the array (Fortran order is transposed on the way).
	buf := make([]byte, 64<<10)
	for i := 0; i < n; {
		k := min(len(buf)/int(esize), n-i)
		if _, err := io.ReadFull(r, buf[:k*int(esize)]); err != nil {
			return nil, fmt.Errorf("%w: the file ends in its data (element %d of %d): %v", ErrNPY, i, n, err)
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
		return nil, fmt.Errorf("%w: the file grew while being read", ErrNPY)
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
		return nil, fmt.Errorf("%w: %d lines for the %d rows of the embeddings", ErrNPY, n, rows)
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
			return nil, fmt.Errorf("%w: line %d is empty", ErrNPY, i+1)
		case len(line) > maxPathLine:
			return nil, fmt.Errorf("%w: line %d is %d bytes long (at most %d)", ErrNPY, i+1, len(line), maxPathLine)
		}
		paths = append(paths, string(line))
	}
	return paths, nil
}

// labelled makes a dataset of the array, labelled by each path's folder.
func labelled(a *npyArray, paths []string) (linearprobe.Dataset, error) {
	for i, v := range a.data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			r := i / a.cols
			return linearprobe.Dataset{}, fmt.Errorf("%w: row %d (%s) holds %v at column %d", ErrNPY, r, clipPath(paths[r]), v, i%a.cols)
		}
	}
	d := linearprobe.Dataset{Features: a.data, N: a.rows, D: a.cols, Labels: make([]int, a.rows)}
	index := map[string]int{}
	for _, p := range paths {
		index[classOf(p)] = 0
	}
	for c := range index {
		d.Classes = append(d.Classes, c)
	}
	sort.Strings(d.Classes)
	for i, c := range d.Classes {
		index[c] = i
	}
	for i, p := range paths {
		d.Labels[i] = index[classOf(p)]
	}
	return d, nil
}

// clipPath shortens a path from a sidecar for an error message.
func clipPath(p string) string {
	if len(p) > 200 {
		return fmt.Sprintf("%s… (%d bytes)", p[:200], len(p))
	}
	return p
}

// classOf is a path's class: the name of the folder holding it.
func classOf(path string) string { return filepath.Base(filepath.Dir(path)) }
