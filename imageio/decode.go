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
	"os"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// DefaultMaxPixels is the pixel-count limit applied when Options.MaxPixels
// is zero: 64 Mi pixels (67,108,864), e.g. 8192×8192. Decoded as RGBA such an
// image needs 256 MiB.
const DefaultMaxPixels = 64 << 20

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
	// ErrTooLarge reports an image whose header declares more pixels than
	// Options.MaxPixels allows; nothing beyond the header is decoded.
	ErrTooLarge = errors.New("image too large")
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
}

func (o Options) maxPixels() int64 {
	switch {
	case o.MaxPixels == 0:
		return DefaultMaxPixels
	case o.MaxPixels < 0:
		return -1
	}
	return int64(o.MaxPixels)
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

// DecodeFile reads and decodes the image file at path; see [Decode].
func DecodeFile(path string, opts Options) (image.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	return DecodeBytes(data, path, opts)
}

// Decode reads all of r and decodes it as an image; name (usually the file
// path) is used in error messages only. The result is an *image.Gray or an
// opaque *image.RGBA, EXIF-oriented, with bounds starting at (0, 0); see the
// package documentation.
func Decode(r io.Reader, name string, opts Options) (image.Image, error) {
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
// decoding pixels: empty data, unknown format, unreadable header and the
// Options.MaxPixels limit. The dimensions are as stored, before any EXIF
// rotation.
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
	return cfg, format, nil
}

// guard runs a decoder and turns a panic into an error: the standard and
// x/image decoders are not all hardened against hostile input.
func guard[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			v, err = zero, fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return f()
}
