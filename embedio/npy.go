package embedio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// npyPreludeLen is the length of the NPY 1.0 magic string, version bytes and
// uint16 header length that precede the header dict.
const npyPreludeLen = 6 + 2 + 2

// npyAlign is the alignment numpy requires of the prelude plus header.
const npyAlign = 64

// npyDict returns the NPY header dict for a C-ordered little-endian float32
// array of shape (rows, dim).
func npyDict(rows, dim int) string {
	return "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
		strconv.Itoa(rows) + ", " + strconv.Itoa(dim) + "), }"
}

// npyHeaderSize returns the total size (prelude, dict, padding and '\n') of
// an NPY 1.0 header large enough for any row count with this dim, rounded
// up to a multiple of 64 bytes.
func npyHeaderSize(dim int) int {
	n := npyPreludeLen + len(npyDict(math.MaxInt, dim)) + 1
	return (n + npyAlign - 1) / npyAlign * npyAlign
}

// npyHeader returns the complete NPY 1.0 header for shape (rows, dim),
// padded with spaces before its final '\n' to exactly size bytes.
func npyHeader(rows, dim, size int) ([]byte, error) {
	dict := npyDict(rows, dim)
	hlen := size - npyPreludeLen
	pad := hlen - len(dict) - 1
	if pad < 0 {
		return nil, fmt.Errorf("NPY header for shape (%d, %d) does not fit in %d bytes", rows, dim, size)
	}
	if hlen > math.MaxUint16 {
		return nil, fmt.Errorf("NPY header for shape (%d, %d) is %d bytes, more than NPY 1.0 allows", rows, dim, hlen)
	}
	h := make([]byte, 0, size)
	h = append(h, "\x93NUMPY"...)
	h = append(h, 1, 0)
	h = binary.LittleEndian.AppendUint16(h, uint16(hlen))
	h = append(h, dict...)
	h = append(h, strings.Repeat(" ", pad)...)
	h = append(h, '\n')
	return h, nil
}

// npyEncoder writes rows of float32 values to an .npy file and their paths
// to the sidecar.
type npyEncoder struct {
	data    *atomicFile
	paths   *atomicFile
	dim     int
	hdrSize int
	row     []byte // scratch buffer for one encoded row
}

// newNPYEncoder creates the temporary .npy and sidecar files and writes a
// provisional header (shape (0, dim)) of the final header's size. The
// returned files are in commit order: sidecar first, array last.
func newNPYEncoder(path string, dim int) (encoder, []*atomicFile, error) {
	e := &npyEncoder{dim: dim, hdrSize: npyHeaderSize(dim), row: make([]byte, 4*dim)}
	hdr, err := npyHeader(0, dim, e.hdrSize)
	if err != nil {
		return nil, nil, fmt.Errorf("embedio: %s: %w", path, err)
	}
	if e.data, err = newAtomicFile(path); err != nil {
		return nil, nil, err
	}
	if e.paths, err = newAtomicFile(SidecarPath(path)); err != nil {
		return nil, nil, errors.Join(err, e.data.discard())
	}
	files := []*atomicFile{e.paths, e.data}
	if _, err := e.data.bw.Write(hdr); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("embedio: write %s: %w", path, err), e.paths.discard(), e.data.discard())
	}
	return e, files, nil
}

// check implements encoder: the sidecar is one path per line.
func (e *npyEncoder) check(path string, _ []float32) error {
	if strings.ContainsAny(path, "\n\r") {
		return fmt.Errorf("path contains a line break, which would corrupt the line-per-path sidecar %s; rename the file or use the jsonl or csv format", e.paths.final)
	}
	return nil
}

// write implements encoder.
func (e *npyEncoder) write(path string, vec []float32) error {
	for i, v := range vec {
		binary.LittleEndian.PutUint32(e.row[4*i:], math.Float32bits(v))
	}
	if _, err := e.data.bw.Write(e.row); err != nil {
		return err
	}
	if _, err := e.paths.bw.WriteString(path); err != nil {
		return fmt.Errorf("sidecar %s: %w", e.paths.final, err)
	}
	if err := e.paths.bw.WriteByte('\n'); err != nil {
		return fmt.Errorf("sidecar %s: %w", e.paths.final, err)
	}
	return nil
}

// finish implements encoder: it rewrites the header in place with the final
// row count; the header keeps its byte length.
func (e *npyEncoder) finish(n int) error {
	hdr, err := npyHeader(n, e.dim, e.hdrSize)
	if err != nil {
		return err
	}
	if err := e.data.bw.Flush(); err != nil {
		return err
	}
	if _, err := e.data.f.WriteAt(hdr, 0); err != nil {
		return fmt.Errorf("rewrite header: %w", err)
	}
	return nil
}
