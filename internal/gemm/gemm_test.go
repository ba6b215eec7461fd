package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// engines returns the engines to test: always the pure-Go one, plus the
// assembly one when this build and CPU have it.
func engines(workers int) map[string]*Engine {
	m := map[string]*Engine{"go": New(Options{Workers: workers, PureGo: true})}
	if HasAsmKernels() {
		m["asm"] = New(Options{Workers: workers})
	}
	return m
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// refGemm computes the expected C in float64, returning also a per-element
// error bound scale (sum of |terms|).
func refGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int,
	beta float32, c []float32, ldc int) (want, scale []float64) {
	want = make([]float64, m*n)
	scale = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var sum, abs float64
			for p := 0; p < k; p++ {
				var av, bv float64
				if transA {
					av = float64(a[p*lda+i])
				} else {
					av = float64(a[i*lda+p])
				}
				if transB {
					bv = float64(b[j*ldb+p])
				} else {
					bv = float64(b[p*ldb+j])
				}
				sum += av * bv
				abs += math.Abs(av * bv)
			}
			v := float64(alpha) * sum
			s := math.Abs(float64(alpha)) * abs
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
				s += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*n+j] = v
			scale[i*n+j] = s
		}
	}
	return want, scale
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // extra leading-dimension padding.
}

func runCase(t *testing.T, e *Engine, r *rand.Rand, tc gemmCase) {
	t.Helper()
	arows, acols := tc.m, tc.k
	if tc.transA {
		arows, acols = tc.k, tc.m
	}
	brows, bcols := tc.k, tc.n
	if tc.transB {
		brows, bcols = tc.n, tc.k
	}
	lda, ldb, ldc := acols+tc.pad, bcols+tc.pad, tc.n+tc.pad
	a := randSlice(r, max(arows*lda, 1))
	b := randSlice(r, max(brows*ldb, 1))
	c := randSlice(r, max(tc.m*ldc, 1))
	if tc.beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN()) // beta=0 must not read C.
		}
	}
	want, scale := refGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	padding := append([]float32(nil), c...)
	if err := e.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc); err != nil {
		t.Fatalf("%+v: %v", tc, err)
	}
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= tc.n {
				if math.Float32bits(got) != math.Float32bits(padding[i*ldc+j]) {
					t.Fatalf("%+v: padding C[%d,%d] modified", tc, i, j)
				}
				continue
			}
			w, s := want[i*tc.n+j], scale[i*tc.n+j]
			if diff := math.Abs(float64(got) - w); !(diff <= 1e-5*s+1e-6) {
				t.Fatalf("%+v: C[%d,%d] = %g, want %g (bound %g)", tc, i, j, got, w, 1e-5*s)
			}
		}
	}
}

func TestSgemmEdgeSizes(t *testing.T) {
	sizes := []int{1, 5, 6, 7, 16, 17, 63, 257}
	if testing.Short() {
		sizes = []int{1, 5, 17, 63}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for name, e := range engines(2) {
		for _, m := range sizes {
			for _, n := range sizes {
				for _, k := range []int{1, 17, 257, 300} {
					for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
						tc := gemmCase{transA: tr[0], transB: tr[1], m: m, n: n, k: k, alpha: 1, beta: 0}
						if (m+n+k)%3 == 0 {
							tc.alpha, tc.beta, tc.pad = 0.5, -1.5, 3
						}
						t.Run(fmt.Sprintf("%s/%v", name, tc), func(t *testing.T) { runCase(t, e, r, tc) })
					}
				}
			}
		}
	}
}

// TestSgemmRandomized is a fuzz-style test: random shapes, transposes,
// alpha/beta, paddings and worker counts.
func TestSgemmRandomized(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	iters := 150
	if testing.Short() {
		iters = 30
	}
	for it := 0; it < iters; it++ {
		tc := gemmCase{
			transA: r.IntN(2) == 0, transB: r.IntN(2) == 0,
			m: 1 + r.IntN(300), n: 1 + r.IntN(300), k: 1 + r.IntN(600),
			alpha: []float32{1, -1, 0.3, 0}[r.IntN(4)], beta: []float32{0, 1, -0.7}[r.IntN(3)],
			pad: r.IntN(5),
		}
		for name, e := range engines(1 + r.IntN(3)) {
			t.Run(fmt.Sprintf("%d/%s", it, name), func(t *testing.T) { runCase(t, e, r, tc) })
		}
	}
}

func TestSgemmErrors(t *testing.T) {
	e := New(Options{})
	if err := e.Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2); err == nil {
		t.Fatal("short A accepted")
	}
	if err := e.Sgemm(false, false, 2, 2, 2, 1, make([]float32, 4), 1, make([]float32, 4), 2, 0, make([]float32, 4), 2); err == nil {
		t.Fatal("lda < k accepted")
	}
	if err := e.Sgemm(false, false, 0, 2, 2, 1, nil, 2, make([]float32, 4), 2, 0, nil, 2); err != nil {
		t.Fatalf("empty product: %v", err)
	}
}

func TestWorkersCapped(t *testing.T) {
	e := New(Options{Workers: 1 << 20})
	if w := e.Workers(); w > 1<<10 || w < 1 {
		t.Fatalf("Workers() = %d", w)
	}
	if w := New(Options{Workers: 1}).Workers(); w != 1 {
		t.Fatalf("Workers() = %d, want 1", w)
	}
}
