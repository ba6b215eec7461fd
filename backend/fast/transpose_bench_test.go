package fast

import (
	"fmt"
	"testing"
)

// BenchmarkTranspose measures the operand transpositions of kernel-gradient
// convolutions (NHWC → CHWN and NHWC → HWNC) at the small ResNet's sizes.
func BenchmarkTranspose(b *testing.B) {
	for _, c := range []struct {
		dims, perm []int
	}{
		{[]int{64, 28, 28, 32}, []int{3, 1, 2, 0}},
		{[]int{64, 28, 28, 32}, []int{1, 2, 0, 3}},
		{[]int{64, 7, 7, 128}, []int{3, 1, 2, 0}},
	} {
		n := product(c.dims)
		src, dst := make([]float32, n), make([]float32, n)
		b.Run(fmt.Sprintf("%v_%v", c.dims, c.perm), func(b *testing.B) {
			for b.Loop() {
				transpose(dst, src, c.dims, c.perm, 1)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/elem")
		})
	}
}
