package contrastive

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/swav-go/swav/internal/precision"
)

// maskedLogit replaces the logits left out of a log-sum-exp: far below any cosine
// similarity divided by a sensible τ, so that they contribute exactly 0, yet finite,
// so that no ∞ − ∞ or 0·∞ arises in the values or the gradients.
const maskedLogit = -1e9

// NTXentConfig holds the hyperparameters of [NTXent]. Start from
// [DefaultNTXentConfig].
type NTXentConfig struct {
	// Temperature is τ. SimCLR's paper uses 0.5 for its CIFAR-10 runs and 0.1 at
	// ImageNet scale with large batches; the useful range is 0.1 to 0.5.
	// Default 0.5.
	Temperature float64

	// LargeViews is the number of leading views that are full-size ("large")
	// crops when the views come from a multi-crop; 0 means every view is large.
	// With 0 < LargeViews < V, a pair of views of the same image is a positive
	// pair unless both views are small, as in the SwAV loss, where small crops
	// are only ever compared with the large ones. Default 0: every pair, as the
	// SwAV authors' multi-crop SimCLR (VISSL) does.
	LargeViews int
}

// DefaultNTXentConfig returns SimCLR's CIFAR-scale default: τ = 0.5, every view large.
func DefaultNTXentConfig() NTXentConfig { return NTXentConfig{Temperature: 0.5} }

// Validate reports whether the configuration is usable with numViews views.
func (c NTXentConfig) Validate(numViews int) error {
	if numViews < 2 {
		return fmt.Errorf("contrastive: NT-Xent needs at least 2 views, got %d", numViews)
	}
	if !(c.Temperature > 0) || math.IsInf(c.Temperature, 1) {
		return fmt.Errorf("contrastive: NTXentConfig.Temperature (τ) must be finite and > 0, got %g", c.Temperature)
	}
	if c.LargeViews < 0 || c.LargeViews > numViews {
		return fmt.Errorf("contrastive: NTXentConfig.LargeViews must be in [0, %d] (0 = all), got %d", numViews, c.LargeViews)
	}
	return nil
}

// NTXentPairs returns the positive pairs (a, b) of views that [NTXent] averages over,
// for numViews views under cfg: every ordered pair of distinct views a ≠ b except
// those where both a and b are small (index ≥ LargeViews when LargeViews > 0). For 2
// views it is {(0,1), (1,0)}; for 2 large + 2 small views it is (0,1), (0,2), (0,3),
// (1,0), (1,2), (1,3), (2,0), (2,1), (3,0), (3,1). It panics if cfg is invalid.
func NTXentPairs(numViews int, cfg NTXentConfig) [][2]int {
	if err := cfg.Validate(numViews); err != nil {
		panic(fmt.Errorf("contrastive.NTXentPairs: %w", err))
	}
	large := cfg.LargeViews
	if large == 0 {
		large = numViews
	}
	var pairs [][2]int
	for a := range numViews {
		for b := range numViews {
			if a != b && (a < large || b < large) {
				pairs = append(pairs, [2]int{a, b})
			}
		}
	}
	return pairs
}

// NTXent is SimCLR's NT-Xent loss over V ≥ 2 views of a batch of N images.
//
// views holds one N×D matrix per view, in view order (large crops first); row i of
// every view comes from image i. All V·N embeddings are L2-normalised and stacked
// into z (row v·N+i is view v of image i). With s(r, c) = z_rᵀz_c / τ, the anchor
// r = a·N+i and its positive p = b·N+i (view b of the same image) contribute
//
//	ℓ(a, b, i) = −log( exp(s(r, p)) / (exp(s(r, p)) + Σ_{c ∈ neg(i)} exp(s(r, c))) )
//
// where neg(i) holds every view of every other image (the V·(N−1) rows of the
// other images). The loss is the mean of ℓ over the positive
// pairs (a, b) of [NTXentPairs] and the N images:
//
//	loss = 1/(|pairs|·N) Σ_{(a,b) ∈ pairs} Σ_i ℓ(a, b, i)
//
// For V = 2 this is exactly SimCLR's loss over its 2N augmented samples (the
// reference's add_contrastive_loss: both directions, the positive and the 2N − 2
// other samples in each softmax, averaged over the 2N anchors). For V > 2 it is the
// multi-crop SimCLR of the SwAV paper's ablation as its authors implemented it
// (VISSL's MultiCropSimclrInfoNCECriterion): each ordered pair of views of an image
// is one term, and the other views of the same image are neither in the numerator
// nor in the denominator. With LargeViews set, pairs of two small crops are left
// out as well (small crops stay negatives of the other images).
//
// The result is a scalar in the compute dtype (float32 for half-precision inputs).
// It panics (with an error) on an invalid configuration or mismatched shapes.
func NTXent(views []*graph.Node, cfg NTXentConfig) *graph.Node {
	if err := cfg.Validate(len(views)); err != nil {
		panic(fmt.Errorf("contrastive.NTXent: %w", err))
	}
	first := views[0]
	if first.Rank() != 2 || !first.DType().IsFloat() || first.Shape().Dim(0) < 1 || first.Shape().Dim(1) < 1 {
		panic(fmt.Errorf("contrastive.NTXent: views[0] must be a non-empty N×D float matrix, got shape %s", first.Shape()))
	}
	for v, x := range views {
		if !x.Shape().Equal(first.Shape()) {
			panic(fmt.Errorf("contrastive.NTXent: views[%d] has shape %s, but views[0] has %s (all views share N and D)",
				v, x.Shape(), first.Shape()))
		}
	}
	g := first.Graph()
	dtype := precision.Compute(first.DType())
	numViews, n := len(views), first.Shape().Dim(0)
	rows := numViews * n

	parts := make([]*graph.Node, numViews)
	for v, x := range views {
		parts[v] = graph.ConvertDType(x, dtype)
	}
	z := graph.L2Normalize(graph.Concatenate(parts, 0), -1) // (V·N)×D
	// s = z·zᵀ/τ (see similarities).
	logits := graph.DivScalar(similarities(z, z), cfg.Temperature)

	// Host-side constants: which entries belong to the same image (row r and column c
	// with r mod N = c mod N, the diagonal included), and the weight 1/(|pairs|·N)
	// of each positive (a·N+i, b·N+i). Products and sums with constants, so the
	// gradient needs no Slice.
	same := make([]bool, rows*rows)
	for r := range rows {
		for c := range rows {
			same[r*rows+c] = r%n == c%n
		}
	}
	pairs := NTXentPairs(numViews, cfg)
	weight := 1 / float64(len(pairs)*n)
	w := make([]float64, rows*rows)
	for _, p := range pairs {
		for i := range n {
			w[(p[0]*n+i)*rows+p[1]*n+i] = weight
		}
	}
	sameImage := graph.Const(g, tensors.FromFlatDataAndDimensions(same, rows, rows))
	weights := graph.ConvertDType(graph.Const(g, tensors.FromFlatDataAndDimensions(w, rows, rows)), dtype)

	// λ_r = log Σ_{c ∈ neg(r)} exp(s(r, c)), max-shifted; −∞ (a large negative) when
	// the batch has a single image.
	negLogits := graph.Where(sameImage, graph.Scalar(g, dtype, maskedLogit), logits)
	negLSE := logSumExp(negLogits)
	// ℓ = −log(e^s / (e^s + e^λ)) = softplus(λ − s), for every (r, c); the weights
	// keep the positives.
	terms := graph.Softplus(graph.Sub(negLSE, logits))
	return graph.ReduceAllSum(graph.Mul(weights, terms))
}

// logSumExp returns log Σ_c exp(x[r, c]) as an R×1 matrix, shifting by the row
// maximum first.
func logSumExp(x *graph.Node) *graph.Node {
	m := graph.StopGradient(graph.ReduceAndKeep(x, graph.ReduceMax, -1))
	return graph.Add(m, graph.Log(graph.ReduceAndKeep(graph.Exp(graph.Sub(x, m)), graph.ReduceSum, -1)))
}
