package augment

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Two RGB pixels p1 = (.2,.4,.6), p2 = (.8,.6,.4). By hand:
// luma(p1) = .0598+.2348+.0684 = .363, luma(p2) = .2392+.3522+.0456 = .637,
// mean luma = .5.
var twoPixels = []float32{0.2, 0.4, 0.6, 0.8, 0.6, 0.4}

func TestColorAdjust(t *testing.T) {
	tests := []struct {
		name string
		c    int
		in   []float32
		fn   func(pix []float32, c int)
		want []float64
	}{
		{"brightness 1.5", 3, twoPixels, func(p []float32, c int) { adjustBrightness(p, 1.5) },
			[]float64{0.3, 0.6, 0.9, 1, 0.9, 0.6}},
		{"brightness 0", 3, twoPixels, func(p []float32, c int) { adjustBrightness(p, 0) },
			[]float64{0, 0, 0, 0, 0, 0}},
		{"brightness 1 is identity", 3, twoPixels, func(p []float32, c int) { adjustBrightness(p, 1) },
			[]float64{0.2, 0.4, 0.6, 0.8, 0.6, 0.4}},
		// contrast f: f*x + (1-f)*0.5
		{"contrast 0.5", 3, twoPixels, func(p []float32, c int) { adjustContrast(p, c, 0.5) },
			[]float64{0.35, 0.45, 0.55, 0.65, 0.55, 0.45}},
		{"contrast 0 gives mean luma", 3, twoPixels, func(p []float32, c int) { adjustContrast(p, c, 0) },
			[]float64{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}},
		{"contrast 2 clamps", 3, twoPixels, func(p []float32, c int) { adjustContrast(p, c, 2) },
			[]float64{0, 0.3, 0.7, 1, 0.7, 0.3}},
		// 1 channel: mean of (.2,.4,.9) is .5; f=0.5 → .5x + .25
		{"contrast gray", 1, []float32{0.2, 0.4, 0.9}, func(p []float32, c int) { adjustContrast(p, c, 0.5) },
			[]float64{0.35, 0.45, 0.7}},
		// saturation f: f*x + (1-f)*luma(pixel)
		{"saturation 0 gives luma", 3, twoPixels, func(p []float32, c int) { adjustSaturation(p, c, 0) },
			[]float64{0.363, 0.363, 0.363, 0.637, 0.637, 0.637}},
		{"saturation 2", 3, twoPixels, func(p []float32, c int) { adjustSaturation(p, c, 2) },
			[]float64{0.037, 0.437, 0.837, 0.963, 0.563, 0.163}},
		{"saturation 0.5", 3, twoPixels, func(p []float32, c int) { adjustSaturation(p, c, 0.5) },
			[]float64{0.2815, 0.3815, 0.4815, 0.7185, 0.6185, 0.5185}},
		{"saturation no-op on gray", 1, []float32{0.2, 0.7}, func(p []float32, c int) { adjustSaturation(p, c, 0) },
			[]float64{0.2, 0.7}},
		{"hue no-op on gray", 1, []float32{0.2, 0.7}, func(p []float32, c int) { adjustHue(p, c, 0.3) },
			[]float64{0.2, 0.7}},
		{"grayscale red", 3, []float32{1, 0, 0}, grayscale, []float64{0.299, 0.299, 0.299}},
		{"grayscale green", 3, []float32{0, 1, 0}, grayscale, []float64{0.587, 0.587, 0.587}},
		{"grayscale blue", 3, []float32{0, 0, 1}, grayscale, []float64{0.114, 0.114, 0.114}},
		{"grayscale mix", 3, twoPixels, grayscale, []float64{0.363, 0.363, 0.363, 0.637, 0.637, 0.637}},
		{"grayscale no-op on gray", 1, []float32{0.3}, grayscale, []float64{0.3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pix := append([]float32(nil), tc.in...)
			tc.fn(pix, tc.c)
			approxSlice(t, "pix", pix, tc.want, 1e-6)
		})
	}
}

func TestAdjustHue(t *testing.T) {
	const third = 1.0 / 3
	tests := []struct {
		name string
		in   [3]float32
		d    float32
		want [3]float64
	}{
		{"red +1/3 is green", [3]float32{1, 0, 0}, third, [3]float64{0, 1, 0}},
		{"green +1/3 is blue", [3]float32{0, 1, 0}, third, [3]float64{0, 0, 1}},
		{"blue +1/3 is red", [3]float32{0, 0, 1}, third, [3]float64{1, 0, 0}},
		{"red -1/3 is blue", [3]float32{1, 0, 0}, -third, [3]float64{0, 0, 1}},
		{"red +1/2 is cyan", [3]float32{1, 0, 0}, 0.5, [3]float64{0, 1, 1}},
		{"dark red +1/3 keeps value", [3]float32{0.5, 0, 0}, third, [3]float64{0, 0.5, 0}},
		// orange (hue 30°) + 60° = chartreuse (hue 90°) = (0.5, 1, 0)
		{"orange +1/6", [3]float32{1, 0.5, 0}, 1.0 / 6, [3]float64{0.5, 1, 0}},
		// pink (1,.5,.5): hue 0, s .5, v 1; +1/3 → (.5,1,.5)
		{"pink +1/3", [3]float32{1, 0.5, 0.5}, third, [3]float64{0.5, 1, 0.5}},
		{"gray unchanged", [3]float32{0.4, 0.4, 0.4}, 0.2, [3]float64{0.4, 0.4, 0.4}},
		{"zero shift", [3]float32{0.2, 0.7, 0.4}, 0, [3]float64{0.2, 0.7, 0.4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pix := tc.in[:]
			pix = append([]float32(nil), pix...)
			adjustHue(pix, 3, tc.d)
			approxSlice(t, "rgb", pix, tc.want[:], 1e-6)
		})
	}
}

func TestHSVRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 10000 {
		r, g, b := rng.Float32(), rng.Float32(), rng.Float32()
		h, s, v := rgbToHSV(r, g, b)
		if h < 0 || h >= 1 {
			t.Fatalf("hue %v out of [0,1)", h)
		}
		r2, g2, b2 := hsvToRGB(h, s, v)
		if math.Abs(float64(r-r2)) > 1e-5 || math.Abs(float64(g-g2)) > 1e-5 || math.Abs(float64(b-b2)) > 1e-5 {
			t.Fatalf("(%v,%v,%v) -> (%v,%v,%v)", r, g, b, r2, g2, b2)
		}
	}
}

// Brightness alone on a constant 0.5 image: the factor is U(0.2, 1.8), so
// outputs span [0.1, 0.9] and their mean is 0.5.
func TestJitterBrightnessRange(t *testing.T) {
	j := ColorJitter{Brightness: 0.8}
	rng := rand.New(rand.NewPCG(9, 9))
	lo, hi, sum := 1.0, 0.0, 0.0
	const n = 20000
	for range n {
		pix := []float32{0.5}
		j.apply(rng, pix, 1)
		v := float64(pix[0])
		lo, hi, sum = min(lo, v), max(hi, v), sum+v
	}
	if lo < 0.1-1e-6 || lo > 0.105 || hi > 0.9+1e-6 || hi < 0.895 {
		t.Errorf("range [%v, %v], want about [0.1, 0.9]", lo, hi)
	}
	if mean := sum / n; math.Abs(mean-0.5) > 0.005 {
		t.Errorf("mean %v, want 0.5", mean)
	}
}

func TestJitterZeroIsIdentity(t *testing.T) {
	pix := append([]float32(nil), twoPixels...)
	ColorJitter{}.apply(rand.New(rand.NewPCG(1, 1)), pix, 3)
	for i := range pix {
		if pix[i] != twoPixels[i] {
			t.Fatalf("got %v, want %v", pix, twoPixels)
		}
	}
}

// The four operations run in a uniformly random order. With only
// brightness and contrast enabled the two compositions differ, so replaying
// the draws (permutation first, then the brightness and contrast factors)
// from an identically seeded generator tells which one apply must produce.
func TestJitterOrderIsRandom(t *testing.T) {
	j := ColorJitter{Brightness: 0.5, Contrast: 0.5}
	perms := map[[4]int]bool{}
	var brightFirst, contrastFirst int
	for seed := range uint64(3000) {
		replay := rand.New(rand.NewPCG(seed, 11))
		order := [4]int{0, 1, 2, 3}
		for i := 3; i > 0; i-- {
			k := replay.IntN(i + 1)
			order[i], order[k] = order[k], order[i]
		}
		perms[order] = true
		b := 0.5 + replay.Float64()
		c := 0.5 + replay.Float64()
		// image (0.2, 0.6), mean 0.4
		bc := func(x float64) float64 { return c*(b*x) + (1-c)*(b*0.4) }
		cb := func(x float64) float64 { return b * (c*x + (1-c)*0.4) }
		f := bc
		if slices.Index(order[:], 1) < slices.Index(order[:], 0) {
			f, contrastFirst = cb, contrastFirst+1
		} else {
			brightFirst++
		}
		pix := []float32{0.2, 0.6}
		j.apply(rand.New(rand.NewPCG(seed, 11)), pix, 1)
		approxSlice(t, "pix", pix, []float64{min(1, f(0.2)), min(1, f(0.6))}, 1e-6)
	}
	if len(perms) != 24 {
		t.Errorf("saw %d of 24 orders", len(perms))
	}
	if brightFirst < 1300 || contrastFirst < 1300 {
		t.Errorf("brightness first %d times, contrast first %d times, want about 1500 each", brightFirst, contrastFirst)
	}
}
