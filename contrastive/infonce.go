package contrastive

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"

	"github.com/swav-go/swav/internal/precision"
)

// InfoNCEConfig holds the hyperparameters of [InfoNCE]. Start from
// [DefaultInfoNCEConfig].
type InfoNCEConfig struct {
	// Temperature is τ. Default 0.2, MoCo v2's (moco-t 0.2 with the MLP head; MoCo v1
	// used 0.07).
	Temperature float64
}

// DefaultInfoNCEConfig returns MoCo v2's default: τ = 0.2.
func DefaultInfoNCEConfig() InfoNCEConfig { return InfoNCEConfig{Temperature: 0.2} }

// Validate reports whether the configuration is usable.
func (c InfoNCEConfig) Validate() error {
	if !(c.Temperature > 0) || math.IsInf(c.Temperature, 1) {
		return fmt.Errorf("contrastive: InfoNCEConfig.Temperature (τ) must be finite and > 0, got %g", c.Temperature)
	}
	return nil
}

// InfoNCE is MoCo's contrastive loss (He et al. 2020; MoCo v2, Chen et al. 2020;
// facebookresearch/moco, builder.py MoCo.forward and main_moco.py's criterion).
//
// query holds the N×D query embeddings q (from the encoder being trained), key the
// N×D keys k of the same images (from the momentum encoder), and queue the K×D keys
// of earlier batches, the negatives. q, k and the queue rows are L2-normalised here
// (idempotent for the unit rows MoCo stores; a zero row stays zero); key and queue
// carry no gradient. With l⁺_i = q_iᵀk_i and l⁻_ij = q_iᵀqueue_j,
//
//	loss = −1/N Σ_i log( exp(l⁺_i/τ) / (exp(l⁺_i/τ) + Σ_j exp(l⁻_ij/τ)) )
//
// the cross-entropy of the logits [l⁺, l⁻]/τ with label 0, averaged over the batch,
// as the reference computes it. All three inputs are required (without negatives
// the loss would be identically 0).
//
// The result is a scalar in the compute dtype (float32 for half-precision inputs).
// It panics (with an error) on an invalid configuration or mismatched shapes.
func InfoNCE(query, key, queue *graph.Node, cfg InfoNCEConfig) *graph.Node {
	if err := cfg.Validate(); err != nil {
		panic(fmt.Errorf("contrastive.InfoNCE: %w", err))
	}
	if query == nil || key == nil || queue == nil {
		panic(fmt.Errorf("contrastive.InfoNCE: query, key and queue are all required"))
	}
	if query.Rank() != 2 || !query.DType().IsFloat() || query.Shape().Dim(0) < 1 || query.Shape().Dim(1) < 1 {
		panic(fmt.Errorf("contrastive.InfoNCE: query must be a non-empty N×D float matrix, got shape %s", query.Shape()))
	}
	if !key.Shape().Equal(query.Shape()) {
		panic(fmt.Errorf("contrastive.InfoNCE: key has shape %s, query %s (want equal)", key.Shape(), query.Shape()))
	}
	d := query.Shape().Dim(1)
	if queue.Rank() != 2 || !queue.DType().IsFloat() || queue.Shape().Dim(1) != d || queue.Shape().Dim(0) < 1 {
		panic(fmt.Errorf("contrastive.InfoNCE: queue must be a non-empty K×D float matrix with D=%d, got shape %s", d, queue.Shape()))
	}
	dtype := precision.Compute(query.DType())
	q := graph.L2Normalize(graph.ConvertDType(query, dtype), -1)
	k := graph.StopGradient(graph.L2Normalize(graph.ConvertDType(key, dtype), -1))
	negatives := graph.StopGradient(graph.L2Normalize(graph.ConvertDType(queue, dtype), -1))

	positive := graph.DivScalar(graph.ReduceAndKeep(graph.Mul(q, k), graph.ReduceSum, -1), cfg.Temperature) // N×1
	// N×K = q·queueᵀ/τ (see similarities).
	negative := graph.DivScalar(similarities(q, negatives), cfg.Temperature)
	// −log softmax at column 0 = log Σ exp(logits) − l⁺/τ.
	logits := graph.Concatenate([]*graph.Node{positive, negative}, -1)
	return graph.ReduceAllMean(graph.Sub(logSumExp(logits), positive))
}
