package gemm

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkKernel measures the micro-kernel alone with operands in L1.
func BenchmarkKernel(b *testing.B) {
	if !HasAsmKernels() {
		b.Skip("no assembly kernels")
	}
	r := rand.New(rand.NewPCG(1, 1))
	const kc = 256
	a, bp, c := randSlice(r, kc*MR), randSlice(r, kc*NR), make([]float32, MR*NR)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPUTime()
	for b.Loop() {
		asmKernel(kc, &a[0], 1, MR, &bp[0], &c[0], NR, 1, 0)
	}
	b.ReportMetric(2*kc*MR*NR*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu := threadCPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(2*kc*MR*NR*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
	}
}
