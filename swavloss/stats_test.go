package swavloss

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func TestCodeStats(t *testing.T) {
	backend := newBackend(t)
	exec, err := graph.NewExec(backend, func(codes *graph.Node) (*graph.Node, *graph.Node) {
		return CodeEntropy(codes), PrototypesInUse(codes)
	})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	const k = 4
	uniform := [][]float64{{0.25, 0.25, 0.25, 0.25}, {0.25, 0.25, 0.25, 0.25}}
	hard := [][]float64{{1, 0, 0, 0}, {0, 0, 1, 0}, {1, 0, 0, 0}}
	for _, tc := range []struct {
		name        string
		codes       [][]float64
		entropy     float64
		inUse       int32
		description string
	}{
		{"uniform", uniform, math.Log(k), 1, "all rows tie: arg-max picks prototype 0"},
		{"hard", hard, 0, 2, "prototypes 0 and 2"},
		{"mixed", [][]float64{{0.5, 0.5, 0, 0}, {0, 0, 0, 1}}, math.Log(2) / 2, 2, "entropy (log 2 + 0)/2"},
	} {
		out, err := exec.Exec(tensors.FromValue(tc.codes))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := asScalar(t, out[0]); math.Abs(got-tc.entropy) > 1e-12 {
			t.Errorf("%s: CodeEntropy = %g, want %g (%s)", tc.name, got, tc.entropy, tc.description)
		}
		if got := out[1].Value().(int32); got != tc.inUse {
			t.Errorf("%s: PrototypesInUse = %d, want %d (%s)", tc.name, got, tc.inUse, tc.description)
		}
	}
}

// TestLossHalfPrecision feeds bfloat16 scores: the loss is computed in float32 and
// stays close to the golden value (bfloat16 rounds the scores to ~4e-3).
func TestLossHalfPrecision(t *testing.T) {
	gold := loadGolden(t)
	backend := newBackend(t)
	exec, err := graph.NewExec(backend, func(s0, s1, s2, s3 *graph.Node) *graph.Node {
		crops := []*graph.Node{s0, s1, s2, s3}
		for i := range crops {
			crops[i] = graph.ConvertDType(crops[i], dtypes.BFloat16)
		}
		loss, _ := Loss(crops, goldenConfig(gold), nil)
		return loss
	})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	out, err := exec.Exec(cropTensors(t, gold.SwavLoss.Scores, dtypes.Float32)...)
	if err != nil {
		t.Fatalf("Exec with bfloat16 scores: %v", err)
	}
	if out[0].DType() != dtypes.Float32 {
		t.Errorf("loss dtype %s, want float32", out[0].DType())
	}
	if got := asScalar(t, out[0]); math.Abs(got-gold.SwavLoss.Loss) > 0.05 {
		t.Errorf("bfloat16 loss = %g, want ≈ %g", got, gold.SwavLoss.Loss)
	}
}
