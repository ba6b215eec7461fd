// Package swavloss implements the SwAV objective of Caron et al. 2020,
// "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments",
// as GoMLX graph functions.
//
// Notation follows the paper: B is the number of samples whose codes are computed
// together (the batch, plus the queue when one is used), K the number of
// prototypes, C the K×D matrix of L2-normalised prototypes, z the L2-normalised
// D-dimensional embeddings, scores = z·Cᵀ, Q the soft codes computed by the
// Sinkhorn-Knopp algorithm with entropic regularisation ε, and τ the temperature of
// the softmax over prototypes used by the swapped prediction.
//
// The semantics are those of the reference implementation (facebookresearch/swav,
// main_swav.py: distributed_sinkhorn and the loss block of train()) for a world size
// of 1. The package is checked against golden values produced by that reference
// (see testdata/README.md).
//
// Files:
//   - sinkhorn.go: [Sinkhorn], the codes Q.
//   - loss.go: [Loss], the swapped-prediction loss, and its [Config].
//   - queue.go: [Queue], the per-crop FIFO of past embeddings, and [ShiftQueue].
//   - stats.go: [CodeEntropy] and [PrototypesInUse], for logging.
//
// Graph-building functions follow the GoMLX convention: they panic (with an error
// value carrying context) on invalid arguments; executors turn such panics into
// returned errors. Plain-Go functions return errors.
package swavloss
