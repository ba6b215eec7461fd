package imageio

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// Tensor is a float32 image in HWC layout: the value of channel c of the
// pixel at row y, column x is Pix[(y*W+x)*C+c]. ToTensor produces values in
// [0, 1]; Normalize shifts and scales them in place.
type Tensor struct {
	H, W, C int
	Pix     []float32
}

// NewTensor returns a zero-filled h×w×c tensor. It panics if a dimension is
// negative.
func NewTensor(h, w, c int) Tensor {
	if h < 0 || w < 0 || c < 0 {
		panic(fmt.Sprintf("imageio: NewTensor(%d, %d, %d): negative dimension", h, w, c))
	}
	return Tensor{H: h, W: w, C: c, Pix: make([]float32, h*w*c)}
}

// At returns the value of channel c of the pixel at row y, column x.
func (t Tensor) At(y, x, c int) float32 { return t.Pix[(y*t.W+x)*t.C+c] }

// Set sets the value of channel c of the pixel at row y, column x.
func (t Tensor) Set(y, x, c int, v float32) { t.Pix[(y*t.W+x)*t.C+c] = v }

// Clone returns a deep copy of t.
func (t Tensor) Clone() Tensor {
	t.Pix = append([]float32(nil), t.Pix...)
	return t
}

// CHW returns the values of t in channel-major (C×H×W) order, the layout
// PyTorch models take, in a new slice.
func (t Tensor) CHW() []float32 {
	out := make([]float32, len(t.Pix))
	plane := t.H * t.W
	for i := 0; i < plane; i++ {
		for c := 0; c < t.C; c++ {
			out[c*plane+i] = t.Pix[i*t.C+c]
		}
	}
	return out
}

// Normalize replaces every value v of channel c by (v − mean[c]) / std[c],
// in place, as torchvision's Normalize does. It panics unless mean and std
// both have t.C elements. A zero std yields ±Inf or NaN, as in torchvision.
func (t Tensor) Normalize(mean, std []float32) {
	if len(mean) != t.C || len(std) != t.C {
		panic(fmt.Sprintf("imageio: Normalize: %d channels but %d means and %d stds", t.C, len(mean), len(std)))
	}
	for i := 0; i < len(t.Pix); i += t.C {
		for c := 0; c < t.C; c++ {
			t.Pix[i+c] = (t.Pix[i+c] - mean[c]) / std[c]
		}
	}
}

// ToTensor converts img into a Tensor with values in [0, 1] (8-bit value
// v becomes v/255), like torchvision's ToTensor but in HWC layout.
//
// channels must be 3 (RGB; a grayscale image is replicated into all three)
// or 1 (luma). Luma follows PIL's convert("L") exactly, ITU-R 601-2 weights
// with PIL's integer rounding: L = (19595·R + 38470·G + 7471·B + 32768) >> 16
// on 8-bit values, so ToTensor(img, 1) equals ToTensor of PIL's "L" image.
// Images with more than 8 bits per channel keep their precision in RGB.
//
// Translucent pixels are composited over white, matching Decode's default;
// images from Decode are already opaque. Use Flatten first for another
// background. ToTensor panics if channels is neither 1 nor 3.
func ToTensor(img image.Image, channels int) Tensor {
	if channels != 1 && channels != 3 {
		panic(fmt.Sprintf("imageio: ToTensor: channels must be 1 or 3, got %d", channels))
	}
	b := img.Bounds()
	t := NewTensor(b.Dy(), b.Dx(), channels)
	const inv255 = 1.0 / 255
	put8 := func(i int, r, g, bl uint8) {
		if channels == 1 {
			t.Pix[i] = float32(luma8(r, g, bl)) * inv255
			return
		}
		t.Pix[3*i] = float32(r) * inv255
		t.Pix[3*i+1] = float32(g) * inv255
		t.Pix[3*i+2] = float32(bl) * inv255
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < t.H; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < t.W; x++ {
				v := row[x]
				put8(y*t.W+x, v, v, v)
			}
		}
	case *image.RGBA:
		for y := 0; y < t.H; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < t.W; x++ {
				p := row[4*x : 4*x+4]
				k := 255 - int(p[3]) // premultiplied: add the white behind
				put8(y*t.W+x, sat8(int(p[0])+k), sat8(int(p[1])+k), sat8(int(p[2])+k))
			}
		}
	case *image.NRGBA:
		for y := 0; y < t.H; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < t.W; x++ {
				p := row[4*x : 4*x+4]
				put8(y*t.W+x, overWhite8(p[0], p[3]), overWhite8(p[1], p[3]), overWhite8(p[2], p[3]))
			}
		}
	case *image.YCbCr:
		for y := 0; y < t.H; y++ {
			for x := 0; x < t.W; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				put8(y*t.W+x, r, g, bl)
			}
		}
	default:
		const inv65535 = 1.0 / 65535
		for y := 0; y < t.H; y++ {
			for x := 0; x < t.W; x++ {
				r, g, bl, a := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				k := 0xffff - min(a, 0xffff)
				r, g, bl = min(r+k, 0xffff), min(g+k, 0xffff), min(bl+k, 0xffff)
				i := y*t.W + x
				if channels == 1 {
					t.Pix[i] = float32((19595*r+38470*g+7471*bl+1<<15)>>16) * inv65535
					continue
				}
				t.Pix[3*i] = float32(r) * inv65535
				t.Pix[3*i+1] = float32(g) * inv65535
				t.Pix[3*i+2] = float32(bl) * inv65535
			}
		}
	}
	return t
}

// luma8 is PIL's "L" conversion of an 8-bit RGB pixel.
func luma8(r, g, b uint8) uint8 {
	return uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}

// sat8 clamps v to [0, 255]; it only matters for invalid premultiplied
// pixels whose colour exceeds their alpha.
func sat8(v int) uint8 { return uint8(min(max(v, 0), 255)) }

// overWhite8 composites a non-premultiplied 8-bit channel value c with
// alpha a over white, rounding to nearest.
func overWhite8(c, a uint8) uint8 {
	return uint8((uint32(c)*uint32(a) + 255*(255-uint32(a)) + 127) / 255)
}

// Crop returns the h×w region of t whose top-left corner is at row top,
// column left. The region may extend beyond t (negative top or left
// included); those pixels are 0, as with torchvision's F.crop. It panics if
// h or w is negative.
func Crop(t Tensor, top, left, h, w int) Tensor {
	out := NewTensor(h, w, t.C)
	// Intersect the rows and columns of the region with those of t.
	y0, y1 := max(top, 0), min(top+h, t.H)
	x0, x1 := max(left, 0), min(left+w, t.W)
	if y0 >= y1 || x0 >= x1 {
		return out
	}
	n := (x1 - x0) * t.C
	for y := y0; y < y1; y++ {
		src := t.Pix[(y*t.W+x0)*t.C:]
		dst := out.Pix[((y-top)*w+(x0-left))*t.C:]
		copy(dst[:n], src[:n])
	}
	return out
}

// CenterCrop returns the central h×w region of t with torchvision's
// CenterCrop semantics: when the crop is larger than t along an axis, t is
// first padded with zeros on that axis, (crop−size)/2 before and the rest
// after (integer division); then the top-left corner is at
// round((size−crop)/2), rounding halves to even as Python's round does.
func CenterCrop(t Tensor, h, w int) Tensor {
	if h < 0 || w < 0 {
		panic(fmt.Sprintf("imageio: CenterCrop(%d, %d): negative size", h, w))
	}
	// Padding shifts the image; fold it into the crop origin.
	padTop, padLeft := 0, 0
	height, width := t.H, t.W
	if h > t.H {
		padTop = (h - t.H) / 2
		height = h
	}
	if w > t.W {
		padLeft = (w - t.W) / 2
		width = w
	}
	top := int(math.RoundToEven(float64(height-h) / 2))
	left := int(math.RoundToEven(float64(width-w) / 2))
	return Crop(t, top-padTop, left-padLeft, h, w)
}

// ResizeShorter resizes t so that its shorter side becomes size, keeping
// the aspect ratio, like torchvision's Resize(size) with an int: the longer
// side becomes int(size·long/short) (truncated). A square image becomes
// size×size. It panics if size is not positive.
func ResizeShorter(t Tensor, size int) Tensor {
	if size <= 0 {
		panic(fmt.Sprintf("imageio: ResizeShorter(%d): size must be positive", size))
	}
	if t.H == 0 || t.W == 0 {
		panic("imageio: ResizeShorter: empty tensor")
	}
	short, long := t.H, t.W
	if t.W <= t.H {
		short, long = t.W, t.H
	}
	newLong := int(float64(size*long) / float64(short))
	if t.W <= t.H {
		return Resize(t, newLong, size)
	}
	return Resize(t, size, newLong)
}

// Resize returns t resampled to outH×outW with antialiased bilinear
// interpolation, matching PIL's Image.resize(..., BILINEAR) and torchvision's
// resize(..., antialias=True): a triangle filter whose support is stretched
// by the scale factor when downscaling (so every input pixel contributes),
// pixel centres at (i+0.5)·in/out (align_corners=False), weights normalised
// to sum to 1 at the borders. Upscaling reduces to ordinary bilinear
// interpolation with edge clamping. The width is resampled first, then the
// height, like PIL. It panics if outH or outW is not positive or t is empty.
func Resize(t Tensor, outH, outW int) Tensor {
	if outH <= 0 || outW <= 0 {
		panic(fmt.Sprintf("imageio: Resize to %dx%d: sizes must be positive", outH, outW))
	}
	if t.H == 0 || t.W == 0 || t.C == 0 {
		panic(fmt.Sprintf("imageio: Resize of empty %dx%dx%d tensor", t.H, t.W, t.C))
	}
	out := t
	if outW != t.W {
		out = resizeAxis(out, outW, false)
	}
	if outH != t.H {
		out = resizeAxis(out, outH, true)
	}
	if outW == t.W && outH == t.H {
		out = t.Clone()
	}
	return out
}

// kernel holds the resampling weights for one axis: output index i takes
// input indices start[i] .. start[i]+len(weights[i])-1.
type kernel struct {
	start   []int
	weights [][]float64
}

// bilinearKernel computes PIL's precompute_coeffs for the bilinear
// (triangle) filter, mapping in samples to out samples.
func bilinearKernel(in, out int) kernel {
	scale := float64(in) / float64(out)
	filterScale := max(scale, 1)
	support := 1.0 * filterScale // the triangle filter has support 1
	ss := 1 / filterScale
	k := kernel{start: make([]int, out), weights: make([][]float64, out)}
	for i := 0; i < out; i++ {
		center := (float64(i) + 0.5) * scale
		lo := max(int(center-support+0.5), 0) // int() truncates toward 0, as C does
		hi := min(int(center+support+0.5), in)
		w := make([]float64, max(hi-lo, 0))
		sum := 0.0
		for j := range w {
			d := math.Abs((float64(j+lo) - center + 0.5) * ss)
			if d < 1 {
				w[j] = 1 - d
			}
			sum += w[j]
		}
		if sum != 0 {
			for j := range w {
				w[j] /= sum
			}
		}
		k.start[i], k.weights[i] = lo, w
	}
	return k
}

// resizeAxis resamples t along one axis (rows when vertical, else columns)
// to n samples, accumulating in float64.
func resizeAxis(t Tensor, n int, vertical bool) Tensor {
	if vertical {
		k := bilinearKernel(t.H, n)
		out := NewTensor(n, t.W, t.C)
		rowLen := t.W * t.C
		acc := make([]float64, rowLen)
		for y := 0; y < n; y++ {
			clear(acc)
			for j, w := range k.weights[y] {
				src := t.Pix[(k.start[y]+j)*rowLen : (k.start[y]+j+1)*rowLen]
				for i, v := range src {
					acc[i] += float64(v) * w
				}
			}
			dst := out.Pix[y*rowLen : (y+1)*rowLen]
			for i, v := range acc {
				dst[i] = float32(v)
			}
		}
		return out
	}
	k := bilinearKernel(t.W, n)
	out := NewTensor(t.H, n, t.C)
	acc := make([]float64, t.C)
	for y := 0; y < t.H; y++ {
		row := t.Pix[y*t.W*t.C : (y+1)*t.W*t.C]
		dst := out.Pix[y*n*t.C : (y+1)*n*t.C]
		for x := 0; x < n; x++ {
			clear(acc)
			for j, w := range k.weights[x] {
				p := row[(k.start[x]+j)*t.C:]
				for c := range acc {
					acc[c] += float64(p[c]) * w
				}
			}
			for c, v := range acc {
				dst[x*t.C+c] = float32(v)
			}
		}
	}
	return out
}
