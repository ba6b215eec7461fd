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

// ntxentFloat64 is a plain-Go float64 transcription of the NT-Xent definition (every
// positive pair of NTXentPairs; the positive against every view of the other
// images), written loop by loop, independently of the graph code.
func ntxentFloat64(views []matrix, tau float64, largeViews int) float64 {
	numViews, n := len(views), len(views[0])
	var z matrix
	for _, v := range views {
		z = append(z, normalize(v)...)
	}
	large := largeViews
	if large == 0 {
		large = numViews
	}
	total, count := 0.0, 0
	for a := range numViews {
		for b := range numViews {
			if a == b || (a >= large && b >= large) {
				continue
			}
			for i := range n {
				r, p := a*n+i, b*n+i
				candidates := []float64{dot(z[r], z[p]) / tau}
				for c := range z {
					if c%n != i {
						candidates = append(candidates, dot(z[r], z[c])/tau)
					}
				}
				total += logSumExp64(candidates) - candidates[0]
				count++
			}
		}
	}
	return total / float64(count)
}

func ntxentOf(cfg NTXentConfig) func(inputs []*graph.Node) *graph.Node {
	return func(inputs []*graph.Node) *graph.Node { return NTXent(inputs, cfg) }
}

// TestNTXentHandComputed: closed forms worked out by hand.
//
// Two views, two images, view a of image i = view b of image i = e_i: every anchor
// sees its positive at cosine 1 and two negatives at cosine 0, so
// loss = −log(e^{1/τ} / (e^{1/τ} + 2)) = log(1 + 2e^{−1/τ}).
//
// Three views, two images, all views of image i = 3·e_i (unnormalised on purpose):
// each term has its positive at cosine 1 and the three views of the other image at
// 0 (the third view of the same image is in neither part):
// loss = −log(e^{1/τ} / (e^{1/τ} + 3)) = log(1 + 3e^{−1/τ}).
//
// Two views, one image: no negatives, so each term is −log(e^s/e^s) = 0.
func TestNTXentHandComputed(t *testing.T) {
	e := matrix{{1, 0}, {0, 1}}
	e3 := matrix{{3, 0}, {0, 3}}
	for _, tc := range []struct {
		name  string
		views []matrix
		tau   float64
		want  float64
	}{
		{"two views τ=0.5", []matrix{e, e}, 0.5, math.Log(1 + 2*math.Exp(-2))},
		{"two views τ=0.1", []matrix{e, e}, 0.1, math.Log(1 + 2*math.Exp(-10))},
		{"three views τ=0.5", []matrix{e3, e3, e3}, 0.5, math.Log(1 + 3*math.Exp(-2))},
		{"one image", []matrix{{{1, 2}}, {{-2, 1}}}, 0.5, 0},
	} {
		for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
			t.Run(tc.name+"/"+dtype.String(), func(t *testing.T) {
				got, _ := lossAndGrads(t, ntxentOf(NTXentConfig{Temperature: tc.tau}), tc.views, dtype)
				assertScalar(t, "loss", got, tc.want, tol(dtype))
			})
		}
	}
}

// TestNTXentMatchesFloat64Loops: random inputs (several N, D, V, LargeViews) against
// the loop-by-loop float64 transcription.
func TestNTXentMatchesFloat64Loops(t *testing.T) {
	for _, tc := range []struct{ n, d, v, large int }{
		{1, 3, 2, 0}, {3, 2, 2, 0}, {5, 4, 2, 0}, {2, 3, 3, 0}, {3, 4, 4, 2}, {2, 5, 6, 2}, {2, 3, 3, 1},
	} {
		views := make([]matrix, tc.v)
		seed := uint64(100*tc.n + 10*tc.d + tc.v)
		for v := range views {
			flat := gradcheck.Random(seed+uint64(v), tc.n*tc.d)
			for i := range tc.n {
				views[v] = append(views[v], flat[i*tc.d:(i+1)*tc.d])
			}
		}
		cfg := NTXentConfig{Temperature: 0.3, LargeViews: tc.large}
		got, _ := lossAndGrads(t, ntxentOf(cfg), views, dtypes.Float64)
		assertScalar(t, "loss", got, ntxentFloat64(views, cfg.Temperature, cfg.LargeViews), 1e-10)
	}
}

// TestNTXentGolden: loss and gradients against PyTorch (testdata/gen.py): SimCLR's
// two-view formulation, and the multi-view one with and without small-small pairs.
func TestNTXentGolden(t *testing.T) {
	gold := loadGolden(t)
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		t.Run("two views/"+dtype.String(), func(t *testing.T) {
			w := gold.NTXent
			loss, grads := lossAndGrads(t, ntxentOf(NTXentConfig{Temperature: w.Temperature}), []matrix{w.ZA, w.ZB}, dtype)
			assertScalar(t, "loss", loss, w.Loss, tol(dtype))
			assertClose(t, "d loss/d z_a", grads[0], w.GradA, tol(dtype))
			assertClose(t, "d loss/d z_b", grads[1], w.GradB, tol(dtype))
		})
		mc := gold.NTXentMulticrop
		for _, want := range []goldenMultiViews{mc.AllPairs, mc.Large2} {
			t.Run("four views/"+dtype.String(), func(t *testing.T) {
				cfg := NTXentConfig{Temperature: mc.Temperature, LargeViews: want.LargeViews}
				loss, grads := lossAndGrads(t, ntxentOf(cfg), mc.Views, dtype)
				assertScalar(t, "loss", loss, want.Loss, tol(dtype))
				for v := range grads {
					assertClose(t, "d loss/d view", grads[v], want.Grads[v], tol(dtype))
				}
			})
		}
	}
	if a, b := gold.NTXentMulticrop.AllPairs.Loss, gold.NTXentMulticrop.Large2.Loss; a == b {
		t.Errorf("golden all-pairs and large-2 losses are equal (%g): the case does not tell them apart", a)
	}
}

// TestNTXentGradient: finite differences agree with the symbolic gradient, and on two
// images a step against the gradient pulls each positive pair together (the loss
// falls and the cosine of each positive pair rises).
func TestNTXentGradient(t *testing.T) {
	backend := newBackend(t)
	cfg := NTXentConfig{Temperature: 0.5, LargeViews: 2}
	f := func(in []*graph.Node) *graph.Node { return NTXent(in, cfg) }
	in := [][]float64{gradcheck.Random(1, 6), gradcheck.Random(2, 6), gradcheck.Random(3, 6)}
	if err := gradcheck.Check(backend, f, in, [][]int{{2, 3}, {2, 3}, {2, 3}}, gradcheck.Options{Tol: 1e-6}); err != nil {
		t.Fatal(err)
	}

	a := matrix{{1, 0.2}, {0.3, 1}}
	b := matrix{{0.5, 0.8}, {0.9, 0.1}}
	loss, grads := lossAndGrads(t, ntxentOf(DefaultNTXentConfig()), []matrix{a, b}, dtypes.Float64)
	const lr = 0.1
	step := func(m, g matrix) matrix {
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
	a2, b2 := step(a, grads[0]), step(b, grads[1])
	after := ntxentFloat64([]matrix{a2, b2}, 0.5, 0)
	if !(after < loss) {
		t.Errorf("loss %g after a gradient step, was %g", after, loss)
	}
	na, nb, na2, nb2 := normalize(a), normalize(b), normalize(a2), normalize(b2)
	for i := range a {
		if before, now := dot(na[i], nb[i]), dot(na2[i], nb2[i]); !(now > before) {
			t.Errorf("image %d: positive cosine %g after the step, was %g", i, now, before)
		}
	}
}

// TestNTXentRejects: invalid configurations and shapes panic with the reason.
func TestNTXentRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   NTXentConfig
		dims  [][]int
		dtype dtypes.DType
		want  string
	}{
		{"one view", DefaultNTXentConfig(), [][]int{{2, 3}}, dtypes.Float32, "at least 2 views"},
		{"zero τ", NTXentConfig{}, [][]int{{2, 3}, {2, 3}}, dtypes.Float32, "Temperature"},
		{"large views", NTXentConfig{Temperature: 0.5, LargeViews: 3}, [][]int{{2, 3}, {2, 3}}, dtypes.Float32, "LargeViews"},
		{"shape mismatch", DefaultNTXentConfig(), [][]int{{2, 3}, {3, 3}}, dtypes.Float32, "views[1]"},
		{"rank", DefaultNTXentConfig(), [][]int{{2, 3, 1}, {2, 3, 1}}, dtypes.Float32, "N×D"},
		{"integer", DefaultNTXentConfig(), [][]int{{2, 3}, {2, 3}}, dtypes.Int32, "float"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := panics.Catch(func() {
				g := graph.NewGraph(newBackend(t), "rejects")
				var views []*graph.Node
				for i, d := range tc.dims {
					views = append(views, graph.Parameter(g, fmt.Sprintf("x%d", i), shapes.Make(tc.dtype, d...)))
				}
				NTXent(views, tc.cfg)
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestNTXentPairs lists the documented pairs.
func TestNTXentPairs(t *testing.T) {
	got := NTXentPairs(4, NTXentConfig{Temperature: 0.5, LargeViews: 2})
	want := [][2]int{{0, 1}, {0, 2}, {0, 3}, {1, 0}, {1, 2}, {1, 3}, {2, 0}, {2, 1}, {3, 0}, {3, 1}}
	if len(got) != len(want) {
		t.Fatalf("pairs %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pairs %v, want %v", got, want)
		}
	}
	if got := NTXentPairs(2, DefaultNTXentConfig()); len(got) != 2 || got[0] != [2]int{0, 1} || got[1] != [2]int{1, 0} {
		t.Errorf("two-view pairs %v", got)
	}
}
