package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// refKernelGrad is ConvKernelGrad's definition computed directly in float64, with
// the sum of |terms| per element for the tolerance.
func refKernelGrad(p ConvParams, input, outGrad []float32) (want, scale []float64) {
	h, w := p.InSpatial[0], p.InSpatial[1]
	kh, kw := p.KernelSpatial[0], p.KernelSpatial[1]
	oh, ow := p.OutSpatial[0], p.OutSpatial[1]
	ci, co := p.InChannels, p.OutChannels
	sy, sx := axisOr(p.Strides, 0, 1), axisOr(p.Strides, 1, 1)
	dy, dx := axisOr(p.KernelDilations, 0, 1), axisOr(p.KernelDilations, 1, 1)
	var py, px int
	if len(p.Paddings) > 0 {
		py, px = p.Paddings[0][0], p.Paddings[1][0]
	}
	want = make([]float64, kh*kw*ci*co)
	scale = make([]float64, len(want))
	for n := range p.Batch {
		for y := range oh {
			for x := range ow {
				for ky := range kh {
					iy := y*sy + ky*dy - py
					if iy < 0 || iy >= h {
						continue
					}
					for kx := range kw {
						ix := x*sx + kx*dx - px
						if ix < 0 || ix >= w {
							continue
						}
						for c := range ci {
							a := float64(input[((n*h+iy)*w+ix)*ci+c])
							for o := range co {
								t := a * float64(outGrad[((n*oh+y)*ow+x)*co+o])
								i := ((ky*kw+kx)*ci+c)*co + o
								want[i] += t
								scale[i] += math.Abs(t)
							}
						}
					}
				}
			}
		}
	}
	return want, scale
}

// kernelGradCases covers the small ResNet's layers (3×3 stride 1 and 2, the 1×1/2
// shortcut, the 1-channel stem), channel counts that are not multiples of the
// 6×16 tile, kernel dilation, asymmetric padding and a pixel count below one K block.
var kernelGradCases = []struct {
	batch, h, w, ci, co, kh, kw, s, d int
	pad                               [2][2]int
}{
	{3, 9, 9, 32, 32, 3, 3, 1, 1, [2][2]int{{1, 1}, {1, 1}}},
	{2, 10, 10, 32, 64, 3, 3, 2, 1, [2][2]int{{1, 1}, {1, 1}}},
	{2, 10, 10, 32, 64, 1, 1, 2, 1, [2][2]int{{0, 0}, {0, 0}}},
	{4, 8, 8, 1, 32, 3, 3, 1, 1, [2][2]int{{1, 1}, {1, 1}}},
	{2, 7, 6, 5, 7, 3, 2, 1, 1, [2][2]int{{1, 2}, {0, 1}}},
	{2, 9, 9, 16, 20, 3, 3, 1, 2, [2][2]int{{2, 2}, {2, 2}}},
	{1, 3, 3, 48, 13, 3, 3, 1, 1, [2][2]int{{1, 1}, {1, 1}}},
	{40, 7, 7, 64, 128, 3, 3, 1, 1, [2][2]int{{1, 1}, {1, 1}}},
	// Same-size stride-1 shapes for the in-place form: Ci and Co off the tile
	// (20 = 3·6 + 2 channels, 24 = 16 + 8 outputs), H ≠ W, K blocks that cut
	// image rows (6·14·14 pixels in blocks of 294), 5×5, asymmetric and even
	// kernels, fewer channels than a tile row group (reads that would pass the
	// input's end), the head's 1×1 "linear" layers on 1×1 images.
	{2, 5, 11, 20, 24, 3, 3, 1, 1, [2][2]int{{1, 1}, {1, 1}}},
	{6, 14, 14, 32, 64, 3, 3, 1, 1, [2][2]int{{1, 1}, {1, 1}}},
	{3, 6, 6, 7, 16, 5, 5, 1, 1, [2][2]int{{2, 2}, {2, 2}}},
	{2, 6, 5, 9, 17, 3, 3, 1, 1, [2][2]int{{0, 2}, {2, 0}}},
	{2, 4, 4, 3, 5, 2, 2, 1, 1, [2][2]int{{0, 1}, {1, 0}}},
	{50, 1, 1, 40, 21, 1, 1, 1, 1, [2][2]int{{0, 0}, {0, 0}}},
	{1, 2, 2, 1, 3, 3, 3, 1, 1, [2][2]int{{1, 1}, {1, 1}}},
}

func kernelGradParams(c struct {
	batch, h, w, ci, co, kh, kw, s, d int
	pad                               [2][2]int
}) ConvParams {
	oh := outSize(c.h, c.kh, c.s, c.pad[0][0], c.pad[0][1], c.d, 1)
	ow := outSize(c.w, c.kw, c.s, c.pad[1][0], c.pad[1][1], c.d, 1)
	return ConvParams{Batch: c.batch, InChannels: c.ci, OutChannels: c.co,
		InSpatial: []int{c.h, c.w}, KernelSpatial: []int{c.kh, c.kw}, OutSpatial: []int{oh, ow},
		Strides: []int{c.s, c.s}, KernelDilations: []int{c.d, c.d}, Paddings: [][2]int{c.pad[0], c.pad[1]}}
}

func TestConvKernelGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range kernelGradCases {
		p := kernelGradParams(c)
		in := randSlice(r, c.batch*c.h*c.w*c.ci)
		og := randSlice(r, c.batch*p.OutSpatial[0]*p.OutSpatial[1]*c.co)
		want, scale := refKernelGrad(p, in, og)
		var first []float32
		winograd := New(Options{}).kgWinogradOK(&p) // the default form for these shapes
		for _, opts := range []Options{{Workers: 1}, {Workers: 2, KernelGradSplitUnits: true}, {Workers: 2}, {Workers: 1, PureGo: true},
			{Workers: 1, KernelGradGather: true}, {Workers: 2, KernelGradGather: true}, {Workers: 1, NoWinograd: true}} {
			name := fmt.Sprintf("%+v/%+v", c, opts)
			got := make([]float32, len(want))
			for i := range got {
				got[i] = float32(math.NaN()) // Every element must be overwritten.
			}
			if err := New(opts).ConvKernelGrad(p, in, og, got); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if i, ok := closeTo(got, want, scale); !ok {
				t.Fatalf("%s: element %d = %g, want %g", name, i, got[i], want[i])
			}
			// Split by tiles, workers never split the reduction: 1 and 2
			// workers agree bit for bit (within one form; the split by
			// pixel ranges is TestConvKernelGradSplitPixels's). Where the
			// default is Winograd (TestConvKernelGradWinograd), one worker
			// runs another form than KernelGradSplitUnits (which never
			// takes Winograd): NoWinograd's is the one to compare.
			oneWorker := opts.Workers == 1 && (!winograd || opts.NoWinograd)
			bitwise := !opts.PureGo && !opts.KernelGradGather && (oneWorker || opts.KernelGradSplitUnits)
			if bitwise && first == nil {
				first = got
			} else if bitwise {
				for i := range got {
					if got[i] != first[i] {
						t.Fatalf("%s: element %d = %g, %g with one worker", name, i, got[i], first[i])
					}
				}
			}
		}
	}
}

// TestConvKernelGradInPlace checks the in-place form itself (without the
// finiteness check that may hand work to the general form) on every case it
// applies to, for 1 and 2 workers (split by tiles: the same bits as one;
// by pixels where that applies: within rounding) and the Go micro-kernel.
func TestConvKernelGradInPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	covered := 0
	for _, c := range kernelGradCases {
		p := kernelGradParams(c)
		e := New(Options{Workers: 1})
		g := kgGeometryOf(&p)
		if !g.kgInPlaceOK() {
			continue
		}
		covered++
		in := randSlice(r, c.batch*c.h*c.w*c.ci)
		og := randSlice(r, c.batch*p.OutSpatial[0]*p.OutSpatial[1]*c.co)
		want, scale := refKernelGrad(p, in, og)
		var first []float32
		for _, opts := range []Options{{Workers: 1}, {Workers: 2, KernelGradSplitUnits: true}, {Workers: 2}, {Workers: 1, PureGo: true}} {
			e = New(opts)
			got := make([]float32, len(want))
			for i := range got {
				got[i] = float32(math.NaN())
			}
			e.kgInPlace(&g, in, og, got)
			if i, ok := closeTo(got, want, scale); !ok {
				t.Fatalf("%+v/%+v: element %d = %g, want %g", c, opts, i, got[i], want[i])
			}
			if first == nil {
				first = got
			} else if opts.KernelGradSplitUnits { // Split by tiles: bit for bit.
				for i := range got {
					if got[i] != first[i] {
						t.Fatalf("%+v/%+v: element %d = %g, %g with one worker", c, opts, i, got[i], first[i])
					}
				}
			}
		}
	}
	if covered < 10 {
		t.Errorf("the in-place form applies to %d cases, want ≥ 10", covered)
	}
}

// splitPixelCases are shapes with many pixels against the result, where
// several workers split the pixels: in-place shapes with a partial 6-channel
// group (16 = 2·6 + 4), Co off the 16-column panel, H ≠ W, a 5×5 kernel, a
// 1×1 kernel; and strided ones for the general form only.
var splitPixelCases = []struct {
	batch, h, w, ci, co, kh, kw, s, d int
	pad                               [2][2]int
}{
	{16, 14, 14, 16, 16, 3, 3, 1, 1, [2][2]int{{1, 1}, {1, 1}}},
	{8, 12, 10, 20, 24, 3, 3, 1, 1, [2][2]int{{1, 1}, {1, 1}}},
	{4, 9, 9, 32, 17, 5, 5, 1, 1, [2][2]int{{2, 2}, {2, 2}}},
	{50, 4, 4, 8, 5, 1, 1, 1, 1, [2][2]int{{0, 0}, {0, 0}}},
	{16, 14, 14, 16, 24, 3, 3, 2, 1, [2][2]int{{1, 1}, {1, 1}}},
	{40, 8, 8, 8, 5, 1, 1, 2, 1, [2][2]int{{0, 0}, {0, 0}}},
}

// splitPixels computes the kernel gradient of p (geometry g) split into w
// pixel ranges, by the in-place form or (gather) the general one.
func splitPixels(e *Engine, p *ConvParams, g *kgGeometry, in, og []float32, w int, gather bool) []float32 {
	cols := g.kh * g.kw * g.ci
	kg := make([]float32, cols*g.co)
	for i := range kg {
		kg[i] = float32(math.NaN()) // Every element must be overwritten.
	}
	if !gather {
		e.kgInPlaceSplitPixels(g, in, og, kg, w)
		return kg
	}
	acc := make([]float32, len(kg))
	for i := range acc {
		acc[i] = float32(math.NaN())
	}
	packed := make([]float32, (g.co+MR-1)/MR*MR*p.Batch*g.oh*g.ow)
	e.kgGatherSplitPixels(g, in, og, packed, acc, w)
	for o := range g.co {
		for c := range cols {
			kg[c*g.co+o] = acc[o*cols+c]
		}
	}
	return kg
}

// TestConvKernelGradSplitPixels checks both forms split by pixel ranges for 1
// to 4 ranges: each result within float32 rounding of the float64
// definition and of the one-worker result, one range bit-identical to one
// worker, and bit-identical when computed again with the same number of
// ranges. Through ConvKernelGrad, two workers split the first case of each
// form by pixels (the two-range result, not the one-worker one), and with
// KernelGradSplitUnits by tiles (the one-worker result, bit for bit).
func TestConvKernelGradSplitPixels(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	r := rand.New(rand.NewPCG(21, 22))
	checked := map[bool]bool{}
	for _, c := range splitPixelCases {
		p := kernelGradParams(c)
		g := kgGeometryOf(&p)
		in := randSlice(r, c.batch*c.h*c.w*c.ci)
		og := randSlice(r, c.batch*p.OutSpatial[0]*p.OutSpatial[1]*c.co)
		want, scale := refKernelGrad(p, in, og)
		for _, gather := range []bool{false, true} {
			if !gather && !g.kgInPlaceOK() {
				continue
			}
			name := fmt.Sprintf("%+v/gather=%v", c, gather)
			e := New(Options{Workers: 1, KernelGradGather: gather})
			one := make([]float32, len(want))
			if err := e.ConvKernelGrad(p, in, og, one); err != nil {
				t.Fatal(err)
			}
			byRanges := map[int][]float32{}
			for _, w := range []int{1, 2, 3, 4} {
				var prev []float32
				for run := range 2 {
					got := splitPixels(e, &p, &g, in, og, w, gather)
					if i, ok := closeTo(got, want, scale); !ok {
						t.Fatalf("%s, %d ranges: element %d = %g, want %g", name, w, i, got[i], want[i])
					}
					for i := range got {
						if d := math.Abs(float64(got[i] - one[i])); !(d <= 2*(1e-5*scale[i]+1e-6)) {
							t.Fatalf("%s, %d ranges: element %d = %g, %g with one worker", name, w, i, got[i], one[i])
						}
					}
					if w == 1 && !slices.Equal(got, one) {
						t.Fatalf("%s: one range differs from one worker", name)
					}
					if run == 1 && !slices.Equal(got, prev) {
						t.Fatalf("%s, %d ranges: a second run gave another result", name, w)
					}
					prev = got
				}
				byRanges[w] = prev
			}
			if checked[gather] {
				continue
			}
			checked[gather] = true
			if slices.Equal(byRanges[2], one) {
				t.Fatalf("%s: two ranges gave the one-worker result bit for bit: the comparison below cannot tell the splits apart", name)
			}
			for _, opts := range []Options{{Workers: 2, KernelGradGather: gather}, {Workers: 2, KernelGradGather: gather, KernelGradSplitUnits: true}} {
				got := make([]float32, len(want))
				if err := New(opts).ConvKernelGrad(p, in, og, got); err != nil {
					t.Fatal(err)
				}
				wantBits := byRanges[2]
				if opts.KernelGradSplitUnits {
					wantBits = one
				}
				if !slices.Equal(got, wantBits) {
					t.Errorf("%s/%+v: ConvKernelGrad did not split as expected", name, opts)
				}
			}
		}
	}
	if !checked[false] || !checked[true] {
		t.Errorf("forms checked through ConvKernelGrad: %v, want both", checked)
	}
}

// TestConvKernelGradNonFinite: an Inf in the input's last column is read by the
// in-place form's excluded (zeroed) terms of the taps that never use it, giving
// NaN there; ConvKernelGrad must notice and return the definition's values:
// finite where the reference is, the same Inf or NaN where it is not.
func TestConvKernelGradNonFinite(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	c := kernelGradCases[0]
	p := kernelGradParams(c)
	in := randSlice(r, c.batch*c.h*c.w*c.ci)
	og := randSlice(r, c.batch*p.OutSpatial[0]*p.OutSpatial[1]*c.co)
	in[((1*c.h+3)*c.w+c.w-1)*c.ci+2] = float32(math.Inf(1)) // image 1, row 3, last column, channel 2
	want, scale := refKernelGrad(p, in, og)
	finite := 0
	for _, v := range want {
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			finite++
		}
	}
	if finite == len(want) || finite == 0 {
		t.Fatalf("reference has %d finite elements of %d: the test needs both kinds", finite, len(want))
	}
	g := kgGeometryOf(&p)
	raw := make([]float32, len(want))
	New(Options{Workers: 1}).kgInPlace(&g, in, og, raw)
	if _, ok := sameValues(raw, want, scale); ok {
		t.Error("the in-place form alone matched the reference: the case does not exercise the check")
	}
	for _, opts := range []Options{{Workers: 1}, {Workers: 2}, {Workers: 1, KernelGradGather: true}} {
		got := make([]float32, len(want))
		if err := New(opts).ConvKernelGrad(p, in, og, got); err != nil {
			t.Fatal(err)
		}
		if i, ok := sameValues(got, want, scale); !ok {
			t.Errorf("%+v: element %d = %g, want %g", opts, i, got[i], want[i])
		}
	}
}

// sameValues is closeTo for results that may hold ±Inf and NaN: those must
// match exactly in kind.
func sameValues(got []float32, want, scale []float64) (int, bool) {
	for i, w := range want {
		g := float64(got[i])
		switch {
		case math.IsNaN(w):
			if !math.IsNaN(g) {
				return i, false
			}
		case math.IsInf(w, 0):
			if g != w {
				return i, false
			}
		case math.IsNaN(g) || math.IsInf(g, 0) || math.Abs(g-w) > 1e-5*scale[i]+1e-6:
			return i, false
		}
	}
	return -1, true
}

// closeTo reports the first element of got farther from want than float32
// rounding of its terms allows.
func closeTo(got []float32, want, scale []float64) (int, bool) {
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= 1e-5*scale[i]+1e-6) {
			return i, false
		}
	}
	return -1, true
}

// TestConvKernelGradDetectsErrors is the mutation check of TestConvKernelGrad's
// comparison: a kernel gradient with one tap shifted by one pixel, or one term
// missing, must fail it.
func TestConvKernelGradDetectsErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	c := kernelGradCases[0]
	p := kernelGradParams(c)
	in := randSlice(r, c.batch*c.h*c.w*c.ci)
	og := randSlice(r, c.batch*p.OutSpatial[0]*p.OutSpatial[1]*c.co)
	want, scale := refKernelGrad(p, in, og)
	shifted := p
	shifted.Paddings = [][2]int{{1, 1}, {0, 2}} // every tap reads one column to the right
	got := make([]float32, len(want))
	if err := New(Options{Workers: 1}).ConvKernelGrad(shifted, in, og, got); err != nil {
		t.Fatal(err)
	}
	if _, ok := closeTo(got, want, scale); ok {
		t.Error("a kernel gradient with shifted taps passed the comparison")
	}
	if err := New(Options{Workers: 1}).ConvKernelGrad(p, in, og, got); err != nil {
		t.Fatal(err)
	}
	got[len(got)/2] += float32(1e-3 * scale[len(got)/2])
	if _, ok := closeTo(got, want, scale); ok {
		t.Error("a kernel gradient with one element off by 1e-3 of its scale passed the comparison")
	}
}

func TestConvKernelGradRejects(t *testing.T) {
	p := kernelGradParams(kernelGradCases[0])
	e := New(Options{Workers: 1})
	if err := e.ConvKernelGrad(p, make([]float32, 10), make([]float32, 10), make([]float32, 10)); err == nil {
		t.Error("short buffers accepted")
	}
	q := p
	q.InputDilations = []int{2, 2}
	if err := e.ConvKernelGrad(q, nil, nil, nil); err == nil {
		t.Error("input dilation accepted")
	}
}

// BenchmarkConvKernelGrad times ConvKernelGrad on the small ResNet's 3×3 layers at
// batch 64 (compare BenchmarkConvKernelGradient, the transposed-operand form),
// in its general (gather), in-place and (where it applies) Winograd forms, one
// after the other; at two threads also the in-place form split by tiles of
// the result ("units").
func BenchmarkConvKernelGrad(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct{ h, ci, co, s int }{{28, 32, 32, 1}, {14, 64, 64, 1}, {7, 128, 128, 1}, {4, 128, 128, 1}, {28, 32, 64, 2}} {
		o := outSize(c.h, 3, c.s, 1, 1, 1, 1)
		p := ConvParams{Batch: 64, InChannels: c.ci, OutChannels: c.co, InSpatial: []int{c.h, c.h},
			KernelSpatial: []int{3, 3}, OutSpatial: []int{o, o}, Strides: []int{c.s, c.s}, Paddings: [][2]int{{1, 1}, {1, 1}}}
		in := randSlice(r, 64*c.h*c.h*c.ci)
		og := randSlice(r, 64*o*o*c.co)
		kg := make([]float32, 9*c.ci*c.co)
		flops := 2 * float64(64*o*o) * float64(9*c.ci) * float64(c.co)
		for _, run := range []struct {
			workers int
			form    string
		}{{1, "gather"}, {1, "inplace"}, {1, "winograd"}, {2, "gather"}, {2, "units"}, {2, "inplace"}, {2, "winograd"}} {
			workers := run.workers
			e := New(Options{Workers: workers, KernelGradGather: run.form == "gather", KernelGradSplitUnits: run.form == "units",
				NoWinograd4: run.form == "inplace"})
			if run.form == "winograd" && !e.kgWinogradOK(&p) {
				continue
			}
			b.Run(fmt.Sprintf("%dx%dx%d_s%d_co%d/threads=%d/%s", c.h, c.h, c.ci, c.s, c.co, workers, run.form), func(b *testing.B) {
				benchGFLOPS(b, workers, flops, func() error { return e.ConvKernelGrad(p, in, og, kg) })
			})
		}
	}
}
