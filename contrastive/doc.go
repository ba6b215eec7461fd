// Package contrastive implements the contrastive objectives of the methods the SwAV
// paper compares itself with (its Table 1), as pure GoMLX graph functions in the
// style of package swavloss:
//
//   - ntxent.go: [NTXent], SimCLR's normalised temperature-scaled cross-entropy
//     (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
//     Representations"), with the multi-view extension used for SimCLR with
//     multi-crop (Caron et al. 2020) as its authors implemented it in VISSL.
//   - infonce.go: [InfoNCE], MoCo's loss against a queue of keys (He et al. 2020;
//     MoCo v2, Chen et al. 2020).
//   - nce.go: [NCE], the noise-contrastive estimation against memory-bank negatives
//     (Wu et al. 2018), and [PIRL], its λ-mix of the jigsaw-to-bank and image-to-bank
//     terms (Misra & van der Maaten 2020).
//
// Notation: N is the number of images in the batch, V the number of views of each,
// D the embedding dimension, τ the temperature, sim(u, v) = uᵀv / (‖u‖‖v‖) the
// cosine similarity.
//
// Embeddings need not be normalised: each loss L2-normalises its inputs itself
// (as the references do in the loss or just before it). Keys, queues and
// memory-bank entries carry no gradient. The state these losses read (MoCo's queue,
// PIRL's memory bank and its normalisation constant) lives in package memory. Half-precision inputs
// (float16, bfloat16) are computed in float32; float32 and float64 are kept.
//
// Graph-building functions follow the GoMLX convention: they panic (with an error
// value naming the function and the problem) on invalid arguments; executors turn
// such panics into returned errors. The package is checked against hand-computed
// float64 values and against golden values computed by PyTorch (see
// testdata/README.md).
package contrastive
