package swavloss

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// runSinkhorn executes Sinkhorn on scores in the given dtype and returns Q as float64.
func runSinkhorn(t *testing.T, scores [][]float64, dtype dtypes.DType, epsilon float64, iterations int) [][]float64 {
	t.Helper()
	backend := newBackend(t)
	exec, err := graph.NewExec(backend, func(s *graph.Node) *graph.Node {
		return Sinkhorn(s, epsilon, iterations)
	})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	out, err := exec.Exec(matrixTensor(t, scores, dtype))
	if err != nil {
		t.Fatalf("Sinkhorn(ε=%g, iterations=%d, %s): %v", epsilon, iterations, dtype, err)
	}
	if got := out[0].DType(); got != dtype {
		t.Fatalf("Sinkhorn returned %s, want the input dtype %s", got, dtype)
	}
	return asMatrix(t, out[0])
}

func TestSinkhornGolden(t *testing.T) {
	gold := loadGolden(t)
	s := gold.Sinkhorn
	t.Run("float64", func(t *testing.T) {
		q := runSinkhorn(t, s.Scores, dtypes.Float64, gold.Epsilon, gold.SinkhornIterations)
		assertClose(t, "Q", q, s.Q, 1e-5)
	})
	t.Run("float32", func(t *testing.T) {
		q := runSinkhorn(t, s.Scores, dtypes.Float32, gold.Epsilon, gold.SinkhornIterations)
		assertClose(t, "Q_float32", q, s.QFloat32, 1e-4)
	})
	// The plain-Go transcription used below agrees with the reference too.
	assertClose(t, "sinkhornFloat64", sinkhornFloat64(s.Scores, gold.Epsilon, gold.SinkhornIterations), s.Q, 1e-12)
}

// TestSinkhornMatchesReferenceAlgorithm compares the log-domain graph with the
// exp-domain transcription on other shapes and iteration counts, including 0
// (where only the total-mass normalisation applies).
func TestSinkhornMatchesReferenceAlgorithm(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, tc := range []struct{ b, k, iterations int }{{8, 5, 0}, {8, 5, 1}, {16, 3, 3}, {4, 10, 5}, {12, 12, 3}} {
		scores := randomScores(rng, tc.b, tc.k)
		want := sinkhornFloat64(scores, 0.05, tc.iterations)
		got := runSinkhorn(t, scores, dtypes.Float64, 0.05, tc.iterations)
		assertClose(t, "Q", got, want, 1e-10)
	}
}

// TestSinkhornStableFloat32 checks there is no Inf/NaN in float32 for scores in
// [-1, 1] at small ε, including the adversarial case where a whole prototype and a
// whole sample sit at -1 while the best score is +1 (exp((−1−1)/0.01) underflows),
// and that the result still matches the float64 reference algorithm.
func TestSinkhornStableFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	random := randomScores(rng, 32, 10)
	adversarial := randomScores(rng, 16, 6)
	for b := range adversarial {
		adversarial[b][2] = -1 // Prototype 2 is the worst for every sample.
	}
	for k := range adversarial[5] {
		adversarial[5][k] = -1 // Sample 5 scores -1 everywhere.
	}
	adversarial[0][0] = 1
	for _, eps := range []float64{0.01, 0.02, 0.05} {
		for name, scores := range map[string][][]float64{"random": random, "adversarial": adversarial} {
			q := runSinkhorn(t, scores, dtypes.Float32, eps, 3)
			for b, row := range q {
				sum := 0.0
				for k, v := range row {
					if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
						t.Fatalf("%s ε=%g: Q[%d][%d] = %g", name, eps, b, k, v)
					}
					sum += v
				}
				if math.Abs(sum-1) > 1e-4 {
					t.Errorf("%s ε=%g: row %d sums to %g, want 1", name, eps, b, sum)
				}
			}
			assertClose(t, name+" Q vs float64", q, sinkhornFloat64(scores, eps, 3), 1e-4)
		}
	}
}

func TestSinkhornNoGradient(t *testing.T) {
	backend := newBackend(t)
	exec, err := graph.NewExec(backend, func(s *graph.Node) *graph.Node {
		q := Sinkhorn(s, 0.05, 3)
		return graph.Gradient(graph.ReduceAllSum(graph.Mul(q, q)), s)[0]
	})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	out, err := exec.Exec(matrixTensor(t, randomScores(rand.New(rand.NewPCG(1, 2)), 4, 3), dtypes.Float64))
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	for _, row := range asMatrix(t, out[0]) {
		for _, v := range row {
			if v != 0 {
				t.Fatalf("gradient through Sinkhorn = %g, want 0 (codes carry no gradient)", v)
			}
		}
	}
}

func TestSinkhornInvalidArguments(t *testing.T) {
	backend := newBackend(t)
	for name, fn := range map[string]func(s *graph.Node) *graph.Node{
		"epsilon 0":      func(s *graph.Node) *graph.Node { return Sinkhorn(s, 0, 3) },
		"negative iters": func(s *graph.Node) *graph.Node { return Sinkhorn(s, 0.05, -1) },
		"rank 1 scores":  func(s *graph.Node) *graph.Node { return Sinkhorn(graph.Reshape(s, -1), 0.05, 3) },
	} {
		exec, err := graph.NewExec(backend, fn)
		if err != nil {
			t.Fatalf("%s: NewExec: %v", name, err)
		}
		if _, err := exec.Exec(matrixTensor(t, [][]float64{{0.1, 0.2}}, dtypes.Float64)); err == nil {
			t.Errorf("%s: expected an error", name)
		}
	}
}

// randomScores draws a b×k matrix uniformly in [-1, 1].
func randomScores(rng *rand.Rand, b, k int) [][]float64 {
	m := make([][]float64, b)
	for i := range m {
		m[i] = make([]float64, k)
		for j := range m[i] {
			m[i][j] = 2*rng.Float64() - 1
		}
	}
	return m
}
