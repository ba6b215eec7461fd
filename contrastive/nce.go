package contrastive

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"

	"github.com/swav-go/swav/internal/precision"
)

// float32Epsilon is the ε the reference's NCECriterion adds to its denominators
// (numpy's finfo(float32).eps), kept for parity.
const float32Epsilon = 1.1920928955078125e-07

// NCEConfig holds the hyperparameters of [NCE], the noise-contrastive estimation of
// a memory-bank method. Start from [DefaultNCEConfig].
type NCEConfig struct {
	// Temperature is τ. Default 0.07 (PIRL's, as NPID's).
	Temperature float64

	// DataSize is |D|, the number of training images (one memory-bank entry each):
	// negatives are drawn uniformly, so the noise distribution is 1/|D|. Required.
	DataSize int
}

// DefaultNCEConfig returns PIRL's default τ = 0.07 for a dataset of dataSize images.
func DefaultNCEConfig(dataSize int) NCEConfig {
	return NCEConfig{Temperature: 0.07, DataSize: dataSize}
}

// Validate reports whether the configuration is usable.
func (c NCEConfig) Validate() error {
	if !(c.Temperature > 0) || math.IsInf(c.Temperature, 1) {
		return fmt.Errorf("contrastive: NCEConfig.Temperature (τ) must be finite and > 0, got %g", c.Temperature)
	}
	if c.DataSize < 1 {
		return fmt.Errorf("contrastive: NCEConfig.DataSize (|D|, the number of training images) must be ≥ 1, got %d", c.DataSize)
	}
	return nil
}

// NCE is the noise-contrastive estimation loss of the memory-bank methods (NPID, Wu
// et al. 2018; PIRL, Misra & van der Maaten 2020, its L_NCE), as the PIRL
// authors implemented it (VISSL's NCELossWithMemory with loss_type "nce": NCEAverage
// and lemniscate's NCECriterion).
//
// embedding is the B×D batch of embeddings v being trained, positive the B×D
// memory-bank entries m of the same images, and negatives the K×D bank entries drawn
// as noise (shared by the batch). All are L2-normalised here; positive and negatives
// carry no gradient. partition is the scalar normalisation constant Z (no gradient);
// nil or a value ≤ 0 (an unset Z, such as memory.Bank's before its first step) means
// the estimate of this batch (below). With P(m) = exp(vᵀm/τ)/Z, the
// model's unnormalised probability that m is v's image, and c = K/|D| (K noise
// samples from the uniform distribution 1/|D|),
//
//	h(v, m) = P(m) / (P(m) + c + ε)        (the probability that m is data, not noise)
//	loss    = −1/B Σ_b [ log h(v_b, m_b) + Σ_k log(c / (P(n_k) + c + ε)) ]
//
// with ε = 2^−23 (float32's epsilon) as the reference. It is computed in the log
// domain: log h = x − a − softplus(x − a), with x = vᵀm/τ − log Z and a = log(c+ε).
//
// estimate is the reference's compute_partition_function on this batch: the mean of
// exp(vᵀm/τ) over the B·(K+1) positive and negative scores, times |D| (no
// gradient). The reference sets Z to it once, on the first step, and keeps it; the
// caller stores it in a variable (memory.Bank.KeepPartition) and passes that
// variable as partition on every step.
//
// The results are scalars in the compute dtype. NCE panics (with an error) on an
// invalid configuration or mismatched shapes.
func NCE(embedding, positive, negatives, partition *graph.Node, cfg NCEConfig) (loss, estimate *graph.Node) {
	if err := cfg.Validate(); err != nil {
		panic(fmt.Errorf("contrastive.NCE: %w", err))
	}
	checkBankInputs("contrastive.NCE", embedding, positive, negatives, partition)
	dtype := precision.Compute(embedding.DType())
	v := graph.L2Normalize(graph.ConvertDType(embedding, dtype), -1)
	m := graph.StopGradient(graph.L2Normalize(graph.ConvertDType(positive, dtype), -1))
	n := graph.StopGradient(graph.L2Normalize(graph.ConvertDType(negatives, dtype), -1))
	numNegatives := negatives.Shape().Dim(0)

	posLogits := graph.DivScalar(graph.ReduceAndKeep(graph.Mul(v, m), graph.ReduceSum, -1), cfg.Temperature) // B×1
	// B×K = v·nᵀ/τ (see similarities).
	negLogits := graph.DivScalar(similarities(v, n), cfg.Temperature)

	// estimate = |D| · mean over the B·(K+1) scores of exp(s/τ).
	all := graph.Concatenate([]*graph.Node{posLogits, negLogits}, -1)
	estimate = graph.StopGradient(graph.MulScalar(graph.ReduceAllMean(graph.Exp(all)), float64(cfg.DataSize)))
	z := estimate
	if partition != nil {
		given := graph.StopGradient(graph.ConvertDType(partition, dtype))
		z = graph.Where(graph.GreaterThan(given, graph.ScalarZero(given.Graph(), dtype)), given, estimate)
	}
	logZ := graph.Log(z)

	c := float64(numNegatives) / float64(cfg.DataSize)
	a := math.Log(c + float32Epsilon)
	// Positive: log h = x − a − softplus(x − a).
	xPos := graph.AddScalar(graph.Sub(posLogits, logZ), -a)
	logH := graph.Sub(xPos, graph.Softplus(xPos))
	// Negatives: log(c / (P + c + ε)) = log c − a − softplus(x − a).
	xNeg := graph.AddScalar(graph.Sub(negLogits, logZ), -a)
	logNoise := graph.AddScalar(graph.Neg(graph.Softplus(xNeg)), math.Log(c)-a)

	perSample := graph.Add(graph.ReduceSum(logH, -1), graph.ReduceSum(logNoise, -1)) // [B]
	loss = graph.Neg(graph.ReduceAllMean(perSample))
	return loss, estimate
}

// PIRLConfig holds the hyperparameters of [PIRL]. Start from [DefaultPIRLConfig].
type PIRLConfig struct {
	// NCE is the configuration of both NCE terms.
	NCE NCEConfig

	// Lambda is λ, the weight of the jigsaw-to-bank term; the image-to-bank term
	// gets 1 − λ. Default 0.5 (the paper's, and VISSL's loss_weights [0.5, 0.5]).
	Lambda float64
}

// DefaultPIRLConfig returns PIRL's defaults for a dataset of dataSize images:
// τ = 0.07, λ = 0.5.
func DefaultPIRLConfig(dataSize int) PIRLConfig {
	return PIRLConfig{NCE: DefaultNCEConfig(dataSize), Lambda: 0.5}
}

// Validate reports whether the configuration is usable.
func (c PIRLConfig) Validate() error {
	if err := c.NCE.Validate(); err != nil {
		return err
	}
	if !(c.Lambda >= 0 && c.Lambda <= 1) {
		return fmt.Errorf("contrastive: PIRLConfig.Lambda (λ) must be in [0, 1], got %g", c.Lambda)
	}
	return nil
}

// PIRL is the loss of Misra & van der Maaten 2020 ("Self-Supervised Learning of
// Pretext-Invariant Representations", its final objective):
//
//	loss = λ · L_NCE(m_I, g(v_{I^t})) + (1 − λ) · L_NCE(m_I, f(v_I))
//
// where jigsaw is the B×D batch g(v_{I^t}) (the jigsaw patches' concatenated
// features through the patch head), image the B×D batch f(v_I) (the image's
// features through the image head), positive the B×D memory-bank entries m_I of the
// batch's images, and negatives the K×D entries drawn from the bank; each L_NCE is
// [NCE]. Both terms use one normalisation constant: partition, or when it is nil or
// ≤ 0 the estimate of the jigsaw term, as the reference (whose patches term runs
// first and sets Z). estimate is the jigsaw term's (see [NCE]).
//
// One difference from the reference: both terms and all B images share the K
// negatives (the reference draws K per image and per term). The expectation of the
// loss is the same, and one K×D gather and two GEMMs replace 2·B·K gathered rows.
//
// It panics (with an error) on an invalid configuration or mismatched shapes.
func PIRL(jigsaw, image, positive, negatives, partition *graph.Node, cfg PIRLConfig) (loss, estimate *graph.Node) {
	if err := cfg.Validate(); err != nil {
		panic(fmt.Errorf("contrastive.PIRL: %w", err))
	}
	checkBankInputs("contrastive.PIRL", jigsaw, positive, negatives, partition)
	if !image.Shape().Equal(jigsaw.Shape()) {
		panic(fmt.Errorf("contrastive.PIRL: image has shape %s, jigsaw %s (want equal)", image.Shape(), jigsaw.Shape()))
	}
	jigsawLoss, estimate := NCE(jigsaw, positive, negatives, partition, cfg.NCE)
	z := estimate
	if partition != nil {
		given := graph.ConvertDType(partition, estimate.DType())
		z = graph.Where(graph.GreaterThan(given, graph.ScalarZero(given.Graph(), given.DType())), given, estimate)
	}
	imageLoss, _ := NCE(image, positive, negatives, z, cfg.NCE)
	loss = graph.Add(graph.MulScalar(jigsawLoss, cfg.Lambda), graph.MulScalar(imageLoss, 1-cfg.Lambda))
	return loss, estimate
}

// checkBankInputs panics unless embedding and positive are equal B×D float matrices,
// negatives K×D and partition (when given) a float scalar.
func checkBankInputs(fn string, embedding, positive, negatives, partition *graph.Node) {
	if embedding == nil || positive == nil || negatives == nil {
		panic(fmt.Errorf("%s: the embeddings, positives and negatives are all required", fn))
	}
	if embedding.Rank() != 2 || !embedding.DType().IsFloat() || embedding.Shape().Dim(0) < 1 || embedding.Shape().Dim(1) < 1 {
		panic(fmt.Errorf("%s: embeddings must be a non-empty B×D float matrix, got shape %s", fn, embedding.Shape()))
	}
	if !positive.Shape().Equal(embedding.Shape()) {
		panic(fmt.Errorf("%s: positives have shape %s, embeddings %s (want equal)", fn, positive.Shape(), embedding.Shape()))
	}
	d := embedding.Shape().Dim(1)
	if negatives.Rank() != 2 || !negatives.DType().IsFloat() || negatives.Shape().Dim(1) != d || negatives.Shape().Dim(0) < 1 {
		panic(fmt.Errorf("%s: negatives must be a non-empty K×D float matrix with D=%d, got shape %s", fn, d, negatives.Shape()))
	}
	if partition != nil && (!partition.IsScalar() || !partition.DType().IsFloat()) {
		panic(fmt.Errorf("%s: partition (Z) must be a float scalar, got shape %s", fn, partition.Shape()))
	}
}
