package checkpoint

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestFloat16Known(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{3.25, 0x4280},
		{-0.125, 0xb000},
		{0.1, 0x2e66},
		{1e-3, 0x1419},
		{65504, 0x7bff},       // largest finite
		{65519, 0x7bff},       // rounds down
		{65520, 0x7c00},       // halfway to 2^16: ties to even -> Inf
		{1e10, 0x7c00},        // overflow
		{-1e10, 0xfc00},       // overflow
		{0x1p-14, 0x0400},     // smallest normal
		{0x1p-24, 0x0001},     // smallest subnormal
		{0x1p-25, 0x0000},     // half of it: ties to even -> 0
		{0x1.8p-25, 0x0001},   // above half -> rounds up
		{0x3p-25, 0x0002},     // 1.5 × smallest subnormal: tie -> even (2)
		{0x1.ffcp-15, 0x0400}, // tie just below 2^-14: rounds to even, the smallest normal
		{0x1.002p0, 0x3c00},   // 1 + 2^-11: tie -> even (1)
		{0x1.006p0, 0x3c02},   // 1 + 3×2^-11: tie -> even (1 + 2^-9)
		{1e-30, 0x0000},       // underflow
		{0x1p-149, 0x0000},    // float32 subnormal
		{float32(math.Inf(1)), 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
	}
	for _, tc := range tests {
		if got := float32ToFloat16(tc.in); got != tc.want {
			t.Errorf("float32ToFloat16(%g) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
	nan := float32ToFloat16(float32(math.NaN()))
	if nan&0x7c00 != 0x7c00 || nan&0x3ff == 0 {
		t.Errorf("NaN -> %#04x, not a NaN", nan)
	}
}

// TestFloat16Exhaustive checks every binary16 value against its definition
// and that narrowing the widened value gives the same bits back.
func TestFloat16Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := float16ToFloat32(h)
		exp, mant := int(h>>10)&0x1f, float64(h&0x3ff)
		var want float64
		switch exp {
		case 0:
			want = mant * 0x1p-24
		case 0x1f:
			want = math.Inf(1)
			if mant != 0 {
				want = math.NaN()
			}
		default:
			want = (1 + mant/1024) * math.Ldexp(1, exp-15)
		}
		if h&0x8000 != 0 {
			want = -want
		}
		if math.IsNaN(want) {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("%#04x -> %g, want NaN", h, f)
			}
			continue
		}
		if float64(f) != want || math.Signbit(float64(f)) != (h&0x8000 != 0) {
			t.Fatalf("%#04x -> %g, want %g", h, f, want)
		}
		if back := float32ToFloat16(f); back != h {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, back)
		}
	}
}

// TestFloat16Nearest checks on random float32 values that the conversion
// picks the nearest binary16 value (ties to even), using float64 arithmetic
// as the reference.
func TestFloat16Nearest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		x := math.Float32frombits(r.Uint32())
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			continue
		}
		h := float32ToFloat16(x)
		got := float64(float16ToFloat32(h))
		if math.Abs(float64(x)) >= 65520 {
			if !math.IsInf(got, 0) || math.Signbit(got) != math.Signbit(float64(x)) {
				t.Fatalf("%g -> %g, want ±Inf", x, got)
			}
			continue
		}
		// Neighbours one unit below and above in binary16 magnitude.
		mag := h & 0x7fff
		err := math.Abs(got - float64(x))
		for _, n := range []uint16{mag - 1, mag + 1} {
			if mag == 0 && n == 0xffff || n >= 0x7c00 {
				continue
			}
			other := float64(float16ToFloat32(n | h&0x8000))
			oerr := math.Abs(other - float64(x))
			if oerr < err || (oerr == err && n&1 == 0) {
				t.Fatalf("%g -> %#04x (%g), but %#04x (%g) is nearer or an even tie", x, h, got, n|h&0x8000, other)
			}
		}
	}
}
