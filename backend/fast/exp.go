package fast

import "math"

// exp32 sets d[j] = float32(math.Exp(float64(x[j]))) bit for bit, faster than
// calling math.Exp per element: 1.8× in Go, 7× with the assembly (SwAV's Sinkhorn
// and softmax evaluate ~30 million exponentials per step with 3000 prototypes).
//
// Each value is computed in float64 by a table-driven algorithm (exp32One) whose
// error is a few float64 ulps; math.Exp's is under one. Rounded to float32 (whose
// ulp is 2^29 float64 ulps) the two can differ only when the value lies within a
// few float64 ulps of a midpoint between two float32s: values within expMargin
// ulps of one (about one in a million), and every input outside [expLo, expHi]
// (float32 subnormals, overflow, NaN), are recomputed by math.Exp. Checked on
// every float32 input in [-88, 89], both paths (bench/README.md).
//
// With useAsm (an engine whose kernels use AVX2 and FMA), groups of 4 values run
// in assembly (expAsm, a different algorithm with the same guarantee), and the
// groups it declines, one value at a time here.
func exp32(d, x []float32, useAsm bool) {
	x = x[:len(d)]
	for len(d) > 0 {
		if useAsm {
			n := expAsm(d, x)
			d, x = d[n:], x[n:]
		}
		m := min(len(d), 4)
		for j, v := range x[:m] {
			d[j] = exp32One(v)
		}
		d, x = d[m:], x[m:]
		if !useAsm {
			for j, v := range x {
				d[j] = exp32One(v)
			}
			return
		}
	}
}

const (
	// expLo and expHi bound the inputs computed here: exp(-87) ≈ 1.6e-38 is above
	// float32's smallest normal (1.18e-38) and exp(88) ≈ 1.65e38 under its
	// largest (3.4e38), so every result there rounds as a normal float32.
	expLo = -87.0
	expHi = 88.0
	// expShift rounds to an integer when added (1.5·2^52).
	expShift = 0x1.8p52
	// expInvStep is 64/ln 2: x·64/ln 2 rounded is k, with x = k·ln2/64 + r.
	expInvStep = 64 / math.Ln2
	// expStepHi + expStepLo = ln2/64, the high part with 32 significant bits so
	// that k·expStepHi is exact for |k| < 2^13 (|k| ≤ 8128 here).
	expStepHi = 6.93147180369123816490e-01 / 64 // fdlibm's ln2_hi.
	expStepLo = 1.90821492927058770002e-10 / 64 // fdlibm's ln2_lo.
	// expMargin: float64 values whose 29 bits below float32 precision are within
	// this many units of the rounding midpoint (1<<28) are recomputed by math.Exp.
	// The algorithm's error against math.Exp is under 4 units.
	expMargin = 256
)

// expTable[j] = 2^(j/64).
var expTable = func() (t [64]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 64)
	}
	return t
}()

// exp32One is exp32 for one value.
func exp32One(v float32) float32 {
	x := float64(v)
	if !(x >= expLo && x <= expHi) { // Also NaN.
		return float32(math.Exp(x))
	}
	kf := x*expInvStep + expShift - expShift // round(x·64/ln2), exactly an integer.
	k := int64(kf)
	// r = x − k·ln2/64, |r| ≤ ln2/128 (+ rounding): k·expStepHi is exact.
	r := (x - kf*expStepHi) - kf*expStepLo
	// exp(r) − 1 by its Taylor series to r⁵ (truncation ≤ r⁶/720 < 4e-17).
	p := r * (1 + r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120)))))
	t := expTable[k&63]
	y := (t + t*p) * math.Float64frombits(uint64(1023+(k>>6))<<52)
	low := int64(math.Float64bits(y) & (1<<29 - 1))
	if low-1<<28 <= expMargin && 1<<28-low <= expMargin {
		return float32(math.Exp(x))
	}
	return float32(y)
}
