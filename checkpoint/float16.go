package checkpoint

import "math"

// IEEE 754 binary16 conversions, implemented here to keep the package free of
// extra dependencies.
//
// binary16 layout: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
// binary32 layout: 1 sign bit, 8 exponent bits (bias 127), 23 mantissa bits.

// float32ToFloat16 rounds f to the nearest binary16 value, ties to even.
// Values too large for binary16 become ±Inf, values too small become ±0 (or
// a subnormal), and NaN stays NaN (quiet, keeping the top payload bits).
func float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff

	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00 // ±Inf
		}
		return sign | 0x7c00 | 0x0200 | uint16(mant>>13) // quiet NaN
	}

	// Unbiased exponent re-biased for binary16.
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00 // overflow: ±Inf
	}

	if e >= 1 {
		// Normal binary16: keep the top 10 mantissa bits, round on the
		// 13 dropped bits. A carry out of the mantissa correctly bumps the
		// exponent (and turns the largest finite value into Inf).
		h := uint16(e)<<10 | uint16(mant>>13)
		rest := mant & 0x1fff
		if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
			h++
		}
		return sign | h
	}

	// Subnormal (or zero) binary16: the value is m × 2^-24. With the implicit
	// leading one made explicit, m = full >> (14 - e).
	shift := uint32(14 - e)
	if shift > 24 {
		// Below half of the smallest subnormal (2^-25): rounds to zero.
		// This also covers float32 zeros and subnormals.
		return sign
	}
	full := mant | 0x800000
	m := full >> shift
	rest := full & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rest > half || (rest == half && m&1 == 1) {
		m++ // may carry into the smallest normal, which is the right encoding
	}
	return sign | uint16(m)
}

// float16ToFloat32 widens a binary16 value to float32; every binary16 value,
// including subnormals, infinities and NaN payloads, is represented exactly.
func float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal mant × 2^-24: normalise so the leading one becomes the
		// implicit bit of a float32 normal.
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}
