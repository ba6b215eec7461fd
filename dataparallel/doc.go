// Package dataparallel holds the backend-independent parts of data-parallel SwAV
// pretraining: the device mesh and sharding specs, the split of a multi-crop batch over
// devices, and the two computations whose statistics span the whole global batch —
// Sinkhorn-Knopp's sums and batch-norm moments — written over shards with explicit
// cross-replica reductions (see docs/scaling.md for how they fit in a training step).
//
// Notation as in package swavloss: B is the global batch (images), n the number of
// devices (replicas), b = B/n the images per device, K the number of prototypes,
// ε the Sinkhorn regularisation.
//
// The reductions go through a [Collective]. [Simulated] holds every replica's shard in
// one graph and reduces them with plain graph ops: it runs on any backend, including
// the pure-Go ones (which have one device), and is what the tests use to prove that the
// sharded computations equal the single-device ones on the concatenated batch. [SPMD]
// issues GoMLX's AllReduce in a graph compiled with the SPMD strategy, one program per
// device; in GoMLX v0.26.0 only the XLA backend (build tag xla, PJRT plugin installed)
// can compile such a graph — the pure-Go backends return "not implemented" (pinned by a
// test). The same functions serve both: with [Simulated] a caller passes n shards,
// with [SPMD] the one shard its device holds.
//
// Files:
//   - mesh.go: [NewMesh] and the sharding specs ([BatchSpec], [ReplicatedSpec]).
//   - plan.go: [Plan], which rows of each crop tensor go to which device ([Plan.Rows],
//     [Plan.GlobalRow]), [Plan.Split] and [Plan.Merge] of host tensors, and the
//     per-device queue length.
//   - collective.go: [Collective], [Simulated], [SPMD].
//   - sinkhorn.go: [Sinkhorn] over shards, the reference's distributed_sinkhorn.
//   - moments.go: [Moments], synchronised batch-norm statistics from shard sums.
//   - exec.go: [NewSinkhornExec], an SPMD executable of [Sinkhorn], and
//     [NewAutoShardedSinkhornExec], swavloss.Sinkhorn partitioned by XLA Shardy.
//
// Graph-building functions panic on programmer errors (wrong shapes, shard counts), with
// a message prefixed "dataparallel."; functions on host values return wrapped errors.
package dataparallel
