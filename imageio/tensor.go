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
// negative or h·w·c overflows int.
func NewTensor(h, w, c int) Tensor {
	if h < 0 || w < 0 || c < 0 {
		panic(fmt.Sprintf("imageio: NewTensor(%d, %d, %d): negative dimension", h, w, c))
	}
	n, ok := mulInt(h, w, c)
	if !ok {
		panic(fmt.Sprintf("imageio: NewTensor(%d, %d, %d): size overflows int", h, w, c))
	}
	return Tensor{H: h, W: w, C: c, Pix: make([]float32, n)}
}

// mulInt returns the product of non-negative xs and whether it fits in an int.
func mulInt(xs ...int) (int, bool) {
	p := 1
	for _, x := range xs {
		if x != 0 && p > math.MaxInt/x {
			return 0, false
		}
		p *= x
	}
	return p, true
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
// size×size. It panics if size is not positive, t is empty or the longer side
// overflows int (see ResizeShorterSize); for sizes or images from untrusted
// input use ResizeShorterCrop, which returns those as errors and whose memory
// is bounded by the crop.
func ResizeShorter(t Tensor, size int) Tensor {
	outH, outW, err := ResizeShorterSize(t.H, t.W, size)
	if err != nil {
		panic("imageio: ResizeShorter: " + err.Error())
	}
	return Resize(t, outH, outW)
}

// ResizeShorterSize returns the size ResizeShorter(t, size) has for a t of
// h×w: the shorter side becomes size and the longer int(size·long/short). It
// returns an error if size, h or w is not positive or size·long overflows
// int64.
func ResizeShorterSize(h, w, size int) (outH, outW int, err error) {
	if size <= 0 {
		return 0, 0, fmt.Errorf("resize to shorter side %d: the size must be positive", size)
	}
	if h <= 0 || w <= 0 {
		return 0, 0, fmt.Errorf("resize of an empty %dx%d image", h, w)
	}
	short, long := h, w
	if w <= h {
		short, long = w, h
	}
	prod, ok := mulInt(size, long)
	if !ok {
		return 0, 0, fmt.Errorf("resizing %dx%d to shorter side %d overflows", w, h, size)
	}
	newLong := int(float64(prod) / float64(short))
	if w <= h {
		return newLong, size, nil
	}
	return size, newLong, nil
}

// ResizeShorterCrop returns CenterCrop(ResizeShorter(t, size), cropH, cropW),
// the evaluation transform (torchvision's Resize(size) then CenterCrop), with
// the same values, but computes only the resized pixels the crop keeps: its
// memory and time are bounded by the crop and by the input, never by the
// resized image, however elongated t is or however large size is. Invalid
// arguments (size, cropH or cropW not positive, t empty, a resized side that
// overflows) are errors, not panics.
func ResizeShorterCrop(t Tensor, size, cropH, cropW int) (Tensor, error) {
	if cropH <= 0 || cropW <= 0 {
		return Tensor{}, fmt.Errorf("crop to %dx%d: sizes must be positive", cropW, cropH)
	}
	if t.C <= 0 {
		return Tensor{}, fmt.Errorf("resize of a tensor with %d channels", t.C)
	}
	outH, outW, err := ResizeShorterSize(t.H, t.W, size)
	if err != nil {
		return Tensor{}, err
	}
	if _, ok := mulInt(cropH, cropW, t.C); !ok {
		return Tensor{}, fmt.Errorf("crop to %dx%dx%d overflows", cropW, cropH, t.C)
	}
	out := NewTensor(cropH, cropW, t.C)
	// The rows [y0, y1) and columns [x0, x1) of the resized image the crop
	// keeps; resized pixel (y, x) lands at (y−oy, x−ox) of the crop.
	oy, y0, y1 := centerWindow(outH, cropH)
	ox, x0, x1 := centerWindow(outW, cropW)
	if y0 >= y1 || x0 >= x1 {
		return out, nil
	}
	// As Resize: the width first, then the height; only the input rows the
	// height pass reads go through the width pass.
	r0, r1 := y0, y1
	var kh kernel
	if outH != t.H {
		kh = bilinearKernelRange(t.H, outH, y0, y1)
		r0, r1 = t.H, 0
		for i, st := range kh.start {
			if len(kh.weights[i]) > 0 {
				r0, r1 = min(r0, st), max(r1, st+len(kh.weights[i]))
			}
		}
		if r0 >= r1 { // no input row has weight (cannot happen for valid sizes)
			r0, r1 = 0, 0
		}
		for i := range kh.start {
			kh.start[i] -= r0
		}
	}
	rows := Tensor{H: r1 - r0, W: t.W, C: t.C, Pix: t.Pix[r0*t.W*t.C : r1*t.W*t.C]}
	var mid Tensor
	if outW != t.W {
		mid = resample(rows, bilinearKernelRange(t.W, outW, x0, x1), false)
	} else {
		mid = Crop(rows, 0, x0, rows.H, x1-x0)
	}
	var block Tensor
	if outH != t.H {
		block = resample(mid, kh, true)
	} else {
		block = mid // rows are already y0..y1
	}
	n := (x1 - x0) * t.C
	for y := y0; y < y1; y++ {
		src := block.Pix[(y-y0)*n : (y-y0+1)*n]
		copy(out.Pix[((y-oy)*cropW+(x0-ox))*t.C:], src)
	}
	return out, nil
}

// centerWindow is CenterCrop along one axis of length size cropped to crop:
// it returns the crop's origin in the axis's coordinates (negative when the
// crop pads) and the range [lo, hi) of axis indices the crop keeps.
func centerWindow(size, crop int) (origin, lo, hi int) {
	pad, full := 0, size
	if crop > size {
		pad, full = (crop-size)/2, crop
	}
	origin = int(math.RoundToEven(float64(full-crop)/2)) - pad
	return origin, max(origin, 0), min(origin+crop, size)
}

// Resize returns t resampled to outH×outW with antialiased bilinear
// interpolation, matching PIL's Image.resize(..., BILINEAR) and torchvision's
// resize(..., antialias=True): a triangle filter whose support is stretched
// by the scale factor when downscaling (so every input pixel contributes),
// pixel centres at (i+0.5)·in/out (align_corners=False), weights normalised
// to sum to 1 at the borders. Upscaling reduces to ordinary bilinear
// interpolation with edge clamping. The width is resampled first, then the
// height, like PIL. It panics if outH or outW is not positive or t is empty.
// It allocates outH×outW×C values (and t.H×outW×C in between): for sizes from
// untrusted input use ResizeShorterCrop.
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
func bilinearKernel(in, out int) kernel { return bilinearKernelRange(in, out, 0, out) }

// bilinearKernelRange is bilinearKernel for the output indices [lo, hi) only,
// stored from index 0: the same weights, computed the same way.
func bilinearKernelRange(in, out, lo, hi int) kernel {
	scale := float64(in) / float64(out)
	filterScale := max(scale, 1)
	support := 1.0 * filterScale // the triangle filter has support 1
	ss := 1 / filterScale
	k := kernel{start: make([]int, hi-lo), weights: make([][]float64, hi-lo)}
	for i := lo; i < hi; i++ {
		center := (float64(i) + 0.5) * scale
		first := max(int(center-support+0.5), 0) // int() truncates toward 0, as C does
		last := min(int(center+support+0.5), in)
		w := make([]float64, max(last-first, 0))
		sum := 0.0
		for j := range w {
			d := math.Abs((float64(j+first) - center + 0.5) * ss)
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
		k.start[i-lo], k.weights[i-lo] = first, w
	}
	return k
}

// resizeAxis resamples t along one axis (rows when vertical, else columns)
// to n samples, accumulating in float64.
func resizeAxis(t Tensor, n int, vertical bool) Tensor {
	if vertical {
		return resample(t, bilinearKernel(t.H, n), true)
	}
	return resample(t, bilinearKernel(t.W, n), false)
}

// resample applies kernel k along one axis of t (rows when vertical, else
// columns): the output has len(k.start) samples on that axis.
func resample(t Tensor, k kernel, vertical bool) Tensor {
	n := len(k.start)
	if vertical {
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
