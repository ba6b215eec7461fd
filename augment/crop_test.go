package augment

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSampleCropStatistics(t *testing.T) {
	tests := []struct {
		name         string
		h, w         int
		lo, hi       float64
		checkMean    bool // no draw can be rejected, so the area is U(lo, hi)
		draws        int
		meanTolerant float64
	}{
		{"local 1000x1000", 1000, 1000, 0.05, 0.14, true, 20000, 0.002},
		{"global 1000x1000", 1000, 1000, 0.14, 1, false, 20000, 0},
		{"local 600x900", 600, 900, 0.05, 0.14, true, 20000, 0.002},
		{"fixed 0.3", 800, 800, 0.3, 0.3, true, 2000, 0.002},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(tc.h)))
			area := float64(tc.h * tc.w)
			// Rounding width and height to integers moves the area by at
			// most 0.5*(w+h)+0.25 <= 0.5*(sqrt(4/3)+sqrt(3/4))*sqrt(hi*A)+0.25.
			slack := (0.5*(math.Sqrt(maxRatio)+math.Sqrt(1/maxRatio))*math.Sqrt(tc.hi*area) + 0.25) / area
			var sum float64
			for range tc.draws {
				b := sampleCrop(rng, tc.h, tc.w, tc.lo, tc.hi)
				if b.top < 0 || b.left < 0 || b.h < 1 || b.w < 1 || b.top+b.h > tc.h || b.left+b.w > tc.w {
					t.Fatalf("box %+v outside %dx%d", b, tc.h, tc.w)
				}
				f := float64(b.h*b.w) / area
				if f < tc.lo-slack || f > tc.hi+slack {
					t.Fatalf("area fraction %v outside [%v, %v] (slack %v)", f, tc.lo, tc.hi, slack)
				}
				r := float64(b.w) / float64(b.h)
				rs := 1 / math.Sqrt(float64(b.h*b.w)) // relative rounding error bound
				if r < minRatio*(1-2*rs) || r > maxRatio*(1+2*rs) {
					t.Fatalf("aspect ratio %v outside [3/4, 4/3]", r)
				}
				sum += f
			}
			if tc.checkMean {
				mean := sum / float64(tc.draws)
				if want := (tc.lo + tc.hi) / 2; math.Abs(mean-want) > tc.meanTolerant {
					t.Errorf("mean area fraction %v, want %v", mean, want)
				}
			}
		})
	}
}

// Aspect ratios outside [3/4, 4/3] with full-area crops can never fit, so
// every attempt fails and the centred fallback is used.
func TestSampleCropFallback(t *testing.T) {
	tests := []struct {
		h, w int
		want cropBox
	}{
		// 10x40: ratio 4 > 4/3 → h = 10, w = round(10*4/3) = 13, left = (40-13)/2.
		{10, 40, cropBox{top: 0, left: 13, h: 10, w: 13}},
		// 40x10: ratio 1/4 < 3/4 → w = 10, h = round(10/(3/4)) = 13, top = 13.
		{40, 10, cropBox{top: 13, left: 0, h: 13, w: 10}},
		// 3x100: h = 3, w = round(4) = 4, left = 48.
		{3, 100, cropBox{top: 0, left: 48, h: 3, w: 4}},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range tests {
		for range 50 {
			if got := sampleCrop(rng, tc.h, tc.w, 1, 1); got != tc.want {
				t.Fatalf("%dx%d: got %+v, want %+v", tc.h, tc.w, got, tc.want)
			}
		}
	}
}

func TestHFlip(t *testing.T) {
	tests := []struct {
		name    string
		h, w, c int
		in      []float32
		want    []float32
	}{
		{"1x3x1", 1, 3, 1, []float32{1, 2, 3}, []float32{3, 2, 1}},
		{"2x3x1", 2, 3, 1, []float32{1, 2, 3, 4, 5, 6}, []float32{3, 2, 1, 6, 5, 4}},
		{"1x2x3 keeps channel order", 1, 2, 3, []float32{1, 2, 3, 4, 5, 6}, []float32{4, 5, 6, 1, 2, 3}},
		{"2x4x1 even width", 2, 4, 1, []float32{1, 2, 3, 4, 5, 6, 7, 8}, []float32{4, 3, 2, 1, 8, 7, 6, 5}},
		{"1x1x3", 1, 1, 3, []float32{1, 2, 3}, []float32{1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pix := append([]float32(nil), tc.in...)
			hflip(pix, tc.h, tc.w, tc.c)
			for i := range pix {
				if pix[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", pix, tc.want)
				}
			}
		})
	}
}

// plain returns a MultiCrop that only crops (and optionally flips).
func plain(size int, lo, hi, flipP float64) MultiCrop {
	return MultiCrop{Crops: []CropSpec{{Count: 1, Size: size, MinScale: lo, MaxScale: hi}}, FlipP: flipP}
}

// On a 3x3 image with scale 1 every sampled window is the whole image
// (round(3*sqrt(r)) = 3 for r in [3/4, 4/3]), so Apply is the identity or
// the mirror image.
func TestApplyFlip(t *testing.T) {
	gray := []float32{
		0.1, 0.2, 0.3,
		0.4, 0.5, 0.6,
		0.7, 0.8, 0.9,
	}
	grayFlip := []float32{
		0.3, 0.2, 0.1,
		0.6, 0.5, 0.4,
		0.9, 0.8, 0.7,
	}
	rgb := make([]float32, 27)
	rgbFlip := make([]float32, 27)
	for y := range 3 {
		for x := range 3 {
			for c := range 3 {
				v := float32(y*9+x*3+c) / 27
				rgb[(y*3+x)*3+c] = v
				rgbFlip[(y*3+(2-x))*3+c] = v
			}
		}
	}
	tests := []struct {
		name  string
		c     int
		in    []float32
		flipP float64
		want  []float32
	}{
		{"gray no flip", 1, gray, 0, gray},
		{"gray flip", 1, gray, 1, grayFlip},
		{"rgb no flip", 3, rgb, 0, rgb},
		{"rgb flip", 3, rgb, 1, rgbFlip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := plain(3, 1, 1, tc.flipP)
			for seed := range uint64(20) {
				out := m.Apply(rand.New(rand.NewPCG(seed, 0)), Tensor{H: 3, W: 3, C: tc.c, Pix: tc.in})
				for i, v := range out[0].Pix {
					if v != tc.want[i] {
						t.Fatalf("seed %d: got %v, want %v", seed, out[0].Pix, tc.want)
					}
				}
			}
		})
	}
}
