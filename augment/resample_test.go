package augment

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/swav-go/swav/imageio"
)

// resize runs the package's fused resampler over the whole of t.
func resize(t Tensor, outH, outW int) Tensor {
	out := Tensor{H: outH, W: outW, C: t.C, Pix: make([]float32, outH*outW*t.C)}
	var s scratch
	resizedCrop(t, 0, 0, t.H, t.W, outH, outW, out.Pix, &s)
	return out
}

func approxSlice(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > tol {
			t.Errorf("%s[%d] = %v, want %v", name, i, got[i], want[i])
		}
	}
}

// The expectations are worked out by hand from the antialiased triangle
// filter: for 4→2 the filter is stretched by 2 (support 2) and the taps of
// output 0 (centre 1.0) are x=0,1,2 with raw weights .75,.75,.25 → 3/7,3/7,1/7.
func TestResize1D(t *testing.T) {
	tests := []struct {
		name string
		in   []float32
		out  int
		want []float64
	}{
		{"down 4->2", []float32{0, 1, 2, 3}, 2, []float64{5.0 / 7, 16.0 / 7}},
		{"down 6->2", []float32{0, 1, 2, 3, 4, 5}, 2, []float64{1.25, 3.75}},
		{"up 2->4", []float32{2, 6}, 4, []float64{2, 3, 5, 6}},
		{"identity 3->3", []float32{0.1, 0.7, 0.3}, 3, []float64{0.1, 0.7, 0.3}},
		{"constant 5->3", []float32{0.4, 0.4, 0.4, 0.4, 0.4}, 3, []float64{0.4, 0.4, 0.4}},
		{"down to 1", []float32{1, 2, 3}, 1, []float64{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(tc.in)
			// Along x (one row) and along y (one column) must agree.
			row := resize(Tensor{H: 1, W: n, C: 1, Pix: tc.in}, 1, tc.out)
			approxSlice(t, "row", row.Pix, tc.want, 1e-6)
			col := resize(Tensor{H: n, W: 1, C: 1, Pix: tc.in}, tc.out, 1)
			approxSlice(t, "col", col.Pix, tc.want, 1e-6)
			// Three channels: channel c holds in*(c+1).
			rgb := make([]float32, 3*n)
			want := make([]float64, 3*tc.out)
			for i, v := range tc.in {
				for c := range 3 {
					rgb[i*3+c] = v * float32(c+1)
				}
			}
			for i, v := range tc.want {
				for c := range 3 {
					want[i*3+c] = v * float64(c+1)
				}
			}
			got := resize(Tensor{H: 1, W: n, C: 3, Pix: rgb}, 1, tc.out)
			approxSlice(t, "rgb", got.Pix, want, 1e-5)
		})
	}
}

// A separable resize of f(y,x) = x + 10y must give rx[x] + 10*ry[y] where
// rx, ry are the 1-D results (weights sum to one).
func TestResize2DSeparable(t *testing.T) {
	img := Tensor{H: 4, W: 6, C: 1, Pix: make([]float32, 24)}
	for y := range 4 {
		for x := range 6 {
			img.Pix[y*6+x] = float32(x + 10*y)
		}
	}
	got := resize(img, 2, 2)
	rx := []float64{1.25, 3.75}        // 6->2, see TestResize1D
	ry := []float64{5.0 / 7, 16.0 / 7} // 4->2
	want := []float64{rx[0] + 10*ry[0], rx[1] + 10*ry[0], rx[0] + 10*ry[1], rx[1] + 10*ry[1]}
	approxSlice(t, "2d", got.Pix, want, 1e-4)
}

// The fused crop+resize must equal imageio.Resize(imageio.Crop(...)) bit
// for bit, so that training views and evaluation preprocessing (which uses
// imageio) resample identically.
func TestResizedCropMatchesImageio(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []int{1, 3} {
		img := Tensor{H: 23, W: 31, C: c, Pix: make([]float32, 23*31*c)}
		for i := range img.Pix {
			img.Pix[i] = rng.Float32()
		}
		var s scratch
		boxes := []struct{ top, left, h, w, oh, ow int }{
			{0, 0, 23, 31, 23, 31},
			{3, 5, 10, 12, 7, 7},
			{1, 2, 20, 9, 14, 14},
			{10, 20, 5, 5, 16, 16},
			{0, 0, 23, 31, 8, 40},
			{4, 4, 11, 11, 11, 5},
			{2, 3, 7, 13, 7, 9},
		}
		for range 200 { // random RandomResizedCrop windows
			b := sampleCrop(rng, img.H, img.W, 0.05, 1)
			size := 1 + rng.IntN(40)
			boxes = append(boxes, struct{ top, left, h, w, oh, ow int }{b.top, b.left, b.h, b.w, size, size})
		}
		for _, tc := range boxes {
			want := imageio.Resize(imageio.Crop(img, tc.top, tc.left, tc.h, tc.w), tc.oh, tc.ow)
			got := make([]float32, tc.oh*tc.ow*c)
			resizedCrop(img, tc.top, tc.left, tc.h, tc.w, tc.oh, tc.ow, got, &s)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want.Pix[i]) {
					t.Fatalf("C=%d box %+v: value %d = %v, imageio gives %v", c, tc, i, got[i], want.Pix[i])
				}
			}
		}
	}
}
