package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkConv measures the 3×3 (and 1×1 stride-2) convolutions of the
// small ResNet at batch 64, the 7×7/2 ImageNet stem at batch 8 (NHWC) and
// the input gradient of the 3×3/2 layer (input-dilated), at 1 and 2 threads.
func BenchmarkConv(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	type cs struct{ h, ci, co, k, s, pad, batch int }
	for _, c := range []cs{{28, 1, 32, 3, 1, 1, 64}, {28, 32, 32, 3, 1, 1, 64}, {28, 32, 64, 3, 2, 1, 64}, {14, 64, 64, 3, 1, 1, 64},
		{28, 32, 64, 1, 2, 0, 64}, {7, 128, 128, 3, 1, 1, 64}, {224, 3, 64, 7, 2, 3, 8}} {
		batch := c.batch
		o := outSize(c.h, c.k, c.s, c.pad, c.pad, 1, 1)
		p := ConvParams{Batch: batch, InChannels: c.ci, OutChannels: c.co,
			InSpatial: []int{c.h, c.h}, KernelSpatial: []int{c.k, c.k}, OutSpatial: []int{o, o},
			Strides: []int{c.s, c.s}, Paddings: [][2]int{{c.pad, c.pad}, {c.pad, c.pad}}}
		in := randSlice(r, batch*c.h*c.h*c.ci)
		ker := randSlice(r, c.k*c.k*c.ci*c.co)
		out := make([]float32, batch*o*o*c.co)
		flops := 2 * float64(batch*o*o) * float64(c.k*c.k*c.ci) * float64(c.co)
		for _, workers := range []int{1, 2} {
			e := New(Options{Workers: workers})
			b.Run(fmt.Sprintf("b%d_%dx%dx%d_k%ds%d_co%d/threads=%d", batch, c.h, c.h, c.ci, c.k, c.s, c.co, workers), func(b *testing.B) {
				benchGFLOPS(b, workers, flops, func() error { return e.Conv(p, in, ker, out) })
			})
		}
	}
	// The input gradient of the 3×3/2 28×28×32→64 layer: a 3×3 convolution
	// of the 14×14×64 output gradient dilated by 2 (run as four phases).
	p := ConvParams{Batch: 64, InChannels: 64, OutChannels: 32, InSpatial: []int{14, 14},
		KernelSpatial: []int{3, 3}, OutSpatial: []int{28, 28}, InputDilations: []int{2, 2}, Paddings: [][2]int{{1, 2}, {1, 2}}}
	in := randSlice(r, 64*14*14*64)
	ker := randSlice(r, 9*64*32)
	out := make([]float32, 64*28*28*32)
	flops := 2 * float64(64*14*14) * float64(9*64) * 32 // the useful multiply-adds
	for _, workers := range []int{1, 2} {
		e := New(Options{Workers: workers})
		b.Run(fmt.Sprintf("b64_14x14x64_k3_dil2_co32/threads=%d", workers), func(b *testing.B) {
			benchGFLOPS(b, workers, flops, func() error { return e.Conv(p, in, ker, out) })
		})
	}
}

// BenchmarkConvKernelGradient measures the channels-last form of a 3×3
// kernel-gradient convolution (28×28×32→32 at batch 64): the batch is the
// reduction ("channels", 64), the 28×28 output gradient is the "kernel", the
// 3×3 kernel positions are the "output" and the 32 input channels the "batch".
func BenchmarkConvKernelGradient(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	p := ConvParams{Batch: 32, InChannels: 64, OutChannels: 32, InSpatial: []int{28, 28},
		KernelSpatial: []int{28, 28}, OutSpatial: []int{3, 3}, Paddings: [][2]int{{1, 1}, {1, 1}}}
	in := randSlice(r, 32*28*28*64)
	ker := randSlice(r, 28*28*64*32)
	out := make([]float32, 32*9*32)
	flops := 2 * float64(32*9) * float64(28*28*64) * 32
	for _, workers := range []int{1, 2} {
		e := New(Options{Workers: workers})
		b.Run(fmt.Sprintf("threads=%d", workers), func(b *testing.B) {
			if workers == 1 {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			cpu0 := threadCPUTime()
			for b.Loop() {
				if err := e.Conv(p, in, ker, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := threadCPUTime() - cpu0; workers == 1 && cpu > 0 {
				b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
			}
		})
	}
}

// benchGFLOPS times op as the benchmark's loop and reports GFLOP/s of wall time
// for flops per call, and GFLOP per CPU-second: of the benchmark's own (locked)
// thread with one worker, of the whole process with more (the second thread's
// overhead shows there), both immune to time slicing by other tenants.
func benchGFLOPS(b *testing.B, workers int, flops float64, op func() error) {
	b.Helper()
	if workers == 1 {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	cpu0, proc0 := threadCPUTime(), processCPUTime()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu := threadCPUTime() - cpu0; workers == 1 && cpu > 0 {
		b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
	}
	if cpu := processCPUTime() - proc0; workers > 1 && cpu > 0 {
		b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/proc-cpu-s")
	}
}
