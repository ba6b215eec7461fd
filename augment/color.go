package augment

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Luma weights of ITU-R 601-2 (PIL's convert("L"), used by the reference
// which runs on PIL images).
const (
	lumaR = 0.299
	lumaG = 0.587
	lumaB = 0.114
)

// ColorJitter mirrors torchvision.transforms.ColorJitter with scalar
// arguments. Each call applies the four adjustments in a uniformly random
// order (a random permutation, drawn first), with factors drawn in the
// order brightness, contrast, saturation, hue:
//
//   - brightness factor b ~ U(max(0, 1-Brightness), 1+Brightness):
//     x ← clamp(b·x);
//   - contrast factor f ~ U(max(0, 1-Contrast), 1+Contrast):
//     x ← clamp(f·x + (1-f)·m), m the mean of the grayscale image;
//   - saturation factor f ~ U(max(0, 1-Saturation), 1+Saturation):
//     x ← clamp(f·x + (1-f)·gray(x)) per pixel;
//   - hue shift d ~ U(-Hue, Hue): the hue in HSV space moves by d (mod 1).
//
// clamp limits to [0, 1]. A zero field disables that adjustment and draws
// no factor, as in torchvision. On 1-channel images brightness and contrast
// apply while saturation and hue are no-ops (their factors are still drawn),
// matching torchvision/PIL on single-channel images.
type ColorJitter struct {
	Brightness, Contrast, Saturation, Hue float64
}

// Validate reports whether the jitter strengths are usable: Brightness,
// Contrast and Saturation must be finite and non-negative, Hue in [0, 0.5].
func (j ColorJitter) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"Brightness", j.Brightness}, {"Contrast", j.Contrast}, {"Saturation", j.Saturation}} {
		if !(f.v >= 0) || math.IsInf(f.v, 1) {
			return fmt.Errorf("Jitter.%s = %v, want finite and >= 0", f.name, f.v)
		}
	}
	if !(j.Hue >= 0 && j.Hue <= 0.5) {
		return fmt.Errorf("Jitter.Hue = %v, want in [0, 0.5]", j.Hue)
	}
	return nil
}

// apply draws the jitter parameters from rng and applies them in place to
// pix, an image with c (1 or 3) channels.
func (j ColorJitter) apply(rng *rand.Rand, pix []float32, c int) {
	order := [4]int{0, 1, 2, 3}
	for i := 3; i > 0; i-- {
		k := rng.IntN(i + 1)
		order[i], order[k] = order[k], order[i]
	}
	var factor [4]float64
	var on [4]bool
	for i, s := range [3]float64{j.Brightness, j.Contrast, j.Saturation} {
		if s > 0 {
			lo := max(0, 1-s)
			factor[i] = lo + (1+s-lo)*rng.Float64()
			on[i] = true
		}
	}
	if j.Hue > 0 {
		factor[3] = -j.Hue + 2*j.Hue*rng.Float64()
		on[3] = true
	}
	for _, op := range order {
		if !on[op] {
			continue
		}
		f := float32(factor[op])
		switch op {
		case 0:
			adjustBrightness(pix, f)
		case 1:
			adjustContrast(pix, c, f)
		case 2:
			adjustSaturation(pix, c, f)
		case 3:
			adjustHue(pix, c, f)
		}
	}
}

func clamp01(v float32) float32 {
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

func luma(r, g, b float32) float32 {
	return lumaR*r + lumaG*g + lumaB*b
}

// adjustBrightness blends with black: x ← clamp(f·x).
func adjustBrightness(pix []float32, f float32) {
	for i, v := range pix {
		pix[i] = clamp01(f * v)
	}
}

// adjustContrast blends with the mean m of the grayscale image:
// x ← clamp(f·x + (1-f)·m).
func adjustContrast(pix []float32, c int, f float32) {
	if len(pix) == 0 {
		return
	}
	var sum float64
	if c == 3 {
		for i := 0; i < len(pix); i += 3 {
			sum += float64(luma(pix[i], pix[i+1], pix[i+2]))
		}
	} else {
		for _, v := range pix {
			sum += float64(v)
		}
	}
	mean := float32(sum / float64(len(pix)/c))
	off := (1 - f) * mean
	for i, v := range pix {
		pix[i] = clamp01(f*v + off)
	}
}

// adjustSaturation blends every pixel with its own gray value:
// x ← clamp(f·x + (1-f)·gray). A no-op unless c == 3.
func adjustSaturation(pix []float32, c int, f float32) {
	if c != 3 {
		return
	}
	g := 1 - f
	for i := 0; i < len(pix); i += 3 {
		p := pix[i : i+3]
		off := g * luma(p[0], p[1], p[2])
		p[0] = clamp01(f*p[0] + off)
		p[1] = clamp01(f*p[1] + off)
		p[2] = clamp01(f*p[2] + off)
	}
}

// grayscale replaces each RGB pixel by its luma in all three channels. A
// no-op unless c == 3 (a 1-channel image already is grayscale).
func grayscale(pix []float32, c int) {
	if c != 3 {
		return
	}
	for i := 0; i < len(pix); i += 3 {
		p := pix[i : i+3]
		l := luma(p[0], p[1], p[2])
		p[0], p[1], p[2] = l, l, l
	}
}

// adjustHue rotates the hue of every RGB pixel by d (a fraction of the
// colour circle, |d| <= 0.5), following torchvision's _rgb2hsv / _hsv2rgb
// in float32. A no-op unless c == 3.
func adjustHue(pix []float32, c int, d float32) {
	if c != 3 {
		return
	}
	for i := 0; i < len(pix); i += 3 {
		p := pix[i : i+3 : i+3]
		h, s, v := rgbToHSV(p[0], p[1], p[2])
		// h+d lies in [-0.5, 1.5); wrap to [0, 1) (Python-style mod 1).
		h += d
		if h < 0 {
			h++
		} else if h >= 1 {
			h--
		}
		p[0], p[1], p[2] = hsvToRGB(h, s, v)
	}
}

// rgbToHSV converts one pixel to hue in [0, 1), saturation and value.
func rgbToHSV(r, g, b float32) (h, s, v float32) {
	maxc := max(r, g, b)
	minc := min(r, g, b)
	if maxc == minc {
		return 0, 0, maxc
	}
	cr := maxc - minc
	s = cr / maxc
	// Hue sextant as in torchvision: red wins ties with green and blue,
	// green wins ties with blue. (maxc-b)/cr - (maxc-g)/cr etc. are
	// written as single differences.
	switch {
	case maxc == r:
		h = (g - b) / cr
	case maxc == g:
		h = 2 + (b-r)/cr
	default:
		h = 4 + (r-g)/cr
	}
	// h/6 lies in [-1/6, 5/6]; shift into [0, 1).
	h = h/6 + 1
	if h >= 1 {
		h--
	}
	return h, s, maxc
}

// hsvToRGB is the inverse of rgbToHSV for h in [0, 1).
func hsvToRGB(h, s, v float32) (r, g, b float32) {
	h6 := h * 6
	i := int(h6) // h6 >= 0, so truncation is floor
	f := h6 - float32(i)
	p := clamp01(v * (1 - s))
	q := clamp01(v * (1 - s*f))
	t := clamp01(v * (1 - s*(1-f)))
	switch i {
	case 0, 6: // 6 only if h rounds up to 1, which is hue 0
		return v, t, p
	case 1:
		return q, v, p
	case 2:
		return p, v, t
	case 3:
		return p, q, v
	case 4:
		return t, p, v
	default:
		return v, p, q
	}
}
