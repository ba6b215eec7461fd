//go:build amd64 && !purego

package fast

// expAVX2 sets d[j] = float32(math.Exp(float64(x[j]))) for j from 0 in groups of 4
// and returns how many it set: it stops before the first group of 4 with an input
// outside [expLo, expHi] (or NaN) or a value near a float32 rounding midpoint,
// and before fewer than 4 remain. It needs AVX2 and FMA (gemm.Engine.UsesAsm).
//
// Per lane: k = round(x/ln 2), r = x − k·ln 2 (|r| ≤ ln2/2, by FMA with ln 2 split
// in two), exp(r) by its Taylor series to r¹² in Horner form (truncation under
// 2e-16), scaled by 2^k through the exponent bits. Its error against math.Exp is a
// few float64 ulps, against the expMargin-ulp window around each midpoint.
//
//go:noescape
func expAVX2(d, x *float32, n int) int

// expAsm is expAVX2 on slices (x at least as long as d).
func expAsm(d, x []float32) int {
	if len(d) < 4 {
		return 0
	}
	return expAVX2(&d[0], &x[0], len(d))
}
