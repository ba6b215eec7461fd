package augment

import (
	"math"
	"testing"
)

func TestReflect(t *testing.T) {
	tests := []struct {
		i, n, want int
	}{
		{0, 5, 0}, {4, 5, 4}, {-1, 5, 1}, {-2, 5, 2}, {5, 5, 3}, {6, 5, 2},
		{-4, 5, 4}, {-5, 5, 3}, {8, 5, 0}, {9, 5, 1}, {-9, 5, 1},
		{-1, 2, 1}, {2, 2, 0}, {3, 2, 1}, {-7, 1, 0}, {7, 1, 0},
	}
	for _, tc := range tests {
		if got := reflect(tc.i, tc.n); got != tc.want {
			t.Errorf("reflect(%d, %d) = %d, want %d", tc.i, tc.n, got, tc.want)
		}
	}
}

func TestBlurRadius(t *testing.T) {
	tests := []struct {
		sigma float64
		want  int
	}{{0.1, 1}, {0.5, 2}, {1, 3}, {1.01, 4}, {2, 6}}
	for _, tc := range tests {
		if got := blurRadius(tc.sigma); got != tc.want {
			t.Errorf("blurRadius(%v) = %d, want %d", tc.sigma, got, tc.want)
		}
	}
}

func TestBlurConstant(t *testing.T) {
	tests := []struct {
		name    string
		h, w, c int
		sigma   float64
	}{
		{"28x28x1 sigma 2", 28, 28, 1, 2},
		{"14x14x3 sigma 0.1", 14, 14, 3, 0.1},
		{"3x3x3 radius > size", 3, 3, 3, 2},
		{"1x5x1 single row", 1, 5, 1, 1.5},
		{"9x4x3 sigma 1", 9, 4, 3, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pix := make([]float32, tc.h*tc.w*tc.c)
			for i := range pix {
				pix[i] = 0.25 + 0.25*float32(i%tc.c) // per-channel constant
			}
			var s scratch
			gaussianBlur(pix, tc.h, tc.w, tc.c, tc.sigma, &s)
			for i, v := range pix {
				if want := 0.25 + 0.25*float64(i%tc.c); math.Abs(float64(v)-want) > 1e-6 {
					t.Fatalf("value %d = %v, want %v", i, v, want)
				}
			}
		})
	}
}

// A unit impulse far from the borders spreads into the outer product of the
// normalised 1-D Gaussian with itself: total mass 1, peak k(0)^2, and
// the value at offset (dy, dx) is k(dy)*k(dx).
func TestBlurImpulse(t *testing.T) {
	tests := []struct {
		sigma float64
		size  int
	}{{1, 15}, {2, 31}, {0.5, 9}, {1.7, 25}}
	for _, tc := range tests {
		r := int(math.Ceil(3 * tc.sigma))
		var z float64
		for d := -r; d <= r; d++ {
			z += math.Exp(-float64(d*d) / (2 * tc.sigma * tc.sigma))
		}
		k := func(d int) float64 { return math.Exp(-float64(d*d)/(2*tc.sigma*tc.sigma)) / z }

		n, mid := tc.size, tc.size/2
		pix := make([]float32, n*n*3)
		for ch := range 3 {
			pix[(mid*n+mid)*3+ch] = float32(ch + 1)
		}
		var s scratch
		gaussianBlur(pix, n, n, 3, tc.sigma, &s)
		for ch := range 3 {
			var mass float64
			for y := range n {
				for x := range n {
					v := float64(pix[(y*n+x)*3+ch])
					mass += v
					var want float64
					if dy, dx := y-mid, x-mid; max(-dy, dy) <= r && max(-dx, dx) <= r {
						want = float64(ch+1) * k(dy) * k(dx)
					}
					if math.Abs(v-want) > 1e-6 {
						t.Fatalf("sigma %v ch %d (%d,%d) = %v, want %v", tc.sigma, ch, y, x, v, want)
					}
				}
			}
			if math.Abs(mass-float64(ch+1)) > 1e-5 {
				t.Errorf("sigma %v ch %d: mass %v, want %d", tc.sigma, ch, mass, ch+1)
			}
		}
	}
}

// Reflect padding at a border: a 1x3 row (1,0,0) blurred with radius 1
// sees the padded row (0 | 1 0 0 | 0), so output x=0 is k0*1 and x=1 is k1.
func TestBlurBorderReflect(t *testing.T) {
	sigma := 0.5 // radius 2: padded row 0 0 | 1 0 0 | 0 1
	k := make([]float64, 5)
	var z float64
	for d := -2; d <= 2; d++ {
		k[d+2] = math.Exp(-float64(d*d) / (2 * sigma * sigma))
		z += k[d+2]
	}
	for i := range k {
		k[i] /= z
	}
	pix := []float32{1, 0, 0}
	var s scratch
	gaussianBlur(pix, 1, 3, 1, sigma, &s)
	// x=0 taps at -2..2 → padded values reflect(-2)=2:0, -1→1:0, 0:1, 1:0, 2:0
	// x=1 taps -1..3 → 0:1 at offset -1; 3 → reflect(3,3)=1:0
	// x=2 taps 0..4 → 0:1 at offset -2; 4 → reflect(4,3)=0:1 at offset +2
	want := []float64{k[2], k[1], k[0] + k[4]}
	approxSlice(t, "row", pix, want, 1e-7)
}
