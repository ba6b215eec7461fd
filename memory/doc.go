// Package memory holds the state of the contrastive methods as GoMLX context
// variables, with the graph operations that read and update it inside a training
// step:
//
//   - queue.go: [Queue], MoCo's FIFO of the K most recent keys, a ring with a write
//     pointer (facebookresearch/moco builder.py, _dequeue_and_enqueue).
//   - bank.go: [Bank], the memory bank of NPID and PIRL: one L2-normalised vector
//     per training image, updated by an exponential moving average (VISSL's
//     NCEAverage.update_memory), negatives drawn by a seeded in-graph sampler, and
//     the NCE normalisation constant Z.
//   - ema.go: [EMA], the momentum (key) encoder: an exponential moving average of
//     the trainable variables of some scopes (MoCo's _momentum_update_key_encoder).
//
// All state is in non-trainable variables of the context, so a training checkpoint
// that saves every variable resumes exactly: the queue's rows and pointer, the
// bank's entries, its sampler's RNG state and Z, the momentum encoder's weights.
//
// Constructors and host-side readers return errors; graph-building methods panic
// (with an error naming the method and the problem) on programmer errors, as GoMLX
// graph code does.
package memory
