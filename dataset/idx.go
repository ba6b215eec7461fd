package dataset

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/swav-go/swav/internal/userfile"
)

// ErrIDX is wrapped by every error about the content of an IDX file (bad
// magic number, unsupported element type, wrong dimensions, truncated or
// oversized data, image/label count mismatch).
var ErrIDX = errors.New("invalid IDX file")

// maxIDXBytes bounds the payload an IDX header may declare (4 GiB) whatever
// IDXOptions.MaxBytes says.
const maxIDXBytes = 1 << 32

// DefaultMaxIDXBytes is the limit applied when IDXOptions.MaxBytes is zero:
// 1 GiB, twenty times Fashion-MNIST's 47 MB training images and enough for
// EMNIST's largest split (547 MB).
const DefaultMaxIDXBytes = 1 << 30

// maxDeflateRatio is the most a deflate stream can expand: a compressed
// block of 258-byte matches emits at most 1032 bytes per input byte (RFC
// 1951 §3.2.5; zlib's documentation gives 1032:1), plus room for the
// gzip header and trailer below.
const maxDeflateRatio = 1032

// IDXOptions configures IDXWithOptions.
type IDXOptions struct {
	// MaxBytes bounds each file: its size on disk, and the data its header
	// declares (after decompression for a gzip file), which is held in
	// memory. Both are checked before the data is read. 0 means
	// DefaultMaxIDXBytes; a negative value leaves only the format's own
	// limit of 4 GiB.
	MaxBytes int64
}

func (o IDXOptions) maxBytes() int64 {
	switch {
	case o.MaxBytes == 0:
		return DefaultMaxIDXBytes
	case o.MaxBytes < 0 || o.MaxBytes > maxIDXBytes:
		return maxIDXBytes
	}
	return o.MaxBytes
}

// DefaultFashionMNISTDir is where Debian's dataset-fashion-mnist package
// installs the Fashion-MNIST files; FashionMNIST uses it when dir is "".
const DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// FashionMNISTClasses returns the ten Fashion-MNIST class names, indexed by
// label.
func FashionMNISTClasses() []string {
	return []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
		"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
}

// IDXSource is a Source over an IDX image file (MNIST format) and an
// optional label file. All pixels are held packed, one byte per pixel
// (60,000 28×28 images take 47 MB); Image returns a fresh *image.Gray.
type IDXSource struct {
	name    string // base name of the image file, for Name
	n, h, w int
	pix     []byte
	labels  []byte // nil when unlabelled
	classes []string
}

// IDX reads an IDX image file (magic 0x00000803: unsigned bytes, 3
// dimensions N×rows×cols) and, unless labelsPath is "", the matching IDX
// label file (magic 0x00000801: N unsigned bytes). Either file may be
// gzip-compressed; this is detected from its content, not its name. The
// header, the data length and the image/label counts are validated; any
// mismatch is an error wrapping ErrIDX that names the file.
//
// With labels, Classes returns "0", "1", ... up to the largest label.
//
// Files are read under the default IDXOptions; see IDXWithOptions.
func IDX(imagesPath, labelsPath string) (*IDXSource, error) {
	return IDXWithOptions(imagesPath, labelsPath, IDXOptions{})
}

// IDXWithOptions is IDX with limits: only regular files are opened (a FIFO,
// device or directory is refused by its type, before anything is read), and
// each file's size and the data its header declares must be within
// opts.MaxBytes. The declared data is checked against the file's size
// before anything is allocated: an uncompressed file must hold exactly the
// declared bytes, and a gzip file cannot declare more than deflate's
// maximum expansion of its size, nor inflate past what it declares.
func IDXWithOptions(imagesPath, labelsPath string, opts IDXOptions) (*IDXSource, error) {
	dims, pix, err := readIDX(imagesPath, 3, opts.maxBytes())
	if err != nil {
		return nil, err
	}
	s := &IDXSource{name: filepath.Base(imagesPath), n: dims[0], h: dims[1], w: dims[2], pix: pix}
	if s.h == 0 || s.w == 0 {
		return nil, fmt.Errorf("idx %s: %w: images are %dx%d", imagesPath, ErrIDX, s.h, s.w)
	}
	if labelsPath == "" {
		return s, nil
	}
	ldims, labels, err := readIDX(labelsPath, 1, opts.maxBytes())
	if err != nil {
		return nil, err
	}
	if ldims[0] != s.n {
		return nil, fmt.Errorf("idx %s: %w: %d labels but %s holds %d images",
			labelsPath, ErrIDX, ldims[0], imagesPath, s.n)
	}
	s.labels = labels
	if s.n > 0 {
		top := int(slices.Max(labels))
		s.classes = make([]string, top+1)
		for i := range s.classes {
			s.classes[i] = strconv.Itoa(i)
		}
	}
	return s, nil
}

// FashionMNIST reads the Fashion-MNIST training set (60,000 images) when
// train is true, else the test set (10,000), from dir: the files
// {train,t10k}-images-idx3-ubyte and {train,t10k}-labels-idx1-ubyte, each
// either with a ".gz" suffix (preferred when both exist) or uncompressed.
// An empty dir means DefaultFashionMNISTDir. Classes returns
// FashionMNISTClasses.
func FashionMNIST(dir string, train bool) (*IDXSource, error) {
	if dir == "" {
		dir = DefaultFashionMNISTDir
	}
	prefix := "t10k"
	if train {
		prefix = "train"
	}
	images, err := findIDX(dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	labels, err := findIDX(dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	s, err := IDX(images, labels)
	if err != nil {
		return nil, err
	}
	classes := FashionMNISTClasses()
	if s.n > 0 && int(slices.Max(s.labels)) >= len(classes) {
		return nil, fmt.Errorf("idx %s: %w: label %d is not a Fashion-MNIST class (0-9)", labels, ErrIDX, slices.Max(s.labels))
	}
	s.classes = classes
	return s, nil
}

// findIDX returns dir/base.gz or dir/base, whichever exists first.
func findIDX(dir, base string) (string, error) {
	gz := filepath.Join(dir, base+".gz")
	raw := filepath.Join(dir, base)
	for _, p := range []string{gz, raw} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("idx %s: %w", p, err)
		}
	}
	return "", fmt.Errorf("idx %s: neither %s nor %s exists (on Debian: apt-get install -y dataset-fashion-mnist): %w",
		base, gz, raw, fs.ErrNotExist)
}

// readIDX reads an unsigned-byte IDX file with the wanted number of
// dimensions and returns its dimensions and data.
func readIDX(path string, wantDims int, limit int64) ([]int, []byte, error) {
	f, err := userfile.Open(path, limit)
	if err != nil {
		if strings.HasPrefix(err.Error(), path+":") { // userfile's own errors name the path
			return nil, nil, fmt.Errorf("idx %w", err)
		}
		return nil, nil, fmt.Errorf("idx %s: %w", path, err)
	}
	defer f.Close()
	return parseIDX(f, f.Size(), path, wantDims, limit)
}

// parseIDX parses an IDX file of size bytes (gzip-compressed or not) from
// r; path names it in errors. Its data must be within limit bytes.
func parseIDX(r io.Reader, size int64, path string, wantDims int, limit int64) ([]int, []byte, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	r = br
	compressed := false
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, fmt.Errorf("idx %s: %w: truncated gzip header: %w", path, ErrIDX, err)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("idx %s: gzip: %w", path, err)
		}
		defer zr.Close()
		r, compressed = zr, true
	}
	fail := func(format string, args ...any) ([]int, []byte, error) {
		return nil, nil, fmt.Errorf("idx %s: %w: %s", path, ErrIDX, fmt.Sprintf(format, args...))
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return ioFail(path, "header", err)
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		return fail("bad magic number 0x%08x (want 0x%08x)", binary.BigEndian.Uint32(hdr[:]), 0x800|wantDims)
	}
	if hdr[2] != 0x08 {
		return fail("element type 0x%02x is not supported (only 0x08, unsigned byte)", hdr[2])
	}
	if int(hdr[3]) != wantDims {
		kind := map[int]string{1: "labels", 3: "images"}[wantDims]
		return fail("%d dimensions, want %d for %s (magic 0x%08x)", hdr[3], wantDims, kind, 0x800|wantDims)
	}
	dimBytes := make([]byte, 4*wantDims)
	if _, err := io.ReadFull(r, dimBytes); err != nil {
		return ioFail(path, "dimensions", err)
	}
	dims := make([]int, wantDims)
	total := uint64(1)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(dimBytes[4*i:]))
	}
	for _, d := range dims {
		total *= uint64(d) // each factor < 2^32 and total <= 2^32 so far: no overflow
		if total > maxIDXBytes {
			return fail("dimensions %v declare more than %d bytes", dims, uint64(maxIDXBytes))
		}
	}
	if total > uint64(limit) {
		return fail("dimensions %v declare %d data bytes, over the limit of %d (IDXOptions.MaxBytes)", dims, total, limit)
	}
	// Check the declared size against the file before allocating.
	if !compressed {
		if have := size - int64(4+4*wantDims); have != int64(total) {
			return fail("dimensions %v need %d data bytes but the file holds %d", dims, total, max(have, 0))
		}
	} else if most := uint64(size) * maxDeflateRatio; total > most {
		return fail("dimensions %v declare %d data bytes, more than a %d-byte gzip file can hold (deflate expands at most %d:1)",
			dims, total, size, maxDeflateRatio)
	}
	// Read no more than declared plus one byte (to detect excess data),
	// into a buffer that grows only with the data actually present.
	data := make([]byte, 0, min(total+1, 1<<26))
	lr := io.LimitReader(r, int64(total)+1)
	for {
		if len(data) == cap(data) {
			data = slices.Grow(data, min(cap(data), int(total+1)-cap(data)))
		}
		n, err := lr.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return ioFail(path, "data", err)
		}
	}
	switch {
	case uint64(len(data)) < total:
		return fail("truncated: dimensions %v need %d data bytes, found %d", dims, total, len(data))
	case uint64(len(data)) > total:
		if compressed {
			return fail("dimensions %v need %d data bytes, but the gzip stream holds more", dims, total)
		}
		return fail("dimensions %v need %d data bytes, but the file holds more", dims, total)
	}
	if compressed { // read to the end of the gzip stream: verifies its checksum
		if _, err := io.Copy(io.Discard, io.LimitReader(r, 1)); err != nil {
			return ioFail(path, "gzip trailer", err)
		}
	}
	return dims, data, nil
}

// ioFail reports a read error; an early end of data means the file is
// truncated, which is an ErrIDX.
func ioFail(path, what string, err error) ([]int, []byte, error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, nil, fmt.Errorf("idx %s: %w: truncated %s: %w", path, ErrIDX, what, err)
	}
	return nil, nil, fmt.Errorf("idx %s: reading %s: %w", path, what, err)
}

// Len returns the number of images.
func (s *IDXSource) Len() int { return s.n }

// Name returns "<image file base name>#<i>", e.g.
// "train-images-idx3-ubyte.gz#123".
func (s *IDXSource) Name(i int) string {
	s.checkIndex(i)
	return s.name + "#" + strconv.Itoa(i)
}

// Image returns image i as a new *image.Gray (0 is black, as stored). It
// never fails for a valid index.
func (s *IDXSource) Image(i int) (image.Image, error) {
	m := image.NewGray(image.Rect(0, 0, s.w, s.h))
	copy(m.Pix, s.Pixels(i))
	return m, nil
}

// Pixels returns the rows×cols bytes of image i, row by row, without
// copying. The slice aliases the source's memory and must not be modified.
func (s *IDXSource) Pixels(i int) []byte {
	s.checkIndex(i)
	size := s.h * s.w
	return s.pix[i*size : (i+1)*size : (i+1)*size]
}

// Label returns the label of image i, and false when no label file was
// given.
func (s *IDXSource) Label(i int) (int, bool) {
	s.checkIndex(i)
	if s.labels == nil {
		return 0, false
	}
	return int(s.labels[i]), true
}

// Classes returns a copy of the class names, or nil when unlabelled.
func (s *IDXSource) Classes() []string { return slices.Clone(s.classes) }

// ImageSize returns the height (rows) and width (columns) shared by all
// images.
func (s *IDXSource) ImageSize() (h, w int) { return s.h, s.w }

func (s *IDXSource) checkIndex(i int) {
	if i < 0 || i >= s.n {
		panic(fmt.Sprintf("dataset: index %d out of range [0, %d) for %s", i, s.n, s.name))
	}
}
