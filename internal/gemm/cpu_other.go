//go:build !amd64 || purego

package gemm

// asmSupported is false: this build has no assembly micro-kernels.
func asmSupported() bool { return false }

func asmKernel(kc int, a *float32, rsA, csA int, b *float32, c *float32, ldc int, alpha, beta float32) {
	panic("gemm: assembly kernels are not available in this build")
}

func asmKernelIndirect(ntaps int, ptrs *float32, tapLen int, b *float32, c *float32, ldc int, alpha, beta float32) {
	panic("gemm: assembly kernels are not available in this build")
}

func asmVecBinary(op VecOp, d, x, y *float32, n int) {
	panic("gemm: assembly kernels are not available in this build")
}

func asmVecSign(d, x *float32, n int) {
	panic("gemm: assembly kernels are not available in this build")
}

func asmWinoIn(dst *float32, stride int, ptrs *uintptr, n int) {
	panic("gemm: assembly kernels are not available in this build")
}

func asmWinoOut(outs *uintptr, src *float32, stride int, n int) {
	panic("gemm: assembly kernels are not available in this build")
}

func asmWinoIn4(dst *float32, stride int, ptrs *uintptr, n int, tmp *float32) {
	panic("gemm: assembly kernels are not available in this build")
}

func asmWinoOut4(outs *uintptr, src *float32, stride int, n int, tmp *float32) {
	panic("gemm: assembly kernels are not available in this build")
}

func asmWinoGradIn4(dst *float32, stride int, ptrs *uintptr, n int, tmp *float32) {
	panic("gemm: assembly kernels are not available in this build")
}
