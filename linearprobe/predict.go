package linearprobe

import (
	"context"
	"fmt"
)

// FileEmbedder embeds image files into feature vectors: *infer.Model and swav.Model
// satisfy it. (The interface keeps this package free of the inference code.)
type FileEmbedder interface {
	// Dim is the length of the vectors EachFile produces.
	Dim() int
	// EachFile hands fn the vector of every path, in input order, or the error that
	// kept that file from being embedded; an error returned by fn stops the run.
	EachFile(ctx context.Context, paths []string, fn func(i int, vec []float32, err error) error) error
}

// ClassProbability is one class and its softmax probability.
type ClassProbability struct {
	// Index is the class's position in Probe.Classes.
	Index int `json:"index"`
	// Class is the class's name.
	Class string `json:"class"`
	// Probability is the softmax probability of the class.
	Probability float32 `json:"probability"`
}

// Prediction is the probe's answer for one file.
type Prediction struct {
	// Path is the file.
	Path string `json:"path"`
	// Top holds the k most probable classes, most probable first (ties by class
	// index); Top[0] is the prediction. Empty when Err is set.
	Top []ClassProbability `json:"top,omitempty"`
	// Err is why the file could not be classified (unreadable or undecodable), or nil.
	Err error `json:"-"`
}

// TopK returns the k most probable classes of one feature vector, most probable first
// (ties by class index); k is clamped to [1, C].
func (p *Probe) TopK(vec []float32, k int) ([]ClassProbability, error) {
	_, probs, err := p.Predict(vec, 1)
	if err != nil {
		return nil, err
	}
	return p.top(probs, k), nil
}

// top ranks one row of probabilities.
func (p *Probe) top(probs []float32, k int) []ClassProbability {
	k = min(max(k, 1), p.C)
	out := make([]ClassProbability, 0, k)
	for _, c := range topClasses(probs, k) {
		out = append(out, ClassProbability{Index: c, Class: p.Classes[c], Probability: probs[c]})
	}
	return out
}

// EachFilePrediction embeds paths with m and hands fn the prediction of every file in
// input order; a file that could not be embedded reaches fn with Err set, and the run
// goes on. It fails before embedding anything when m's vectors do not have the probe's
// dimension (the probe was trained on another model or output), and stops on a
// cancelled context, an embedding failure, or an error returned by fn.
func (p *Probe) EachFilePrediction(ctx context.Context, m FileEmbedder, paths []string, k int, fn func(i int, pred Prediction) error) error {
	if err := p.check(); err != nil {
		return err
	}
	if m == nil {
		return fmt.Errorf("linearprobe: predicting files needs an embedder")
	}
	if d := m.Dim(); d != p.D {
		return fmt.Errorf("linearprobe: the probe was trained on %d-dimensional features but the model gives %d-dimensional vectors: "+
			"use the model (and output: features or projection) the probe was trained with", p.D, d)
	}
	probs := make([]float32, p.C)
	return m.EachFile(ctx, paths, func(i int, vec []float32, err error) error {
		if err != nil {
			return fn(i, Prediction{Path: paths[i], Err: err})
		}
		if len(vec) != p.D {
			return fmt.Errorf("linearprobe: %s: the model gave %d values, the probe expects %d", paths[i], len(vec), p.D)
		}
		p.logits(vec, 1, probs)
		softmaxInPlace(probs)
		return fn(i, Prediction{Path: paths[i], Top: p.top(probs, k)})
	})
}

// PredictFiles embeds paths with m and classifies every file with the probe, returning
// one Prediction per path in order with the k most probable classes. A file that could
// not be read or decoded has its Prediction.Err set and no classes; it does not stop the
// others, so the returned error is only for the run as a whole (a model whose dimension
// does not match the probe's, a cancelled context, a failed forward pass).
func (p *Probe) PredictFiles(ctx context.Context, m FileEmbedder, paths []string, k int) ([]Prediction, error) {
	out := make([]Prediction, len(paths))
	err := p.EachFilePrediction(ctx, m, paths, k, func(i int, pred Prediction) error {
		out[i] = pred
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
