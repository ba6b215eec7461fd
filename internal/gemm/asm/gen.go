// Command asm generates the AVX2/FMA micro-kernels (and AVX2 elementwise
// kernels and CPUID helpers) of package gemm with avo.
//
// It lives in its own Go module so that avo never enters the build graph of
// the SDK: only `go generate ./internal/gemm` (which runs `go run -C asm .`)
// needs it. Run from internal/gemm:
//
//	go run -C asm . -out ../kernel_amd64.s -stubs ../kernel_amd64.go -pkg gemm
//
// Both kernels compute one 6×16 tile of C with 12 YMM accumulators
// (6 rows × 2 vectors of 8 floats), broadcasting one element of A per row
// and loading 16 contiguous floats of a packed B panel per step of k:
//
//	C[6×16] = alpha · Σ_p A[i,p]·B[p,j] + beta · C     (C read only if beta ≠ +0)
//
// They differ only in how the rows of A are addressed:
//   - kernel6x16: A[i,p] at a + i·rsA + p·csA (elements). This covers packed
//     panels (rsA=1, csA=6), row-major A read in place (rsA=lda, csA=1) and
//     transposed A read in place (rsA=1, csA=lda).
//   - kernel6x16Indirect: k is split into taps of tapLen contiguous elements;
//     for tap t, row i starts at ptrs[6·t+i]. This is the indirect convolution
//     form: the pointers point into the NHWC input (or to a zero row for
//     padding), so convolutions never materialise im2col nor pack A.
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

const (
	mr = 6
	nr = 16
)

// acc returns the accumulator register for row i and half h (0: columns 0-7, 1: 8-15).
func acc(i, h int) reg.VecPhysical {
	all := []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5,
		reg.Y6, reg.Y7, reg.Y8, reg.Y9, reg.Y10, reg.Y11}
	return all[2*i+h]
}

var (
	bLo, bHi = reg.Y12, reg.Y13
	bcast    = []reg.VecPhysical{reg.Y14, reg.Y15}
)

func zeroAccumulators() {
	for i := 0; i < mr; i++ {
		for h := 0; h < 2; h++ {
			VXORPS(acc(i, h), acc(i, h), acc(i, h))
		}
	}
}

// fmaStep emits one rank-1 update: load 16 floats of B at bPtr, then for each
// row broadcast its element (given by rowMem) and accumulate.
func fmaStep(bPtr reg.Register, rowMem func(i int) Mem) {
	VMOVUPS(Mem{Base: bPtr}, bLo)
	VMOVUPS(Mem{Base: bPtr, Disp: 32}, bHi)
	for i := 0; i < mr; i++ {
		t := bcast[i%2]
		VBROADCASTSS(rowMem(i), t)
		VFMADD231PS(bLo, t, acc(i, 0))
		VFMADD231PS(bHi, t, acc(i, 1))
	}
}

// epilogue scales the accumulators by alpha, adds beta·C when beta ≠ +0 and
// stores the 6×16 tile to C (row stride ldc elements).
func epilogue(name string) {
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	c3 := GP64()
	LEAQ(Mem{Base: c, Index: ldc, Scale: 2}, c3)
	ADDQ(ldc, c3)
	rowAddr := func(i, h int) Mem {
		base := c
		if i >= 3 {
			base = c3
		}
		m := Mem{Base: base, Disp: 32 * h}
		switch i % 3 {
		case 1:
			m.Index, m.Scale = ldc, 1
		case 2:
			m.Index, m.Scale = ldc, 2
		}
		return m
	}
	alpha := bcast[0]
	VBROADCASTSS(paramAddr("alpha"), alpha)
	for i := 0; i < mr; i++ {
		for h := 0; h < 2; h++ {
			VMULPS(alpha, acc(i, h), acc(i, h))
		}
	}
	betaBits := GP32()
	MOVL(paramAddr("beta"), betaBits)
	TESTL(betaBits, betaBits)
	JZ(LabelRef(name + "_store"))
	beta := bcast[1]
	VBROADCASTSS(paramAddr("beta"), beta)
	for i := 0; i < mr; i++ {
		for h := 0; h < 2; h++ {
			VFMADD231PS(rowAddr(i, h), beta, acc(i, h))
		}
	}
	Label(name + "_store")
	for i := 0; i < mr; i++ {
		for h := 0; h < 2; h++ {
			VMOVUPS(acc(i, h), rowAddr(i, h))
		}
	}
	VZEROUPPER()
	RET()
}

// paramAddr returns the stack address of a scalar argument of the current function.
func paramAddr(name string) Mem {
	basic, err := Param(name).Resolve()
	if err != nil {
		panic(fmt.Errorf("resolving parameter %q: %w", name, err))
	}
	return basic.Addr
}

func genStrided() {
	TEXT("kernel6x16", NOSPLIT, "func(kc int, a *float32, rsA, csA int, b *float32, c *float32, ldc int, alpha float32, beta float32)")
	Doc("kernel6x16 computes a 6×16 tile: C = alpha·A·B + beta·C, with A[i,p] at a+i·rsA+p·csA",
		"(elements), B a packed panel of kc rows of 16 floats and C row-major with stride ldc.",
		"C is not read when beta is +0. kc must be ≥ 0.")
	kc := Load(Param("kc"), GP64())
	a := Load(Param("a"), GP64())
	rs := Load(Param("rsA"), GP64())
	cs := Load(Param("csA"), GP64())
	b := Load(Param("b"), GP64())
	SHLQ(U8(2), rs)
	SHLQ(U8(2), cs)
	a3 := GP64()
	LEAQ(Mem{Base: a, Index: rs, Scale: 2}, a3)
	ADDQ(rs, a3)
	zeroAccumulators()
	TESTQ(kc, kc)
	JZ(LabelRef("strided_done"))
	Label("strided_loop")
	fmaStep(b, func(i int) Mem {
		base := a
		if i >= 3 {
			base = a3
		}
		m := Mem{Base: base}
		switch i % 3 {
		case 1:
			m.Index, m.Scale = rs, 1
		case 2:
			m.Index, m.Scale = rs, 2
		}
		return m
	})
	ADDQ(cs, a)
	ADDQ(cs, a3)
	ADDQ(U8(64), b)
	DECQ(kc)
	JNZ(LabelRef("strided_loop"))
	Label("strided_done")
	epilogue("strided")
}

func genIndirect() {
	TEXT("kernel6x16Indirect", NOSPLIT, "func(ntaps int, ptrs *float32, tapLen int, b *float32, c *float32, ldc int, alpha float32, beta float32)")
	Doc("kernel6x16Indirect computes a 6×16 tile: C = alpha·A·B + beta·C where the reduction runs",
		"over ntaps taps of tapLen elements; row i of tap t starts at ptrs[6·t+i] (an array of",
		"unsafe.Pointer), and B is a packed panel of ntaps·tapLen rows of 16 floats.",
		"C is not read when beta is +0.")
	ntaps := Load(Param("ntaps"), GP64())
	ptrs := Load(Param("ptrs"), GP64())
	tapLen := Load(Param("tapLen"), GP64())
	b := Load(Param("b"), GP64())
	zeroAccumulators()
	rows := make([]reg.GPVirtual, mr)
	for i := range rows {
		rows[i] = GP64()
	}
	idx := GP64()
	TESTQ(ntaps, ntaps)
	JZ(LabelRef("indirect_done"))
	TESTQ(tapLen, tapLen)
	JZ(LabelRef("indirect_done"))
	Label("indirect_tap")
	for i := 0; i < mr; i++ {
		MOVQ(Mem{Base: ptrs, Disp: 8 * i}, rows[i])
	}
	XORQ(idx, idx)
	Label("indirect_loop")
	fmaStep(b, func(i int) Mem { return Mem{Base: rows[i], Index: idx, Scale: 4} })
	ADDQ(U8(64), b)
	INCQ(idx)
	CMPQ(idx, tapLen)
	JL(LabelRef("indirect_loop"))
	ADDQ(U8(8*mr), ptrs)
	DECQ(ntaps)
	JNZ(LabelRef("indirect_tap"))
	Label("indirect_done")
	epilogue("indirect")
}

func genCPUID() {
	TEXT("cpuid", NOSPLIT, "func(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)")
	Doc("cpuid executes the CPUID instruction for the given leaf and sub-leaf.")
	Load(Param("leaf"), reg.EAX)
	Load(Param("subleaf"), reg.ECX)
	CPUID()
	Store(reg.EAX, Return("eax"))
	Store(reg.EBX, Return("ebx"))
	Store(reg.ECX, Return("ecx"))
	Store(reg.EDX, Return("edx"))
	RET()

	TEXT("xgetbv0", NOSPLIT, "func() (eax, edx uint32)")
	Doc("xgetbv0 reads extended control register XCR0 (only valid when CPUID reports OSXSAVE).")
	XORL(reg.ECX, reg.ECX)
	XGETBV()
	Store(reg.EAX, Return("eax"))
	Store(reg.EDX, Return("edx"))
	RET()
}

// genVecBinary emits vec<Name>(d, x, y *float32, n int): d[i] = op(x[i], y[i])
// for i < n, n a multiple of 16 (the Go wrapper handles the tail).
func genVecBinary(name string, op func(x, y, dst reg.VecPhysical)) {
	TEXT("vec"+name, NOSPLIT, "func(d, x, y *float32, n int)")
	Doc(fmt.Sprintf("vec%s computes d[i] = %s(x[i], y[i]) for i < n (n a multiple of 16).", name, name))
	d := Load(Param("d"), GP64())
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	n := Load(Param("n"), GP64())
	i := GP64()
	XORQ(i, i)
	Label("vec" + name + "_loop")
	CMPQ(i, n)
	JGE(LabelRef("vec" + name + "_done"))
	for u := 0; u < 2; u++ {
		xr, yr := []reg.VecPhysical{reg.Y0, reg.Y1}[u], []reg.VecPhysical{reg.Y2, reg.Y3}[u]
		VMOVUPS(Mem{Base: x, Index: i, Scale: 4, Disp: 32 * u}, xr)
		VMOVUPS(Mem{Base: y, Index: i, Scale: 4, Disp: 32 * u}, yr)
		out := []reg.VecPhysical{reg.Y4, reg.Y5}[u]
		op(xr, yr, out)
		VMOVUPS(out, Mem{Base: d, Index: i, Scale: 4, Disp: 32 * u})
	}
	ADDQ(U8(16), i)
	JMP(LabelRef("vec" + name + "_loop"))
	Label("vec" + name + "_done")
	VZEROUPPER()
	RET()
}

// nanFix makes dst = x where x is NaN (VMAXPS/VMINPS already return y when
// y is NaN), so that max and min propagate NaN like XLA. Uses Y6.
func nanFix(x, dst reg.VecPhysical) {
	VCMPPS(U8(3), x, x, reg.Y6) // UNORD_Q: x is NaN.
	VBLENDVPS(reg.Y6, x, dst, dst)
}

func genVec() {
	genVecBinary("Add", func(x, y, dst reg.VecPhysical) { VADDPS(y, x, dst) })
	genVecBinary("Sub", func(x, y, dst reg.VecPhysical) { VSUBPS(y, x, dst) })
	genVecBinary("Mul", func(x, y, dst reg.VecPhysical) { VMULPS(y, x, dst) })
	genVecBinary("Div", func(x, y, dst reg.VecPhysical) { VDIVPS(y, x, dst) })
	genVecBinary("Max", func(x, y, dst reg.VecPhysical) { VMAXPS(y, x, dst); nanFix(x, dst) })
	genVecBinary("Min", func(x, y, dst reg.VecPhysical) { VMINPS(y, x, dst); nanFix(x, dst) })

	TEXT("vecSign", NOSPLIT, "func(d, x *float32, n int)")
	Doc("vecSign computes d[i] = sign(x[i]) (±1, or x[i] itself for ±0 and NaN) for i < n (a multiple of 8).")
	d := Load(Param("d"), GP64())
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	tmp := GP32()
	MOVL(U32(0x3f800000), tmp) // 1.0
	MOVD(tmp, reg.X7)
	VBROADCASTSS(reg.X7, reg.Y7)
	MOVL(U32(0x80000000), tmp) // sign bit
	MOVD(tmp, reg.X8)
	VBROADCASTSS(reg.X8, reg.Y8)
	i := GP64()
	XORQ(i, i)
	Label("vecSign_loop")
	CMPQ(i, n)
	JGE(LabelRef("vecSign_done"))
	VMOVUPS(Mem{Base: x, Index: i, Scale: 4}, reg.Y0)
	VANDPS(reg.Y8, reg.Y0, reg.Y1)         // sign of x
	VORPS(reg.Y7, reg.Y1, reg.Y1)          // ±1
	VXORPS(reg.Y2, reg.Y2, reg.Y2)         // 0
	VCMPPS(U8(12), reg.Y2, reg.Y0, reg.Y3) // NEQ_OQ: x ≠ 0 and not NaN.
	VBLENDVPS(reg.Y3, reg.Y1, reg.Y0, reg.Y0)
	VMOVUPS(reg.Y0, Mem{Base: d, Index: i, Scale: 4})
	ADDQ(U8(8), i)
	JMP(LabelRef("vecSign_loop"))
	Label("vecSign_done")
	VZEROUPPER()
	RET()
}

// loadFloatsAsBytes loads the integer parameter name, a count of float32s,
// and scales it to bytes.
func loadFloatsAsBytes(name string) reg.Register {
	r := Load(Param(name), GP64())
	SHLQ(U8(2), r)
	return r
}

// endChannelLoop closes a transform's loop over channels (eight per step,
// offset off in bytes) opened at label+"_loop", and returns.
func endChannelLoop(label string, off reg.Register) {
	ADDQ(U8(32), off)
	JMP(LabelRef(label + "_loop"))
	Label(label + "_done")
	VZEROUPPER()
	RET()
}

// genWinograd emits the Winograd F(2×2, 3×3) transforms of winograd.go, eight
// channels per step over n channels (a multiple of 8):
//   - winoIn(dst, stride, ptrs, n): V = Bᵀ d B for one 4×4 input tile, where
//     ptrs[4i+j] points to the channel vector of tile pixel (i, j) and V[e]
//     is stored at dst + e·stride (floats);
//   - winoOut(outs, src, stride, n): Y = Aᵀ M A for one tile, M[e] read at
//     src + e·stride, Y[dy][dx] stored at outs[2·dy+dx].
func genWinograd() {
	TEXT("winoIn", NOSPLIT, "func(dst *float32, stride int, ptrs *uintptr, n int)")
	Doc("winoIn computes the Winograd F(2×2, 3×3) input transform Bᵀ d B of one tile (see genWinograd).")
	dst := Load(Param("dst"), GP64())
	sb := loadFloatsAsBytes("stride")
	ptrs := Load(Param("ptrs"), GP64())
	n := loadFloatsAsBytes("n")
	off := GP64()
	XORQ(off, off)
	pa, pb, out := GP64(), GP64(), GP64()
	Label("winoIn_loop")
	CMPQ(off, n)
	JGE(LabelRef("winoIn_done"))
	MOVQ(dst, out)
	ADDQ(off, out)
	// Row i of s = Bᵀ d combines input rows (a, b): s = d_a ∓ d_b.
	rowsAB := [4][2]int{{0, 2}, {1, 2}, {2, 1}, {1, 3}}
	for i := 0; i < 4; i++ {
		a, b := rowsAB[i][0], rowsAB[i][1]
		sv := []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3}
		for j := 0; j < 4; j++ {
			MOVQ(Mem{Base: ptrs, Disp: 8 * (4*a + j)}, pa)
			MOVQ(Mem{Base: ptrs, Disp: 8 * (4*b + j)}, pb)
			VMOVUPS(Mem{Base: pa, Index: off, Scale: 1}, reg.Y4)
			VMOVUPS(Mem{Base: pb, Index: off, Scale: 1}, reg.Y5)
			if i == 1 {
				VADDPS(reg.Y5, reg.Y4, sv[j])
			} else {
				VSUBPS(reg.Y5, reg.Y4, sv[j]) // d_a − d_b
			}
		}
		// v = s B: [s0−s2, s1+s2, s2−s1, s1−s3].
		VSUBPS(reg.Y2, reg.Y0, reg.Y6)
		VADDPS(reg.Y2, reg.Y1, reg.Y7)
		VSUBPS(reg.Y1, reg.Y2, reg.Y8)
		VSUBPS(reg.Y3, reg.Y1, reg.Y9)
		for _, v := range []reg.VecPhysical{reg.Y6, reg.Y7, reg.Y8, reg.Y9} {
			VMOVUPS(v, Mem{Base: out})
			ADDQ(sb, out)
		}
	}
	endChannelLoop("winoIn", off)

	TEXT("winoOut", NOSPLIT, "func(outs *uintptr, src *float32, stride int, n int)")
	Doc("winoOut computes the Winograd F(2×2, 3×3) output transform Aᵀ M A of one tile (see genWinograd).")
	outs := Load(Param("outs"), GP64())
	src := Load(Param("src"), GP64())
	sb2 := loadFloatsAsBytes("stride")
	n2 := loadFloatsAsBytes("n")
	off2 := GP64()
	XORQ(off2, off2)
	q, o := GP64(), GP64()
	Label("winoOut_loop")
	CMPQ(off2, n2)
	JGE(LabelRef("winoOut_done"))
	s0 := []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3}
	s1 := []reg.VecPhysical{reg.Y4, reg.Y5, reg.Y6, reg.Y7}
	for j := 0; j < 4; j++ {
		// q_e for e = j, 4+j, 8+j, 12+j at src + e·stride + off.
		MOVQ(src, q)
		ADDQ(off2, q)
		for k := 0; k < j; k++ {
			ADDQ(sb2, q)
		}
		ld := []reg.VecPhysical{reg.Y8, reg.Y9, reg.Y10, reg.Y11}
		for r := 0; r < 4; r++ {
			VMOVUPS(Mem{Base: q}, ld[r])
			if r < 3 {
				for k := 0; k < 4; k++ {
					ADDQ(sb2, q)
				}
			}
		}
		VADDPS(reg.Y9, reg.Y8, s0[j])
		VADDPS(reg.Y10, s0[j], s0[j])
		VSUBPS(reg.Y10, reg.Y9, s1[j])
		VSUBPS(reg.Y11, s1[j], s1[j])
	}
	for dy := 0; dy < 2; dy++ {
		s := [][]reg.VecPhysical{s0, s1}[dy]
		VADDPS(s[1], s[0], reg.Y12)
		VADDPS(s[2], reg.Y12, reg.Y12)
		MOVQ(Mem{Base: outs, Disp: 8 * (2 * dy)}, o)
		VMOVUPS(reg.Y12, Mem{Base: o, Index: off2, Scale: 1})
		VSUBPS(s[2], s[1], reg.Y13)
		VSUBPS(s[3], reg.Y13, reg.Y13)
		MOVQ(Mem{Base: outs, Disp: 8 * (2*dy + 1)}, o)
		VMOVUPS(reg.Y13, Mem{Base: o, Index: off2, Scale: 1})
	}
	endChannelLoop("winoOut", off2)
}

// broadcastConst fills y with eight copies of the float32 v (through a
// general-purpose register, so the kernels need no data section).
func broadcastConst(v float32, y reg.VecPhysical) {
	r := GP32()
	MOVL(U32(math.Float32bits(v)), r)
	x := y.AsX()
	VMOVD(r, x)
	VBROADCASTSS(x, y)
}

// wino4InRows emits the 1-D input transform of Winograd F(4×4, 3×3) on the six
// vectors d = Y0…Y5 with Bᵀ rows [4 0 −5 0 1 0], [0 −4 −4 1 1 0],
// [0 4 −4 −1 1 0], [0 −2 −1 2 1 0], [0 2 −1 −2 1 0], [0 4 0 −5 0 1]
// (four in Y13, five in Y14, two in Y15) and returns the registers that
// hold t0…t5.
func wino4InRows() [6]reg.VecPhysical {
	four, five, two := reg.Y13, reg.Y14, reg.Y15
	VADDPS(reg.Y2, reg.Y1, reg.Y6)      // d1 + d2
	VADDPS(reg.Y4, reg.Y3, reg.Y7)      // d3 + d4
	VFNMADD231PS(reg.Y6, four, reg.Y7)  // t1 = d3 + d4 − 4(d1 + d2)
	VSUBPS(reg.Y2, reg.Y1, reg.Y8)      // d1 − d2
	VSUBPS(reg.Y3, reg.Y4, reg.Y9)      // d4 − d3
	VFMADD231PS(reg.Y8, four, reg.Y9)   // t2 = d4 − d3 + 4(d1 − d2)
	VSUBPS(reg.Y2, reg.Y4, reg.Y10)     // d4 − d2
	VSUBPS(reg.Y1, reg.Y3, reg.Y11)     // d3 − d1
	VMOVAPS(reg.Y10, reg.Y12)           //
	VFMADD231PS(reg.Y11, two, reg.Y12)  // t3 = d4 − d2 + 2(d3 − d1)
	VFNMADD231PS(reg.Y11, two, reg.Y10) // t4 = d4 − d2 − 2(d3 − d1)
	VFMADD231PS(reg.Y0, four, reg.Y4)   // d4 + 4d0
	VFNMADD231PS(reg.Y2, five, reg.Y4)  // t0 = 4d0 − 5d2 + d4
	VFMADD231PS(reg.Y1, four, reg.Y5)   // d5 + 4d1
	VFNMADD231PS(reg.Y3, five, reg.Y5)  // t5 = 4d1 − 5d3 + d5
	return [6]reg.VecPhysical{reg.Y4, reg.Y7, reg.Y9, reg.Y12, reg.Y10, reg.Y5}
}

// wino4OutRows emits the 1-D output transform of Winograd F(4×4, 3×3) on the
// six vectors m = Y0…Y5 with Aᵀ rows [1 1 1 1 1 0], [0 1 −1 2 −2 0],
// [0 1 1 4 4 0], [0 1 −1 8 −8 1] (two in Y13, four in Y14, eight in Y15) and
// returns the registers that hold y0…y3.
func wino4OutRows() [4]reg.VecPhysical {
	two, four, eight := reg.Y13, reg.Y14, reg.Y15
	VADDPS(reg.Y2, reg.Y1, reg.Y6)     // m1 + m2
	VSUBPS(reg.Y2, reg.Y1, reg.Y7)     // m1 − m2
	VADDPS(reg.Y4, reg.Y3, reg.Y8)     // m3 + m4
	VSUBPS(reg.Y4, reg.Y3, reg.Y9)     // m3 − m4
	VADDPS(reg.Y6, reg.Y0, reg.Y0)     //
	VADDPS(reg.Y8, reg.Y0, reg.Y0)     // y0 = m0 + (m1 + m2) + (m3 + m4)
	VMOVAPS(reg.Y7, reg.Y10)           //
	VFMADD231PS(reg.Y9, two, reg.Y10)  // y1 = (m1 − m2) + 2(m3 − m4)
	VFMADD231PS(reg.Y8, four, reg.Y6)  // y2 = (m1 + m2) + 4(m3 + m4)
	VADDPS(reg.Y5, reg.Y7, reg.Y7)     //
	VFMADD231PS(reg.Y9, eight, reg.Y7) // y3 = (m1 − m2) + 8(m3 − m4) + m5
	return [4]reg.VecPhysical{reg.Y0, reg.Y10, reg.Y6, reg.Y7}
}

// genWinograd4 emits the Winograd F(4×4, 3×3) transforms of winograd.go, eight
// channels per step over n channels (a multiple of 8), each as two passes of
// the 1-D transform through tmp (36 vectors of 8 floats, the caller's):
//   - winoIn4(dst, stride, ptrs, n, tmp): V = Bᵀ d B for one 6×6 input tile,
//     ptrs[6i+j] pointing to the channel vector of tile pixel (i, j), V[e]
//     stored at dst + e·stride (floats);
//   - winoOut4(outs, src, stride, n, tmp): Y = Aᵀ M A for one tile, M[e] read
//     at src + e·stride, Y[dy][dx] stored at outs[4·dy+dx].
func genWinograd4() {
	genInputTransform("winoIn4",
		"winoIn4 computes the Winograd F(4×4, 3×3) input transform Bᵀ d B of one tile (see genWinograd4).",
		6, []vecConst{{4, reg.Y13}, {5, reg.Y14}, {2, reg.Y15}}, wino4InRows)

	TEXT("winoOut4", NOSPLIT, "func(outs *uintptr, src *float32, stride int, n int, tmp *float32)")
	Doc("winoOut4 computes the Winograd F(4×4, 3×3) output transform Aᵀ M A of one tile (see genWinograd4).")
	outs := Load(Param("outs"), GP64())
	src := Load(Param("src"), GP64())
	sb2 := loadFloatsAsBytes("stride")
	n2 := loadFloatsAsBytes("n")
	tmp2 := Load(Param("tmp"), GP64())
	sb6 := GP64() // six elements of M: one row of the tile
	MOVQ(sb2, sb6)
	IMUL3Q(U32(6), sb6, sb6)
	broadcastConst(2, reg.Y13)
	broadcastConst(4, reg.Y14)
	broadcastConst(8, reg.Y15)
	off2 := GP64()
	XORQ(off2, off2)
	q, o := GP64(), GP64()
	Label("winoOut4_loop")
	CMPQ(off2, n2)
	JGE(LabelRef("winoOut4_done"))
	// Pass 1, per tile column k: a = Aᵀ M[·][k] into tmp[6·dy + k].
	MOVQ(src, q)
	ADDQ(off2, q)
	for k := 0; k < 6; k++ {
		MOVQ(q, o)
		for r := 0; r < 6; r++ {
			VMOVUPS(Mem{Base: o}, []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5}[r])
			if r < 5 {
				ADDQ(sb6, o)
			}
		}
		for dy, a := range wino4OutRows() {
			VMOVUPS(a, Mem{Base: tmp2, Disp: 32 * (6*dy + k)})
		}
		if k < 5 {
			ADDQ(sb2, q)
		}
	}
	// Pass 2, per output row dy: Y[dy][·] = a[dy][·] A.
	for dy := 0; dy < 4; dy++ {
		for k := 0; k < 6; k++ {
			VMOVUPS(Mem{Base: tmp2, Disp: 32 * (6*dy + k)}, []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5}[k])
		}
		for dx, y := range wino4OutRows() {
			MOVQ(Mem{Base: outs, Disp: 8 * (4*dy + dx)}, o)
			VMOVUPS(y, Mem{Base: o, Index: off2, Scale: 1})
		}
	}
	endChannelLoop("winoOut4", off2)
}

// wino4GradRows emits the 1-D transform A·g of the output gradient's
// Winograd F(4×4, 3×3) kernel gradient on the four vectors g = Y0…Y3, A being
// the forward Aᵀ transposed (rows [1 0 0 0], [1 1 1 1], [1 −1 1 −1],
// [1 2 4 8], [1 −2 4 −8], [0 0 0 1]; two in Y14, four in Y15), and returns the
// registers that hold u0…u5.
func wino4GradRows() [6]reg.VecPhysical {
	two, four := reg.Y14, reg.Y15
	VADDPS(reg.Y2, reg.Y0, reg.Y4)    // g0 + g2
	VADDPS(reg.Y3, reg.Y1, reg.Y5)    // g1 + g3
	VADDPS(reg.Y5, reg.Y4, reg.Y6)    // u1 = (g0 + g2) + (g1 + g3)
	VSUBPS(reg.Y5, reg.Y4, reg.Y7)    // u2 = (g0 + g2) − (g1 + g3)
	VMOVAPS(reg.Y0, reg.Y8)           //
	VFMADD231PS(reg.Y2, four, reg.Y8) // g0 + 4g2
	VMOVAPS(reg.Y1, reg.Y9)           //
	VFMADD231PS(reg.Y3, four, reg.Y9) // g1 + 4g3
	VMOVAPS(reg.Y8, reg.Y10)          //
	VFMADD231PS(reg.Y9, two, reg.Y10) // u3 = g0 + 4g2 + 2(g1 + 4g3)
	VFNMADD231PS(reg.Y9, two, reg.Y8) // u4 = g0 + 4g2 − 2(g1 + 4g3)
	return [6]reg.VecPhysical{reg.Y0, reg.Y6, reg.Y7, reg.Y10, reg.Y8, reg.Y3}
}

// genWinogradGrad4 emits the output-gradient transform of the Winograd
// F(4×4, 3×3) kernel gradient (convgrad_winograd.go), eight channels per step
// over n channels (a multiple of 8), as two passes through tmp (24 vectors):
//   - winoGradIn4(dst, stride, ptrs, n, tmp): U = A g Aᵀ for one 4×4 tile of
//     the output gradient, ptrs[4i+j] pointing to the channel vector of
//     pixel (i, j), U[e] (6×6) stored at dst + e·stride (floats).
func genWinogradGrad4() {
	genInputTransform("winoGradIn4",
		"winoGradIn4 computes the output-gradient transform A g Aᵀ of the Winograd F(4×4, 3×3) kernel gradient for one tile (see genWinogradGrad4).",
		4, []vecConst{{2, reg.Y14}, {4, reg.Y15}}, wino4GradRows)
}

// vecConst is a float32 broadcast into a vector register before a loop.
type vecConst struct {
	v float32
	y reg.VecPhysical
}

// genInputTransform emits name(dst, stride, ptrs, n, tmp): the 2-D transform
// X = R d Rᵀ of one nIn×nIn tile of channel vectors into 6×6, where rows
// emits the 1-D transform R (nIn vectors in Y0… to six, after consts are
// loaded), eight channels per step over n (a multiple of 8), as two passes
// through tmp (6·nIn vectors of 8 floats, the caller's): ptrs[nIn·i + j]
// points to the channel vector of tile pixel (i, j), X[e] is stored at
// dst + e·stride (floats), e = 6i + k.
func genInputTransform(name, doc string, nIn int, consts []vecConst, rows func() [6]reg.VecPhysical) {
	TEXT(name, NOSPLIT, "func(dst *float32, stride int, ptrs *uintptr, n int, tmp *float32)")
	Doc(doc)
	dst := Load(Param("dst"), GP64())
	sb := loadFloatsAsBytes("stride")
	ptrs := Load(Param("ptrs"), GP64())
	n := loadFloatsAsBytes("n")
	tmp := Load(Param("tmp"), GP64())
	for _, c := range consts {
		broadcastConst(c.v, c.y)
	}
	off := GP64()
	XORQ(off, off)
	pa, out := GP64(), GP64()
	Label(name + "_loop")
	CMPQ(off, n)
	JGE(LabelRef(name + "_done"))
	in := []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5}[:nIn]
	// Pass 1, per tile column j: t = R d[·][j] into tmp[nIn·i + j].
	for j := 0; j < nIn; j++ {
		for r := 0; r < nIn; r++ {
			MOVQ(Mem{Base: ptrs, Disp: 8 * (nIn*r + j)}, pa)
			VMOVUPS(Mem{Base: pa, Index: off, Scale: 1}, in[r])
		}
		for i, t := range rows() {
			VMOVUPS(t, Mem{Base: tmp, Disp: 32 * (nIn*i + j)})
		}
	}
	// Pass 2, per row i of t: X[6i + k] = (t[i][·] Rᵀ)[k], in order of e.
	MOVQ(dst, out)
	ADDQ(off, out)
	for i := 0; i < 6; i++ {
		for k := 0; k < nIn; k++ {
			VMOVUPS(Mem{Base: tmp, Disp: 32 * (nIn*i + k)}, in[k])
		}
		for _, v := range rows() {
			VMOVUPS(v, Mem{Base: out})
			ADDQ(sb, out)
		}
	}
	endChannelLoop(name, off)
}

func main() {
	ConstraintExpr("amd64,!purego")
	genStrided()
	genIndirect()
	genCPUID()
	genVec()
	genWinograd()
	genWinograd4()
	genWinogradGrad4()
	Generate()
}
