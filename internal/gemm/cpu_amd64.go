//go:build amd64 && !purego

package gemm

// asmSupported reports whether the CPU and OS support AVX2 and FMA (with the
// OS saving YMM state), which the assembly micro-kernels require.
func asmSupported() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		fmaBit     = 1 << 12
		osxsaveBit = 1 << 27
		avxBit     = 1 << 28
	)
	if ecx1&fmaBit == 0 || ecx1&osxsaveBit == 0 || ecx1&avxBit == 0 {
		return false
	}
	if xcr0, _ := xgetbv0(); xcr0&0b110 != 0b110 { // XMM and YMM state enabled by the OS.
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx2Bit = 1 << 5
	return ebx7&avx2Bit != 0
}

func asmKernel(kc int, a *float32, rsA, csA int, b *float32, c *float32, ldc int, alpha, beta float32) {
	kernel6x16(kc, a, rsA, csA, b, c, ldc, alpha, beta)
}

func asmKernelIndirect(ntaps int, ptrs *float32, tapLen int, b *float32, c *float32, ldc int, alpha, beta float32) {
	kernel6x16Indirect(ntaps, ptrs, tapLen, b, c, ldc, alpha, beta)
}

func asmVecBinary(op VecOp, d, x, y *float32, n int) {
	switch op {
	case VecAdd:
		vecAdd(d, x, y, n)
	case VecSub:
		vecSub(d, x, y, n)
	case VecMul:
		vecMul(d, x, y, n)
	case VecDiv:
		vecDiv(d, x, y, n)
	case VecMax:
		vecMax(d, x, y, n)
	case VecMin:
		vecMin(d, x, y, n)
	}
}

func asmVecSign(d, x *float32, n int) { vecSign(d, x, n) }

func asmWinoIn(dst *float32, stride int, ptrs *uintptr, n int) { winoIn(dst, stride, ptrs, n) }

func asmWinoOut(outs *uintptr, src *float32, stride int, n int) { winoOut(outs, src, stride, n) }

func asmWinoIn4(dst *float32, stride int, ptrs *uintptr, n int, tmp *float32) {
	winoIn4(dst, stride, ptrs, n, tmp)
}

func asmWinoOut4(outs *uintptr, src *float32, stride int, n int, tmp *float32) {
	winoOut4(outs, src, stride, n, tmp)
}

func asmWinoGradIn4(dst *float32, stride int, ptrs *uintptr, n int, tmp *float32) {
	winoGradIn4(dst, stride, ptrs, n, tmp)
}
