package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"github.com/swav-go/swav/internal/panics"
	"github.com/swav-go/swav/internal/userfile"
)

// DefaultMaxPixels is the pixel-count limit applied when Options.MaxPixels
// is zero: 64 Mi pixels (67,108,864), e.g. 8192×8192. Decoded as RGBA such an
// image needs 256 MiB.
const DefaultMaxPixels = 64 << 20

// DefaultMaxFileBytes is the file-size limit applied when
// Options.MaxFileBytes is zero: 256 MiB, several times the largest photo a
// camera writes (a 100-megapixel JPEG at top quality is about 60 MB).
const DefaultMaxFileBytes = 256 << 20

// DefaultMaxJPEGScans is the scan-count limit applied when
// Options.MaxJPEGScans is zero: 100, libjpeg's own limit on the scan
// scripts of cjpeg and jpegtran. Baseline JPEGs have 1 scan (up to 4 when
// their components are stored separately); libjpeg's default progressive
// script writes 10 scans for colour and 6 for grayscale images.
const DefaultMaxJPEGScans = 100

// DefaultMaxJPEGScanPixels is the decoding budget applied when
// Options.MaxJPEGScanPixels is zero: 2^30 scan-pixels, i.e. 16 full scans of
// the largest image DefaultMaxPixels admits, so no legitimate file comes
// near it (libjpeg's 10 scans over a 12-megapixel photo are 1.2×10^8).
// image/jpeg does work proportional to scans × pixels in a progressive JPEG
// (every scan visits every block of its components): 2 to 6 ns per
// scan-pixel measured on a shared 2-core machine, so the budget bounds the
// scan decoding of one file to a few seconds, whereas a 14 KiB progressive
// file with 100 scans over 8192×8192 pixels asks for 6.7×10^9 (43 s and
// 320 MB there). A sequential JPEG is refused when it has more scans than
// components, since no encoder writes one and image/jpeg would decode the
// whole frame again for each extra scan.
const DefaultMaxJPEGScanPixels = 1 << 30

// Sentinel errors wrapped by the decoding functions. Test for them with
// errors.Is; the returned error text also names the file and the detail.
var (
	// ErrEmpty reports a zero-byte file or stream.
	ErrEmpty = errors.New("empty file (0 bytes)")
	// ErrUnknownFormat reports data that is not in any supported format.
	ErrUnknownFormat = errors.New("unknown image format (supported: JPEG, PNG, GIF, WebP, BMP, TIFF)")
	// ErrCorrupt reports data that starts like a supported format but
	// cannot be decoded: truncated, damaged, or using an unsupported
	// variant of the format.
	ErrCorrupt = errors.New("corrupt, truncated or unsupported image data")
	// ErrTooLarge reports an image over one of the Options limits: a header
	// declaring more pixels than MaxPixels, a file larger than MaxFileBytes
	// (refused from its size, before it is read) or, together with
	// ErrTooComplex, a JPEG over the scan budget. Nothing beyond the header
	// is decoded.
	ErrTooLarge = errors.New("image too large")
	// ErrTooComplex reports a JPEG whose scans would cost more to decode
	// than Options.MaxJPEGScans or Options.MaxJPEGScanPixels allow, such
	// as a small progressive file with hundreds of scans (a "CPU bomb"). It
	// is found by reading the marker stream, before any pixel is decoded.
	// Errors wrapping it also wrap ErrTooLarge.
	ErrTooComplex = errors.New("image too costly to decode")
	// ErrNotRegular reports a path that is not a regular file: a directory,
	// named pipe (FIFO), device or socket. DecodeFile refuses it by its
	// type, without reading (so a FIFO cannot block it, nor /dev/zero fill
	// the memory).
	ErrNotRegular = errors.New("not a regular file")
)

// Options controls decoding. The zero value is ready to use.
type Options struct {
	// MaxPixels is the largest accepted width×height, checked from the
	// header before decoding. 0 means DefaultMaxPixels; a negative value
	// disables the check.
	MaxPixels int
	// Background is the colour transparent pixels are composited over.
	// nil means white (color.White); set color.Black for a black
	// background. A translucent Background is itself first composited
	// over black.
	Background color.Color
	// MaxFileBytes is the largest file DecodeFile reads, checked from the
	// file's size before reading it, and the most bytes Decode reads from
	// its reader. 0 means DefaultMaxFileBytes; a negative value disables
	// the check.
	MaxFileBytes int64
	// MaxJPEGScans is the most scans a JPEG may hold. 0 means
	// DefaultMaxJPEGScans; a negative value disables the check.
	MaxJPEGScans int
	// MaxJPEGScanPixels bounds the work of decoding a JPEG: its number of
	// scans times its width × height. 0 means DefaultMaxJPEGScanPixels; a
	// negative value disables the check.
	MaxJPEGScanPixels int64
}

// limit maps an option to its effective value: 0 is the default, a
// negative value (no limit) is -1.
func limit(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return -1
	}
	return v
}

func (o Options) maxPixels() int64 { return limit(int64(o.MaxPixels), DefaultMaxPixels) }

func (o Options) maxFileBytes() int64 { return limit(o.MaxFileBytes, DefaultMaxFileBytes) }

func (o Options) maxJPEGScans() int64 { return limit(int64(o.MaxJPEGScans), DefaultMaxJPEGScans) }

func (o Options) maxJPEGScanPixels() int64 {
	return limit(o.MaxJPEGScanPixels, DefaultMaxJPEGScanPixels)
}

func (o Options) background() color.Color {
	if o.Background == nil {
		return color.White
	}
	return o.Background
}

// Format names an encoded image format detected from its leading bytes.
type Format string

// The formats Decode understands.
const (
	FormatJPEG Format = "jpeg"
	FormatPNG  Format = "png"
	FormatGIF  Format = "gif"
	FormatWebP Format = "webp"
	FormatBMP  Format = "bmp"
	FormatTIFF Format = "tiff"
)

// codec pairs a format's header reader with its full decoder.
type codec struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

// codecFor returns the decoder pair of a format returned by Sniff. The
// decoders are called directly, so the result does not depend on which
// formats other packages registered with the image package.
func codecFor(f Format) codec {
	switch f {
	case FormatJPEG:
		return codec{jpeg.DecodeConfig, jpeg.Decode}
	case FormatPNG:
		return codec{png.DecodeConfig, png.Decode}
	case FormatGIF:
		return codec{gif.DecodeConfig, gif.Decode}
	case FormatWebP:
		return codec{webp.DecodeConfig, webp.Decode}
	case FormatBMP:
		return codec{bmp.DecodeConfig, bmp.Decode}
	case FormatTIFF:
		return codec{tiff.DecodeConfig, tiff.Decode}
	}
	panic(fmt.Sprintf("imageio: no codec for format %q", f))
}

// Sniff reports the format of encoded image data from its magic bytes, or
// "" when the data matches no supported format.
func Sniff(data []byte) Format {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		return FormatJPEG
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return FormatPNG
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return FormatGIF
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return FormatWebP
	case bytes.HasPrefix(data, []byte("BM")):
		return FormatBMP
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		return FormatTIFF
	}
	return ""
}

// sniffLen is how many leading bytes Sniff needs to tell every format.
const sniffLen = 16

// DecodeFile reads and decodes the image file at path; see [Decode]. Only
// regular files are read (after following symbolic links): a directory,
// FIFO or device is refused by its type with an error wrapping
// ErrNotRegular, and a file larger than Options.MaxFileBytes is refused from
// its size with ErrTooLarge, both before anything is read. The format is
// then sniffed from the first bytes, so a file in no supported format is
// refused before the rest of it is read.
func DecodeFile(path string, opts Options) (image.Image, error) {
	f, err := userfile.Open(path, opts.maxFileBytes())
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	var head [sniffLen]byte
	n, err := io.ReadFull(f, head[:])
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return DecodeBytes(head[:n], path, opts) // the whole file, shorter than sniffLen
	case err != nil:
		return nil, fileError(path, err)
	}
	if Sniff(head[:]) == "" {
		return nil, fmt.Errorf("image %s: %w; file starts with %q", path, ErrUnknownFormat, head[:8])
	}
	data, err := f.ReadAll(head[:])
	if err != nil {
		return nil, fileError(path, err)
	}
	return DecodeBytes(data, path, opts)
}

// fileError names path in an error from internal/userfile (whose limit
// errors already start with the path) and adds this package's sentinel.
func fileError(path string, err error) error {
	switch {
	case errors.Is(err, userfile.ErrNotRegular):
		return &taggedError{msg: "image " + err.Error(), errs: []error{err, ErrNotRegular}}
	case errors.Is(err, userfile.ErrTooLarge):
		return &taggedError{msg: "image " + err.Error() + " (Options.MaxFileBytes)", errs: []error{err, ErrTooLarge}}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		// "image P: open P: no such file" → "image P: open: no such file".
		return &taggedError{msg: fmt.Sprintf("image %s: %s: %v", path, pe.Op, pe.Err), errs: []error{err}}
	}
	return fmt.Errorf("image %s: %w", path, err)
}

// taggedError is an error with its own text that wraps several errors.
type taggedError struct {
	msg  string
	errs []error
}

func (e *taggedError) Error() string   { return e.msg }
func (e *taggedError) Unwrap() []error { return e.errs }

// Decode reads r (at most Options.MaxFileBytes of it) and decodes it as an
// image; name (usually the file path) is used in error messages only. The
// result is an *image.Gray or an opaque *image.RGBA, EXIF-oriented, with
// bounds starting at (0, 0); see the package documentation.
func Decode(r io.Reader, name string, opts Options) (image.Image, error) {
	if lim := opts.maxFileBytes(); lim >= 0 {
		r = io.LimitReader(r, lim+1)
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		if int64(len(data)) > lim {
			return nil, fmt.Errorf("image %s: %w: more than %d bytes (Options.MaxFileBytes)", name, ErrTooLarge, lim)
		}
		return DecodeBytes(data, name, opts)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	return DecodeBytes(data, name, opts)
}

// DecodeBytes decodes an encoded image held in memory; see [Decode].
func DecodeBytes(data []byte, name string, opts Options) (image.Image, error) {
	cfg, format, err := DecodeConfig(data, name, opts)
	if err != nil {
		return nil, err
	}
	img, err := guard(func() (image.Image, error) {
		return codecFor(format).decode(bytes.NewReader(data))
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: %s: %w: %w", name, format, ErrCorrupt, err)
	}
	if screen := image.Rect(0, 0, cfg.Width, cfg.Height); img.Bounds() != screen {
		// A GIF's first frame may cover only part of the logical screen;
		// the rest is transparent. No other decoder does this.
		b := img.Bounds()
		if format != FormatGIF || !b.In(screen) {
			return nil, fmt.Errorf("image %s: %s: %w: header says %dx%d but decoded bounds are %v",
				name, format, ErrCorrupt, cfg.Width, cfg.Height, b)
		}
		canvas := image.NewNRGBA(screen)
		draw.Draw(canvas, b, img, b.Min, draw.Src)
		img = canvas
	}
	out := Canonical(img, opts.background())
	if o := Orientation(data); o != 1 {
		out = ApplyOrientation(out, o)
	}
	return out, nil
}

// DecodeConfig reads only the header of encoded image data and returns its
// dimensions and format. It applies the same checks as Decode short of
// decoding pixels: empty data, unknown format, unreadable header, the
// Options.MaxPixels limit and, for JPEG, the scan budget
// (Options.MaxJPEGScans and MaxJPEGScanPixels, read from the marker stream
// in time linear in its length). The dimensions are as stored, before any
// EXIF rotation.
func DecodeConfig(data []byte, name string, opts Options) (image.Config, Format, error) {
	if len(data) == 0 {
		return image.Config{}, "", fmt.Errorf("image %s: %w", name, ErrEmpty)
	}
	format := Sniff(data)
	if format == "" {
		head := data[:min(len(data), 8)]
		return image.Config{}, "", fmt.Errorf("image %s: %w; file starts with %q", name, ErrUnknownFormat, head)
	}
	cfg, err := guard(func() (image.Config, error) {
		return codecFor(format).config(bytes.NewReader(data))
	})
	if err != nil {
		return image.Config{}, format, fmt.Errorf("image %s: %s header: %w: %w", name, format, ErrCorrupt, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return image.Config{}, format, fmt.Errorf("image %s: %s header: %w: invalid dimensions %dx%d",
			name, format, ErrCorrupt, cfg.Width, cfg.Height)
	}
	if limit := opts.maxPixels(); limit >= 0 {
		if n := int64(cfg.Width) * int64(cfg.Height); n > limit {
			return image.Config{}, format, fmt.Errorf("image %s: %w: %s is %dx%d = %d pixels, over the limit of %d (Options.MaxPixels)",
				name, ErrTooLarge, format, cfg.Width, cfg.Height, n, limit)
		}
	}
	if format == FormatJPEG {
		if err := checkJPEGBudget(data, name, opts); err != nil {
			return image.Config{}, format, err
		}
	}
	return cfg, format, nil
}

// checkJPEGBudget refuses a JPEG whose scans exceed the Options budget.
func checkJPEGBudget(data []byte, name string, opts Options) error {
	s := scanJPEG(data)
	kind := "sequential JPEG"
	if s.progressive {
		kind = "progressive JPEG"
	}
	if !s.progressive && s.scans > s.components {
		return alsoTooLarge(fmt.Errorf("image %s: %w: %s with %d scans for %d components (a sequential JPEG codes each component in one scan; image/jpeg would decode the frame %d times)",
			name, ErrTooComplex, kind, s.scans, s.components, s.scans))
	}
	if lim := opts.maxJPEGScans(); lim >= 0 && int64(s.scans) > lim {
		return alsoTooLarge(fmt.Errorf("image %s: %w: %s with %d scans, over the limit of %d (Options.MaxJPEGScans)",
			name, ErrTooComplex, kind, s.scans, lim))
	}
	work := int64(math.MaxInt64) // saturates: the product of the three may overflow
	if pixels := int64(s.width) * int64(s.height); pixels == 0 || int64(s.scans) <= math.MaxInt64/pixels {
		work = int64(s.scans) * pixels
	}
	if lim := opts.maxJPEGScanPixels(); lim >= 0 && work > lim {
		return alsoTooLarge(fmt.Errorf("image %s: %w: %s with %d scans over %dx%d pixels = %d scan-pixels, over the budget of %d (Options.MaxJPEGScanPixels)",
			name, ErrTooComplex, kind, s.scans, s.width, s.height, work, lim))
	}
	return nil
}

// alsoTooLarge makes err wrap ErrTooLarge too, without changing its text.
func alsoTooLarge(err error) error {
	return &taggedError{msg: err.Error(), errs: []error{err, ErrTooLarge}}
}

// jpegScans is what scanJPEG learns from a JPEG's marker stream.
type jpegScans struct {
	width, height int  // the frame's dimensions (0 before a frame header)
	components    int  // the frame's number of components
	progressive   bool // a progressive frame (SOF2)
	scans         int  // the number of scans (SOS segments) image/jpeg would decode
}

// JPEG marker codes (ITU T.81 table B.1) that image/jpeg handles.
const (
	jpegSOF0 = 0xc0 // baseline
	jpegSOF1 = 0xc1 // extended sequential
	jpegSOF2 = 0xc2 // progressive
	jpegDHT  = 0xc4
	jpegRST0 = 0xd0
	jpegRST7 = 0xd7
	jpegEOI  = 0xd9
	jpegSOS  = 0xda
	jpegDQT  = 0xdb
	jpegDRI  = 0xdd
	jpegAPP0 = 0xe0
	jpegAPPF = 0xef
	jpegCOM  = 0xfe
)

// scanJPEG walks the marker stream of JPEG data without decoding it and
// reports the frame's size and how many scans it holds, in time linear in
// len(data) and without allocating. It follows image/jpeg's own parsing
// step by step (the same tolerance of stray bytes between segments, fill
// bytes, "\xff\x00" stuffing and RSTn restart markers inside entropy-coded
// data, the same segments understood), so it never counts fewer scans than
// image/jpeg would decode: it stops where image/jpeg stops, at EOI, at the
// end of data or at the first segment image/jpeg rejects (a second frame
// header, a scan before the frame header, a marker it does not support).
// Data that does not start with the SOI marker yields the zero jpegScans.
func scanJPEG(data []byte) jpegScans {
	var s jpegScans
	if len(data) < 2 || data[0] != 0xff || data[1] != 0xd8 {
		return s
	}
	sof := false
	i := 2
	for {
		// image/jpeg reads two bytes and, while the first is not 0xff,
		// shifts by one: stray bytes (and entropy-coded data, which holds
		// no 0xff except as "\xff\x00" or RSTn) are skipped.
		p := bytes.IndexByte(data[i:], 0xff)
		if p < 0 || i+p+1 >= len(data) {
			return s
		}
		i += p + 2
		marker := data[i-1]
		if marker == 0 { // "\xff\x00": stray data
			continue
		}
		for marker == 0xff { // fill bytes
			if i >= len(data) {
				return s
			}
			marker = data[i]
			i++
		}
		if marker == jpegEOI {
			return s
		}
		if jpegRST0 <= marker && marker <= jpegRST7 {
			continue
		}
		if i+2 > len(data) {
			return s
		}
		n := int(data[i])<<8 | int(data[i+1]) - 2
		i += 2
		if n < 0 || i+n > len(data) {
			return s // image/jpeg fails: short segment length, or EOF
		}
		switch {
		case marker == jpegSOF0 || marker == jpegSOF1 || marker == jpegSOF2:
			if sof || (n != 6+3*1 && n != 6+3*3 && n != 6+3*4) {
				return s // multiple SOF markers, or an unsupported component count
			}
			sof = true
			s.progressive = marker == jpegSOF2
			s.components = (n - 6) / 3
			s.height = int(data[i+1])<<8 | int(data[i+2])
			s.width = int(data[i+3])<<8 | int(data[i+4])
		case marker == jpegSOS:
			if !sof {
				return s // missing SOF marker
			}
			s.scans++
		case marker == jpegDHT, marker == jpegDQT, marker == jpegDRI,
			jpegAPP0 <= marker && marker <= jpegAPPF, marker == jpegCOM:
		default:
			return s // unknown or unsupported marker
		}
		i += n
	}
}

// guard runs a decoder and turns a panic into an error: the standard and
// x/image decoders are not all hardened against hostile input.
func guard[T any](f func() (T, error)) (T, error) {
	v, err := panics.Call(f)
	var p *panics.Error
	if errors.As(err, &p) {
		return v, fmt.Errorf("decoder %w", err)
	}
	return v, err
}
