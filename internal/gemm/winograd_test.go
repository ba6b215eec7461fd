package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// TestWinograd compares the Winograd path with a float64 direct convolution on
// odd and even sizes, paddings 1 (same), 0 (valid) and asymmetric, partial
// tile blocks, one and two workers, F(4×4) (with the assembly transforms;
// whole and overhanging 4×4 tiles) and F(2×2) with the assembly transforms and the
// portable ones, and checks that each output row reaches the epilogue
// exactly once, after it is final.
func TestWinograd(t *testing.T) {
	// Workers are capped at GOMAXPROCS: keep two possible under GOMAXPROCS=1.
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	r := rand.New(rand.NewPCG(31, 32))
	for _, c := range []struct {
		b, h, w, ci, co int
		pad             [2][2]int
	}{
		{2, 14, 14, 64, 64, [2][2]int{{1, 1}, {1, 1}}},
		{3, 7, 7, 128, 32, [2][2]int{{1, 1}, {1, 1}}},
		{1, 9, 6, 64, 16, [2][2]int{{0, 0}, {0, 0}}},
		{2, 5, 8, 64, 48, [2][2]int{{2, 0}, {1, 2}}},
		{2, 12, 11, 32, 32, [2][2]int{{1, 1}, {1, 1}}},
		{1, 6, 6, 40, 16, [2][2]int{{1, 1}, {1, 1}}},
		{2, 28, 28, 32, 32, [2][2]int{{1, 1}, {1, 1}}},
		{1, 10, 14, 64, 16, [2][2]int{{0, 0}, {0, 0}}},
		{2, 6, 7, 40, 48, [2][2]int{{1, 3}, {2, 1}}},
		{3, 8, 8, 128, 32, [2][2]int{{1, 1}, {1, 1}}},
	} {
		p := ConvParams{Batch: c.b, InChannels: c.ci, OutChannels: c.co, InSpatial: []int{c.h, c.w},
			KernelSpatial: []int{3, 3}, Paddings: [][2]int{c.pad[0], c.pad[1]},
			OutSpatial: []int{c.h + c.pad[0][0] + c.pad[0][1] - 2, c.w + c.pad[1][0] + c.pad[1][1] - 2}}
		if !winogradOK(&p) {
			t.Fatalf("%+v: not eligible", c)
		}
		input := make([]float32, c.b*c.h*c.w*c.ci)
		kernel := make([]float32, 9*c.ci*c.co)
		for i := range input {
			input[i] = float32(r.NormFloat64())
		}
		for i := range kernel {
			kernel[i] = float32(r.NormFloat64())
		}
		want, scale := refConv(p, input, kernel)
		// Winograd's rounding error scales with the magnitudes in a tile,
		// not with one output's own terms: an output whose taps all fall in
		// the padding is exactly 0 directly but a rounding residue of its
		// tile's other inputs here. Hence a floor relative to the largest
		// scale (F(4×4)'s residues reach ~5e-8 of it).
		maxScale := 0.0
		for _, s := range scale {
			maxScale = max(maxScale, s)
		}
		tol := func(i int) float64 { return 1e-4*scale[i] + 1e-6*maxScale }
		m := c.b * p.OutSpatial[0] * p.OutSpatial[1]
		f4 := c.ci%8 == 0 && c.co%8 == 0
		for _, opts := range []Options{{Workers: 1}, {Workers: 2}, {Workers: 1, PureGo: true}, {Workers: 1, NoWinograd4: true}} {
			workers := opts.Workers
			e := New(opts)
			wantForm := 2
			if f4 && e.useAsm && !opts.NoWinograd4 {
				wantForm = 4
			}
			if got := e.winoFormFor(&p).m; got != wantForm {
				t.Fatalf("%+v %+v: F(%d×%[3]d), want F(%d×%[4]d)", c, opts, got, wantForm)
			}
			out := make([]float32, m*c.co)
			seen := make([]int, m)
			var mu sync.Mutex
			epi := func(r0, r1 int) {
				mu.Lock()
				defer mu.Unlock()
				for row := r0; row < r1; row++ {
					seen[row]++
					if d := math.Abs(float64(out[row*c.co]) - want[row*c.co]); d > tol(row*c.co) {
						t.Errorf("%+v: epilogue saw row %d before it was final", c, row)
					}
				}
			}
			if err := e.ConvEpilogue(p, input, kernel, out, epi); err != nil {
				t.Fatal(err)
			}
			for i := range out {
				if d := math.Abs(float64(out[i]) - want[i]); d > tol(i) {
					t.Fatalf("%+v F(%d) workers %d: [%d] = %g, want %g (scale %g)", c, wantForm, workers, i, out[i], want[i], scale[i])
				}
			}
			for row, n := range seen {
				if n != 1 {
					t.Fatalf("%+v workers %d: epilogue saw row %d %d times", c, workers, row, n)
				}
			}
		}
	}
}

// BenchmarkWinograd compares the Winograd path (the form winoFormFor picks),
// Winograd F(2×2) alone and the direct path on the small ResNet's 3×3
// stride-1 layers at batch 64, one thread.
func BenchmarkWinograd(b *testing.B) {
	for _, s := range []struct{ hw, c int }{{28, 32}, {28, 64}, {14, 64}, {7, 128}} {
		p := ConvParams{Batch: 64, InChannels: s.c, OutChannels: s.c, InSpatial: []int{s.hw, s.hw},
			KernelSpatial: []int{3, 3}, Paddings: [][2]int{{1, 1}, {1, 1}}, OutSpatial: []int{s.hw, s.hw}}
		input := make([]float32, 64*s.hw*s.hw*s.c)
		kernel := make([]float32, 9*s.c*s.c)
		for i := range input {
			input[i] = float32(i%7) - 3
		}
		for i := range kernel {
			kernel[i] = float32(i%5) - 2
		}
		out := make([]float32, len(input))
		flops := 2 * float64(64*s.hw*s.hw) * float64(9*s.c*s.c)
		for _, v := range []struct {
			name string
			opts Options
		}{
			{"winograd", Options{Workers: 1}},
			{"winograd2x2", Options{Workers: 1, NoWinograd4: true}},
			{"direct", Options{Workers: 1, NoWinograd: true}},
		} {
			e := New(v.opts)
			b.Run(fmt.Sprintf("%dx%dx%d/%s", s.hw, s.hw, s.c, v.name), func(b *testing.B) {
				for b.Loop() {
					if err := e.Conv(p, input, kernel, out); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "directGFLOP/s")
			})
		}
	}
}
