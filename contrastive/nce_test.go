package contrastive

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/swav-go/swav/internal/gradcheck"
	"github.com/swav-go/swav/internal/panics"
)

// pirlOutputs compiles PIRL over (jigsaw, image, positive, negatives) with partition
// z (< 0: nil; 0: a zero scalar, an unset Z; both mean the batch's estimate) and
// returns loss, estimate and the gradients with respect to jigsaw and image.
func pirlOutputs(t *testing.T, in []matrix, z float64, cfg PIRLConfig, dtype dtypes.DType) (loss, estimate float64, grads []matrix) {
	t.Helper()
	exec, err := graph.NewExec(newBackend(t), func(p []*graph.Node) []*graph.Node {
		var partition *graph.Node
		if z >= 0 {
			partition = graph.Scalar(p[0].Graph(), dtype, z)
		}
		l, e := PIRL(p[0], p[1], p[2], p[3], partition, cfg)
		return append([]*graph.Node{l, e}, graph.Gradient(l, p[0], p[1])...)
	})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	defer exec.Finalize()
	args := make([]any, len(in))
	for i, m := range in {
		args[i] = toTensor(t, m, dtype)
	}
	out, err := exec.Exec(args...)
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	return asScalar(t, out[0]), asScalar(t, out[1]), []matrix{asMatrix(t, out[2]), asMatrix(t, out[3])}
}

// ncePieces is the NCE loss of one image by hand: −[log(P₀/(P₀+c+ε)) + Σ log(c/(Pₖ+c+ε))].
func ncePieces(p0 float64, pk []float64, c float64) float64 {
	loss := -math.Log(p0 / (p0 + c + float32Epsilon))
	for _, p := range pk {
		loss -= math.Log(c / (p + c + float32Epsilon))
	}
	return loss
}

// TestPIRLHandComputed: τ = 1, Z = 1, |D| = 2, one negative (c = 1/2), one image.
// Jigsaw g = e₀ against m = e₀ and the negative e₁: P₀ = e, P₁ = 1. Image f = 3e₁
// (unnormalised): P₀ = 1, P₁ = e. With λ = 0.25 the loss is 0.25·L_j + 0.75·L_i, and
// the estimate (Z of the jigsaw term) is |D|·mean(e, 1) = e + 1.
func TestPIRLHandComputed(t *testing.T) {
	cfg := PIRLConfig{NCE: NCEConfig{Temperature: 1, DataSize: 2}, Lambda: 0.25}
	in := []matrix{{{1, 0}}, {{0, 3}}, {{1, 0}}, {{0, 1}}}
	jig := ncePieces(math.E, []float64{1}, 0.5)
	img := ncePieces(1, []float64{math.E}, 0.5)
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		t.Run(dtype.String(), func(t *testing.T) {
			loss, estimate, _ := pirlOutputs(t, in, 1, cfg, dtype)
			assertScalar(t, "loss", loss, 0.25*jig+0.75*img, tol(dtype))
			assertScalar(t, "estimate", estimate, math.E+1, tol(dtype)*10)
			// Without a partition, or with an unset one (0), both terms divide by the
			// estimate e + 1.
			z := math.E + 1
			want := 0.25*ncePieces(math.E/z, []float64{1 / z}, 0.5) + 0.75*ncePieces(1/z, []float64{math.E / z}, 0.5)
			for _, unset := range []float64{-1, 0} {
				loss, _, _ = pirlOutputs(t, in, unset, cfg, dtype)
				assertScalar(t, "loss with the estimated Z", loss, want, tol(dtype))
			}
		})
	}
}

// TestPIRLGolden: both loss and gradients against PyTorch's transcription of VISSL,
// with Z estimated on the step (the reference's first step) and with Z given.
func TestPIRLGolden(t *testing.T) {
	w := loadGolden(t).PIRL
	cfg := PIRLConfig{NCE: NCEConfig{Temperature: w.Temperature, DataSize: w.DataSize}, Lambda: w.Lambda}
	in := []matrix{w.Jigsaw, w.Image, w.Positive, w.Negatives}
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		for _, want := range []goldenPIRL{w.EstimatedZ, w.GivenZ} {
			t.Run(fmt.Sprintf("%s/Z=%g", dtype, want.PartitionIn), func(t *testing.T) {
				loss, estimate, grads := pirlOutputs(t, in, want.PartitionIn, cfg, dtype)
				assertScalar(t, "loss", loss, want.Loss, tol(dtype))
				if want.PartitionIn < 0 {
					assertScalar(t, "estimate", estimate, want.Partition, tol(dtype)*want.Partition)
				}
				assertClose(t, "d loss/d jigsaw", grads[0], want.GradJigsaw, tol(dtype))
				assertClose(t, "d loss/d image", grads[1], want.GradImage, tol(dtype))
			})
		}
	}
	if w.EstimatedZ.JigsawLoss == w.EstimatedZ.ImageLoss {
		t.Error("golden jigsaw and image terms are equal: λ is not exercised")
	}
}

// TestNCEGradient: finite differences agree with the symbolic gradient (Z given, as
// the estimate carries no gradient), and on two images a step against the gradient
// raises each embedding's cosine with its bank entry and lowers the loss.
func TestNCEGradient(t *testing.T) {
	backend := newBackend(t)
	positive, negatives := gradcheck.Random(8, 6), gradcheck.Random(9, 15)
	cfg := NCEConfig{Temperature: 0.5, DataSize: 20}
	f := func(in []*graph.Node) *graph.Node {
		g := in[0].Graph()
		m := graph.Reshape(graph.Const(g, positive), 2, 3)
		n := graph.Reshape(graph.Const(g, negatives), 5, 3)
		loss, _ := NCE(in[0], m, n, graph.Scalar(g, dtypes.Float64, 7.0), cfg)
		return loss
	}
	if err := gradcheck.Check(backend, f, [][]float64{gradcheck.Random(10, 6)}, [][]int{{2, 3}}, gradcheck.Options{}); err != nil {
		t.Fatal(err)
	}

	// The loss falls along the gradient with arbitrary negatives.
	pirl := PIRLConfig{NCE: cfg, Lambda: 0.5}
	jig := matrix{{1, 0.3, 0}, {0.1, -1, 0}}
	img := matrix{{0.2, 1, 0}, {1, 1, 0}}
	bank := matrix{{1, 1, 0}, {0, -1, 0}}
	neg := matrix{{-1, 0.2, 0.5}, {0.3, 1, -0.2}, {-0.5, -0.5, 1}}
	loss, _, grads := pirlOutputs(t, []matrix{jig, img, bank, neg}, 3, pirl, dtypes.Float64)
	after, _, _ := pirlOutputs(t, []matrix{gradientStep(t, jig, grads[0], 0.05), gradientStep(t, img, grads[1], 0.05), bank, neg}, 3, pirl, dtypes.Float64)
	if !(after < loss) {
		t.Errorf("loss %g after a gradient step, was %g", after, loss)
	}
	// With the negatives ±e₂, orthogonal to the plane of the embeddings and the bank
	// entries, their pushes cancel in the plane: the step must pull each embedding
	// towards its own entry (the positive term's sign).
	sym := matrix{{0, 0, 1}, {0, 0, -1}}
	_, _, grads = pirlOutputs(t, []matrix{jig, img, bank, sym}, 3, pirl, dtypes.Float64)
	jig2, img2 := gradientStep(t, jig, grads[0], 0.05), gradientStep(t, img, grads[1], 0.05)
	nb := normalize(bank)
	for name, pair := range map[string][2]matrix{"jigsaw": {jig, jig2}, "image": {img, img2}} {
		before, now := normalize(pair[0]), normalize(pair[1])
		for i := range nb {
			if b, a := dot(before[i], nb[i]), dot(now[i], nb[i]); !(a > b) {
				t.Errorf("%s %d: cosine with its bank entry %g after the step, was %g", name, i, a, b)
			}
		}
	}
}

// TestNCEBankCarriesNoGradient: the memory-bank inputs get a zero gradient.
func TestNCEBankCarriesNoGradient(t *testing.T) {
	exec, err := graph.NewExec(newBackend(t), func(v, m, n *graph.Node) []*graph.Node {
		loss, _ := NCE(v, m, n, nil, DefaultNCEConfig(10))
		return graph.Gradient(loss, m, n)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(tensors.FromValue(matrix{{1, 2}}), tensors.FromValue(matrix{{2, 1}}), tensors.FromValue(matrix{{0, 1}, {1, 1}}))
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "d loss/d positive", asMatrix(t, out[0]), matrix{{0, 0}}, 0)
	assertClose(t, "d loss/d negatives", asMatrix(t, out[1]), matrix{{0, 0}, {0, 0}}, 0)
}

// TestPIRLRejects: bad configurations and shapes panic with the reason.
func TestPIRLRejects(t *testing.T) {
	good := DefaultPIRLConfig(100)
	for _, tc := range []struct {
		name      string
		cfg       PIRLConfig
		dims      [][]int
		partition []int
		want      string
	}{
		{"λ", PIRLConfig{NCE: good.NCE, Lambda: 1.5}, [][]int{{2, 3}, {2, 3}, {2, 3}, {4, 3}}, nil, "Lambda"},
		{"data size", PIRLConfig{NCE: NCEConfig{Temperature: 0.07}, Lambda: 0.5}, [][]int{{2, 3}, {2, 3}, {2, 3}, {4, 3}}, nil, "DataSize"},
		{"τ", PIRLConfig{NCE: NCEConfig{DataSize: 5}, Lambda: 0.5}, [][]int{{2, 3}, {2, 3}, {2, 3}, {4, 3}}, nil, "Temperature"},
		{"image shape", good, [][]int{{2, 3}, {3, 3}, {2, 3}, {4, 3}}, nil, "image"},
		{"positive shape", good, [][]int{{2, 3}, {2, 3}, {1, 3}, {4, 3}}, nil, "positives"},
		{"negatives D", good, [][]int{{2, 3}, {2, 3}, {2, 3}, {4, 2}}, nil, "negatives"},
		{"partition", good, [][]int{{2, 3}, {2, 3}, {2, 3}, {4, 3}}, []int{2}, "partition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := panics.Catch(func() {
				g := graph.NewGraph(newBackend(t), "rejects")
				var in []*graph.Node
				for i, d := range tc.dims {
					in = append(in, graph.Parameter(g, fmt.Sprintf("x%d", i), shapes.Make(dtypes.Float32, d...)))
				}
				var z *graph.Node
				if tc.partition != nil {
					z = graph.Parameter(g, "z", shapes.Make(dtypes.Float32, tc.partition...))
				}
				PIRL(in[0], in[1], in[2], in[3], z, tc.cfg)
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
