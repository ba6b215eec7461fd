package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestVec(t *testing.T) {
	if !HasAsmKernels() {
		t.Skip("no assembly kernels")
	}
	e := New(Options{})
	r := rand.New(rand.NewPCG(21, 22))
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-40, -3}
	for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 100, 1031} {
		x, y := randSlice(r, n), randSlice(r, n)
		for i := range x {
			if r.IntN(4) == 0 {
				x[i] = specials[r.IntN(len(specials))]
			}
			if r.IntN(4) == 0 {
				y[i] = specials[r.IntN(len(specials))]
			}
		}
		same := func(a, b float32) bool {
			if a != a || b != b {
				return a != a && b != b
			}
			return a == b // ±0 compare equal.
		}
		for op := VecAdd; op <= VecMin; op++ {
			d := make([]float32, n)
			if !e.VecBinary(op, d, x, y) {
				t.Fatal("VecBinary not run")
			}
			for i := range d {
				var want float32
				switch op {
				case VecAdd:
					want = x[i] + y[i]
				case VecSub:
					want = x[i] - y[i]
				case VecMul:
					want = x[i] * y[i]
				case VecDiv:
					want = x[i] / y[i]
				case VecMax:
					want = max(x[i], y[i])
				case VecMin:
					want = min(x[i], y[i])
				}
				if !same(d[i], want) {
					t.Fatalf("op %d n=%d: d[%d] = op(%g, %g) = %g, want %g", op, n, i, x[i], y[i], d[i], want)
				}
			}
		}
		d := make([]float32, n)
		e.VecSign(d, x)
		for i, v := range x {
			want := v
			if v > 0 {
				want = 1
			} else if v < 0 {
				want = -1
			}
			if !same(d[i], want) || (v == 0 && math.Signbit(float64(d[i])) != math.Signbit(float64(v))) {
				t.Fatalf("sign(%g) = %g, want %g", v, d[i], want)
			}
		}
	}
	if New(Options{PureGo: true}).VecBinary(VecAdd, nil, nil, nil) {
		t.Fatal("pure-Go engine ran assembly")
	}
}
