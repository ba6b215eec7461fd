package gemm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
)

// peakGFLOPS is the measured single-precision FMA peak of one core of the
// reference machine (see shared/BENCHMARKING.md).
const peakGFLOPS = 98.0

var benchShapes = [][3]int{
	{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024},
	{50176, 64, 288}, {12544, 128, 576}, {3136, 128, 1152},
}

var benchConfigs = []struct {
	name              string
	workers, packMode int
}{{"", 1, 0}, {"", 2, 0}}

// BenchmarkSgemm reports GFLOP/s and the percentage of one core's peak for
// the shapes of the issue (M×N×K; the im2col shapes are M×K·K×N).
func BenchmarkSgemm(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, s := range benchShapes {
		m, n, k := s[0], s[1], s[2]
		a, bb, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
		for _, cfg := range benchConfigs {
			workers := cfg.workers
			e := New(Options{Workers: workers})
			e.packMode = cfg.packMode
			b.Run(fmt.Sprintf("%dx%dx%d/threads=%d%s", m, n, k, workers, cfg.name), func(b *testing.B) {
				flops := 2 * float64(m) * float64(n) * float64(k)
				if workers == 1 {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
				}
				cpu0 := threadCPUTime()
				for b.Loop() {
					if err := e.Sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n); err != nil {
						b.Fatal(err)
					}
				}
				gflops := flops * float64(b.N) / b.Elapsed().Seconds() / 1e9
				b.ReportMetric(gflops, "GFLOP/s")
				b.ReportMetric(100*gflops/peakGFLOPS, "%peak1core")
				if cpu := threadCPUTime() - cpu0; workers == 1 && cpu > 0 {
					// Flops per CPU-second of this thread: immune to time slicing by other tenants.
					b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}

// With GEMM_BENCH_PACK=1 in the environment, BenchmarkSgemm compares packing
// row-major A against reading it in place, on one thread.
func init() {
	if os.Getenv("GEMM_BENCH_PACK") != "" {
		benchConfigs = []struct {
			name              string
			workers, packMode int
		}{{"/packA", 1, 1}, {"/inplaceA", 1, 0}, {"/packA", 1, 1}, {"/inplaceA", 1, 0}}
	}
}
