package fast

import (
	"math/rand/v2"
	"testing"
)

// TestTranspose checks transpose against direct index arithmetic for random
// shapes and permutations, including ones taking the tiled 2-D path.
func TestTranspose(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for it := 0; it < 200; it++ {
		rank := 1 + r.IntN(5)
		dims := make([]int, rank)
		for i := range dims {
			dims[i] = 1 + r.IntN(40/rank+1)
		}
		if it%10 == 0 {
			dims = []int{4, 28, 28, 33} // Large NHWC → CHWN case.
			rank = 4
		}
		perm := r.Perm(rank)
		if it%10 == 0 {
			perm = []int{3, 1, 2, 0}
		}
		n := product(dims)
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(i)
		}
		dst := make([]float32, n)
		transpose(dst, src, dims, perm, 1+r.IntN(3))
		odims := gather(dims, perm)
		idx := make([]int, rank)
		for i := 0; i < n; i++ {
			// idx is the dst index of element i; compute the source offset.
			off := 0
			sIdx := make([]int, rank)
			for a := 0; a < rank; a++ {
				sIdx[perm[a]] = idx[a]
			}
			for a := 0; a < rank; a++ {
				off = off*dims[a] + sIdx[a]
			}
			if dst[i] != src[off] {
				t.Fatalf("dims %v perm %v: dst[%d] (index %v) = %g, want %g", dims, perm, i, idx, dst[i], src[off])
			}
			for a := rank - 1; a >= 0; a-- {
				idx[a]++
				if idx[a] < odims[a] {
					break
				}
				idx[a] = 0
			}
		}
	}
}
