// Package linearprobe evaluates frozen image embeddings the way the SwAV paper
// does: by training a linear classifier on top of fixed features ("linear
// evaluation") and by weighted k-nearest-neighbour voting.
//
// The linear probe follows the paper's protocol: weights drawn from
// N(0, 0.01²), zero bias, mini-batch SGD with momentum 0.9, a cosine learning
// rate schedule, weight decay and softmax cross-entropy. The learning rate and
// weight decay are chosen from a small grid on a held-out split of the training
// set, after which the probe is retrained on the whole training set with the
// chosen pair. Training runs as a GoMLX computation graph on the backend passed
// by the caller; prediction is plain Go.
//
// The kNN classifier follows Wu et al. (2018) and DINO: features are
// L2-normalised, the K most similar training samples vote for their class with
// weight exp(similarity/T).
//
// Both produce a [Report] with top-1/top-5 accuracy, per-class accuracy and a
// confusion matrix, which can be printed ([Report.Text]), marshalled to JSON
// or drawn as a heatmap ([Report.WriteConfusionPNG]).
//
// The package imports no GoMLX backend: callers pass a backends.Backend.
package linearprobe
