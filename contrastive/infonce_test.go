package contrastive

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"github.com/swav-go/swav/internal/gradcheck"
	"github.com/swav-go/swav/internal/panics"
)

func infoNCEOf(tau float64) func(in []*graph.Node) *graph.Node {
	return func(in []*graph.Node) *graph.Node {
		return InfoNCE(in[0], in[1], in[2], InfoNCEConfig{Temperature: tau})
	}
}

// TestInfoNCEHandComputed: q = k = e₀ and a queue {e₁, −e₀, 2e₁} (the last row
// unnormalised on purpose): l⁺ = 1, l⁻ = {0, −1, 0}, so at τ
// loss = −log(e^{1/τ} / (e^{1/τ} + 2 + e^{−1/τ})) = log(1 + 2e^{−1/τ} + e^{−2/τ}).
// A second image with q = e₁, k = (1, 1)/√2·3: l⁺ = 1/√2, l⁻ = {1, 0, 1}.
func TestInfoNCEHandComputed(t *testing.T) {
	queue := matrix{{0, 1}, {-1, 0}, {0, 2}}
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		t.Run(dtype.String(), func(t *testing.T) {
			got, grads := lossAndGrads(t, infoNCEOf(0.5), []matrix{{{1, 0}}, {{1, 0}}, queue}, dtype)
			assertScalar(t, "loss", got, math.Log(1+2*math.Exp(-2)+math.Exp(-4)), tol(dtype))
			assertClose(t, "d loss/d key", grads[1], matrix{{0, 0}}, 0)
			assertClose(t, "d loss/d queue", grads[2], matrix{{0, 0}, {0, 0}, {0, 0}}, 0)

			got, _ = lossAndGrads(t, infoNCEOf(0.5), []matrix{{{1, 0}, {0, 1}}, {{1, 0}, {3, 3}}, queue}, dtype)
			second := -math.Sqrt(0.5)/0.5 + math.Log(math.Exp(math.Sqrt(0.5)/0.5)+2*math.Exp(2)+1)
			assertScalar(t, "loss", got, (math.Log(1+2*math.Exp(-2)+math.Exp(-4))+second)/2, tol(dtype))
		})
	}
}

// TestInfoNCEGolden: loss and d loss/d q against PyTorch's transcription of MoCo.
func TestInfoNCEGolden(t *testing.T) {
	w := loadGolden(t).InfoNCE
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		t.Run(dtype.String(), func(t *testing.T) {
			loss, grads := lossAndGrads(t, infoNCEOf(w.Temperature), []matrix{w.Q, w.K, w.Queue}, dtype)
			assertScalar(t, "loss", loss, w.Loss, tol(dtype))
			assertClose(t, "d loss/d q", grads[0], w.GradQ, tol(dtype))
		})
	}
}

// TestInfoNCEGradient: finite differences agree with the gradient in q, and on two
// images a step against the gradient raises each query's cosine with its key and
// lowers the loss.
func TestInfoNCEGradient(t *testing.T) {
	backend := newBackend(t)
	key, queue := gradcheck.Random(5, 6), gradcheck.Random(6, 12)
	f := func(in []*graph.Node) *graph.Node {
		g := in[0].Graph()
		k := graph.Const(g, key)
		return InfoNCE(in[0], graph.Reshape(k, 2, 3), graph.Reshape(graph.Const(g, queue), 4, 3), DefaultInfoNCEConfig())
	}
	if err := gradcheck.Check(backend, f, [][]float64{gradcheck.Random(7, 6)}, [][]int{{2, 3}}, gradcheck.Options{}); err != nil {
		t.Fatal(err)
	}

	q := matrix{{1, 0.5}, {-0.2, 1}}
	k := matrix{{0.2, 1}, {1, 0.1}}
	negatives := matrix{{1, 0}, {0, -1}, {-1, -1}}
	loss, grads := lossAndGrads(t, infoNCEOf(0.2), []matrix{q, k, negatives}, dtypes.Float64)
	q2 := gradientStep(t, q, grads[0], 0.05)
	after, _ := lossAndGrads(t, infoNCEOf(0.2), []matrix{q2, k, negatives}, dtypes.Float64)
	if !(after < loss) {
		t.Errorf("loss %g after a gradient step, was %g", after, loss)
	}
	nq, nq2, nk := normalize(q), normalize(q2), normalize(k)
	for i := range q {
		if before, now := dot(nq[i], nk[i]), dot(nq2[i], nk[i]); !(now > before) {
			t.Errorf("image %d: cosine with its key %g after the step, was %g", i, now, before)
		}
	}
}

// gradientStep returns m − lr·g, failing on a non-finite gradient.
func gradientStep(t *testing.T, m, g matrix, lr float64) matrix {
	t.Helper()
	out := make(matrix, len(m))
	for i := range m {
		for j := range m[i] {
			if math.IsNaN(g[i][j]) || math.IsInf(g[i][j], 0) {
				t.Fatalf("gradient [%d][%d] = %g", i, j, g[i][j])
			}
			out[i] = append(out[i], m[i][j]-lr*g[i][j])
		}
	}
	return out
}

// TestInfoNCERejects: bad configurations and shapes panic with the reason.
func TestInfoNCERejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		tau  float64
		dims [][]int
		want string
	}{
		{"zero τ", 0, [][]int{{2, 3}, {2, 3}, {4, 3}}, "Temperature"},
		{"infinite τ", math.Inf(1), [][]int{{2, 3}, {2, 3}, {4, 3}}, "Temperature"},
		{"key shape", 0.2, [][]int{{2, 3}, {3, 3}, {4, 3}}, "key"},
		{"queue D", 0.2, [][]int{{2, 3}, {2, 3}, {4, 2}}, "queue"},
		{"query rank", 0.2, [][]int{{6}, {6}, {4, 3}}, "query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := panics.Catch(func() {
				g := graph.NewGraph(newBackend(t), "rejects")
				var in []*graph.Node
				for i, d := range tc.dims {
					in = append(in, graph.Parameter(g, fmt.Sprintf("x%d", i), shapes.Make(dtypes.Float32, d...)))
				}
				InfoNCE(in[0], in[1], in[2], InfoNCEConfig{Temperature: tc.tau})
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
