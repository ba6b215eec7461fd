package swavloss

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"

	"github.com/swav-go/swav/internal/precision"
)

// Config holds the hyperparameters of the SwAV loss. The zero value is not valid;
// start from [DefaultConfig].
type Config struct {
	// Assign lists the crops whose codes are computed (the reference's
	// crops_for_assign). Indices refer to the scores slice given to [Loss].
	// Default {0, 1}: the two large crops.
	Assign []int

	// Temperature is τ, dividing the scores before the softmax of the swapped
	// prediction. Default 0.1.
	Temperature float64

	// Epsilon is ε, the entropic regularisation of Sinkhorn-Knopp. Default 0.05.
	Epsilon float64

	// Iterations is the number of Sinkhorn-Knopp iterations. Default 3.
	Iterations int
}

// DefaultConfig returns the reference's defaults: Assign {0, 1}, τ = 0.1, ε = 0.05,
// 3 Sinkhorn iterations.
func DefaultConfig() Config {
	return Config{Assign: []int{0, 1}, Temperature: 0.1, Epsilon: 0.05, Iterations: 3}
}

// Validate reports whether the configuration is usable with numCrops crops.
func (c Config) Validate(numCrops int) error {
	if numCrops < 2 {
		return fmt.Errorf("swavloss: the swapped prediction needs at least 2 crops, got %d", numCrops)
	}
	if len(c.Assign) == 0 {
		return fmt.Errorf("swavloss: Config.Assign (crops used for codes) is empty")
	}
	for _, crop := range c.Assign {
		if crop < 0 || crop >= numCrops {
			return fmt.Errorf("swavloss: Config.Assign holds crop %d, out of range for %d crops", crop, numCrops)
		}
	}
	if !(c.Temperature > 0) {
		return fmt.Errorf("swavloss: Config.Temperature (τ) must be > 0, got %g", c.Temperature)
	}
	if !(c.Epsilon > 0) {
		return fmt.Errorf("swavloss: Config.Epsilon (ε) must be > 0, got %g", c.Epsilon)
	}
	if c.Iterations < 0 {
		return fmt.Errorf("swavloss: Config.Iterations must be >= 0, got %d", c.Iterations)
	}
	return nil
}

// QueueScores carries the scores of the queued embeddings, to be prepended to the
// batch scores before Sinkhorn. [Queue.Scores] builds it.
type QueueScores struct {
	// Scores holds one L×K matrix per assignment crop, in the order of
	// Config.Assign: the queued embeddings of that crop times Cᵀ, with the current
	// prototypes C. They carry no gradient.
	Scores []*graph.Node

	// Use is an optional boolean scalar. When it is false the codes are computed
	// from the batch alone (the reference's queue that is not yet full). Nil means
	// the queue is always used.
	Use *graph.Node
}

// Loss computes the SwAV swapped-prediction loss and the codes.
//
// scores holds one B×K matrix per crop (embeddings z of that crop times Cᵀ), in
// crop order, large crops first. For each assignment crop i = cfg.Assign[j], the
// codes are q_i = Sinkhorn(scores[i]) (with the queue scores of j prepended when
// queue is non-nil and in use, keeping only the last B rows), with no gradient.
// Then
//
//	subloss_i = Σ_{v≠i} −mean_b Σ_k q_i[b,k] · log_softmax(scores[v]/τ)[b,k]  / (V−1)
//	loss      = mean over the assignment crops of subloss_i
//
// where V = len(scores), exactly the reference's averaging. The returned codes are
// q_i (B×K, rows summing to 1), one per assignment crop in cfg.Assign order, for
// logging (see [CodeEntropy], [PrototypesInUse]).
//
// Half-precision scores (float16, bfloat16) are converted to float32 first, as
// apex AMP does for exp and log_softmax; the loss and codes are then float32.
// float32 and float64 are kept as is.
//
// It panics (with an error) on an invalid configuration or mismatched shapes.
func Loss(scores []*graph.Node, cfg Config, queue *QueueScores) (loss *graph.Node, codes []*graph.Node) {
	if err := cfg.Validate(len(scores)); err != nil {
		panic(fmt.Errorf("swavloss.Loss: %w", err))
	}
	first := scores[0]
	if first.Rank() != 2 || !first.DType().IsFloat() {
		panic(fmt.Errorf("swavloss.Loss: scores[0] must be a B×K float matrix, got shape %s", first.Shape()))
	}
	for v, s := range scores {
		if !s.Shape().Equal(first.Shape()) {
			panic(fmt.Errorf("swavloss.Loss: scores[%d] has shape %s, but scores[0] has %s (all crops share B and K)",
				v, s.Shape(), first.Shape()))
		}
	}
	if queue != nil {
		if len(queue.Scores) != len(cfg.Assign) {
			panic(fmt.Errorf("swavloss.Loss: %d queue scores given for %d assignment crops",
				len(queue.Scores), len(cfg.Assign)))
		}
		for j, qs := range queue.Scores {
			if qs.Rank() != 2 || qs.Shape().Dim(1) != first.Shape().Dim(1) {
				panic(fmt.Errorf("swavloss.Loss: queue scores %d must be L×K with K=%d, got shape %s",
					j, first.Shape().Dim(1), qs.Shape()))
			}
		}
		if queue.Use != nil && (!queue.Use.IsScalar() || queue.Use.DType() != dtypes.Bool) {
			panic(fmt.Errorf("swavloss.Loss: QueueScores.Use must be a boolean scalar, got shape %s", queue.Use.Shape()))
		}
	}

	dtype := precision.Compute(first.DType())
	crops := make([]*graph.Node, len(scores))
	for v, s := range scores {
		crops[v] = graph.ConvertDType(s, dtype) // No-op when already in dtype.
	}
	numCrops := len(crops)
	batchSize := first.Shape().Dim(0) // B of the batch, without the queue.

	// log softmax(scores_v / τ) per crop: the predictions, computed once per crop.
	logProbs := make([]*graph.Node, numCrops)
	for v, s := range crops {
		logProbs[v] = graph.LogSoftmax(graph.DivScalar(s, cfg.Temperature), -1)
	}

	codes = make([]*graph.Node, len(cfg.Assign))
	for j, crop := range cfg.Assign {
		var q *graph.Node
		if queue == nil || queue.Use != nil {
			q = Sinkhorn(crops[crop], cfg.Epsilon, cfg.Iterations) // Codes from the batch alone.
		}
		if queue != nil {
			withQueue := graph.Concatenate([]*graph.Node{graph.ConvertDType(queue.Scores[j], dtype), crops[crop]}, 0)
			qQueue := Sinkhorn(withQueue, cfg.Epsilon, cfg.Iterations)
			// Keep the last B rows: the batch (the queue rows come first).
			qQueue = graph.Slice(qQueue, graph.AxisRangeToEnd(qQueue.Shape().Dim(0)-batchSize))
			if q == nil {
				q = qQueue
			} else {
				q = graph.Where(queue.Use, qQueue, q)
			}
		}
		q = graph.StopGradient(q)
		codes[j] = q

		var subloss *graph.Node
		for v := range numCrops {
			if v == crop {
				continue
			}
			// −mean_b Σ_k q[b,k]·log p_v[b,k]
			crossEntropy := graph.Neg(graph.ReduceAllMean(graph.ReduceSum(graph.Mul(q, logProbs[v]), -1)))
			if subloss == nil {
				subloss = crossEntropy
			} else {
				subloss = graph.Add(subloss, crossEntropy)
			}
		}
		subloss = graph.DivScalar(subloss, float64(numCrops-1))
		if loss == nil {
			loss = subloss
		} else {
			loss = graph.Add(loss, subloss)
		}
	}
	loss = graph.DivScalar(loss, float64(len(cfg.Assign)))
	return loss, codes
}
