package fast

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/swav-go/swav/internal/gemm"
)

// expRef is what exp32 must reproduce bit for bit.
func expRef(v float32) float32 { return float32(math.Exp(float64(v))) }

// checkExp32 compares exp32 with expRef on xs, bit for bit (NaN matching NaN).
func checkExp32(t *testing.T, xs []float32) {
	t.Helper()
	checkExp32With(t, xs, false)
	if gemm.HasAsmKernels() {
		checkExp32With(t, xs, true)
	}
}

// checkExp32With is checkExp32 with or without the assembly.
func checkExp32With(t *testing.T, xs []float32, useAsm bool) {
	t.Helper()
	d := make([]float32, len(xs))
	exp32(d, xs, useAsm)
	bad := 0
	for j, v := range xs {
		want := expRef(v)
		if math.Float32bits(d[j]) != math.Float32bits(want) && !(d[j] != d[j] && want != want) {
			if bad++; bad <= 10 {
				t.Errorf("asm %v: exp32(%v = %#08x) = %v (%#08x), math.Exp gives %v (%#08x)", useAsm, v, math.Float32bits(v),
					d[j], math.Float32bits(d[j]), want, math.Float32bits(want))
			}
		}
	}
	if bad > 10 {
		t.Errorf("%d of %d values differ", bad, len(xs))
	}
}

// TestExp32Special: the ends of the fast range, the fallbacks on either side, ±0,
// ±Inf, NaN, subnormal results and overflow.
func TestExp32Special(t *testing.T) {
	xs := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, float32(math.Ln2), -float32(math.Ln2),
		expLo, expHi, math.Nextafter32(expLo, 0), math.Nextafter32(expLo, -100), math.Nextafter32(expHi, 0),
		math.Nextafter32(expHi, 100), -87.5, -100, -103.9, -104, -150, 88.5, 88.72, 88.73, 89, 1000,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-30, -1e-30, math.SmallestNonzeroFloat32,
		math.MaxFloat32, -math.MaxFloat32}
	checkExp32(t, xs)
	d := make([]float32, 3)
	exp32(d, []float32{0, float32(math.Inf(-1)), float32(math.Inf(1))}, gemm.HasAsmKernels())
	if d[0] != 1 || d[1] != 0 || !math.IsInf(float64(d[2]), 1) {
		t.Errorf("exp(0, -Inf, +Inf) = %v, want 1, 0, +Inf", d)
	}
}

// TestExp32Sampled: every 4099th float32 bit pattern (both signs, all exponents:
// about a million values) and a million random values in Sinkhorn's range.
func TestExp32Sampled(t *testing.T) {
	var xs []float32
	for b := uint64(0); b < 1<<32; b += 4099 {
		xs = append(xs, math.Float32frombits(uint32(b)))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1 << 20 {
		xs = append(xs, float32(-60+70*r.Float64()))
	}
	checkExp32(t, xs)
}

// TestExp32NearMidpoints: inputs whose float64 exponential lies close to a float32
// rounding midpoint (where a few ulps decide the rounding) are exactly those that
// take the fallback; this finds some by search and checks them.
func TestExp32NearMidpoints(t *testing.T) {
	var xs []float32
	for b := math.Float32bits(-20); len(xs) < 20 && b < math.Float32bits(-21); b++ {
		v := math.Float32frombits(b)
		low := int64(math.Float64bits(math.Exp(float64(v))) & (1<<29 - 1))
		if d := low - 1<<28; d >= -4*expMargin && d <= 4*expMargin {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		t.Fatal("no input near a rounding midpoint found in [-21, -20]")
	}
	checkExp32(t, xs)
}

// TestExpHotBitForBit: a hot Exp, fused into a chain and into a reduction (as
// Sinkhorn's log-sum-exp over a 3000×576-like odd-sized matrix), gives the same
// float32 bits with exp32 as with the "mathexp" option and as the delegate.
func TestExpHotBitForBit(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	vals := make([]float32, 301*77)
	for j := range vals {
		vals[j] = float32(-30 + 32*r.Float64())
	}
	vals[0], vals[1], vals[2] = -200, 95, 0
	x := tensors.FromFlatDataAndDimensions(vals, 301, 77)
	fn := func(in []*Node) []*Node {
		x := in[0]
		m := ReduceAndKeep(x, ReduceMax, 0)
		return []*Node{
			Exp(x),
			Exp(Sub(MulScalar(x, 0.5), m)),
			ReduceSum(Exp(Sub(x, m)), 0),
			ReduceSum(Exp(Sub(x, ReduceAndKeep(x, ReduceMax, 1))), 1),
		}
	}
	same := func(what string, got, want [][]float32, outputs int) {
		t.Helper()
		for i := range outputs {
			for j := range want[i] {
				if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
					t.Fatalf("%s: output %d [%d] = %v, want %v", what, i, j, got[i][j], want[i][j])
				}
			}
		}
	}
	in := []*tensors.Tensor{x}
	// The elementwise outputs equal the delegate's; the reductions add in another
	// order than the delegate, so they are compared with math.Exp in the same plan.
	ref := runGraph(t, newRef(t), fn, in)
	for _, cfg := range []string{"", "purego,workers=1"} {
		got := runGraph(t, newFast(t, cfg), fn, in)
		same("config "+cfg+" against the delegate", got, ref, 2)
		math := runGraph(t, newFast(t, cfg+",mathexp"), fn, in)
		same("config "+cfg+" against mathexp", got, math, len(got))
	}
}

func BenchmarkExp32(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float32, 4096)
	for j := range xs {
		xs[j] = float32(-40 * r.Float64())
	}
	d := make([]float32, len(xs))
	b.Run("go", func(b *testing.B) {
		for range b.N {
			exp32(d, xs, false)
		}
		b.SetBytes(4 * int64(len(xs)))
	})
	b.Run("asm", func(b *testing.B) {
		for range b.N {
			exp32(d, xs, gemm.HasAsmKernels())
		}
		b.SetBytes(4 * int64(len(xs)))
	})
	b.Run("math.Exp", func(b *testing.B) {
		for range b.N {
			for j, v := range xs {
				d[j] = expRef(v)
			}
		}
		b.SetBytes(4 * int64(len(xs)))
	})
}
