package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestConvKernelGradWinograd checks the Winograd F(4×4, 3×3) kernel gradient
// against the float64 definition on whole and overhanging 4×4 tiles (28, 14,
// 7, 9 and 6×10 outputs), paddings same, valid and asymmetric, channel counts
// off the micro-kernel's tile (40 = 6·6 + 4 inputs; 48 outputs, three panels),
// more tiles than one block (2·7·7 = 98 > 64) and one or two workers; and that
// ConvKernelGrad takes this form for them, except with KernelGradSplitUnits
// (which promises the same bits for any number of workers), NoWinograd or
// NoWinograd4.
func TestConvKernelGradWinograd(t *testing.T) {
	if !HasAsmKernels() {
		t.Skip("the Winograd kernel gradient needs the assembly transforms, which this CPU or build lacks")
	}
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	r := rand.New(rand.NewPCG(41, 42))
	for _, c := range []struct {
		batch, h, w, ci, co int
		pad                 [2][2]int
	}{
		{2, 28, 28, 32, 32, [2][2]int{{1, 1}, {1, 1}}},
		{3, 14, 14, 64, 64, [2][2]int{{1, 1}, {1, 1}}},
		{4, 7, 7, 128, 128, [2][2]int{{1, 1}, {1, 1}}},
		{2, 11, 11, 40, 48, [2][2]int{{0, 0}, {0, 0}}},
		{3, 6, 9, 32, 16, [2][2]int{{1, 1}, {2, 1}}},
	} {
		p := kernelGradParams(struct {
			batch, h, w, ci, co, kh, kw, s, d int
			pad                               [2][2]int
		}{c.batch, c.h, c.w, c.ci, c.co, 3, 3, 1, 1, c.pad})
		g := kgGeometryOf(&p)
		in := randSlice(r, c.batch*c.h*c.w*c.ci)
		og := randSlice(r, c.batch*p.OutSpatial[0]*p.OutSpatial[1]*c.co)
		want, scale := refKernelGrad(p, in, og)
		for _, workers := range []int{1, 2} {
			name := fmt.Sprintf("%+v/workers %d", c, workers)
			e := New(Options{Workers: workers})
			if !e.kgWinogradOK(&p) {
				t.Fatalf("%s: not eligible", name)
			}
			got := make([]float32, len(want))
			for i := range got {
				got[i] = float32(math.NaN()) // Every element must be overwritten.
			}
			e.kgWinograd(&g, in, og, got)
			if i, ok := closeTo(got, want, scale); !ok {
				t.Fatalf("%s: element %d = %g, want %g (scale %g)", name, i, got[i], want[i], scale[i])
			}
		}
		for _, opts := range []Options{{KernelGradSplitUnits: true}, {NoWinograd: true}, {NoWinograd4: true}} {
			if New(opts).kgWinogradOK(&p) {
				t.Errorf("%+v: Winograd kernel gradient with %+v", c, opts)
			}
		}
	}
	for _, c := range kernelGradCases {
		p := kernelGradParams(c)
		wantOK := c.kh == 3 && c.kw == 3 && c.s == 1 && c.d == 1 && c.ci >= 32 && c.ci%8 == 0 && c.co%16 == 0
		if got := New(Options{}).kgWinogradOK(&p); got != wantOK {
			t.Errorf("%+v: kgWinogradOK = %v, want %v", c, got, wantOK)
		}
	}
}
