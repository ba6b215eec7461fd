package linearprobe

import (
	"errors"
	"fmt"
	"math"
)

// Source records which model and which of its vectors a probe was trained on, so that
// applying the probe to another model's vectors — which have the same length but mean
// something else — is refused instead of giving confident nonsense.
type Source struct {
	// Model names the model as the trainer was given it: a file path, or
	// "embedded:models/default.swav" for the default model.
	Model string `json:"model"`
	// Vectors names the model's output the probe reads: "features" or "projection".
	Vectors string `json:"vectors"`
	// Fingerprint holds the model's L2-normalised vectors of a few fixed synthetic
	// inputs, concatenated (infer.Model.Fingerprint). Two models agree on them only if
	// they compute the same function, up to float rounding.
	Fingerprint []float32 `json:"fingerprint"`
}

// MinFingerprintAgreement is the mean cosine similarity between a probe's recorded
// fingerprint and a model's below which CheckSource refuses the model. A float16 export
// of a model agrees with it to better than 0.999; two trainings of the same network, or
// the same training at another step, agree far less.
const MinFingerprintAgreement = 0.99

// ErrSourceMismatch is wrapped by CheckSource's errors.
var ErrSourceMismatch = errors.New("the model does not give the vectors the probe was trained on")

// CheckSource checks that vectors of the given kind from a model with the given
// fingerprint (see Source) are what the probe was trained on. A probe without a
// recorded Source (saved before probes recorded one) passes: only its dimension can be
// checked. fingerprint may be nil when vectors alone are to be checked.
func (p *Probe) CheckSource(model, vectors string, fingerprint []float32) error {
	s := p.Source
	if s == nil {
		return nil
	}
	if s.Vectors != "" && vectors != s.Vectors {
		return fmt.Errorf("%w: it was trained on the %s vectors of %s, not the %s vectors", ErrSourceMismatch, s.Vectors, s.Model, vectors)
	}
	if len(s.Fingerprint) == 0 || fingerprint == nil {
		return nil
	}
	agree, err := fingerprintAgreement(s.Fingerprint, fingerprint, p.D)
	if err != nil {
		return fmt.Errorf("%w: it was trained on %s, and %s: %v", ErrSourceMismatch, s.Model, model, err)
	}
	if !(agree >= MinFingerprintAgreement) {
		return fmt.Errorf("%w: it was trained on %s, and %s computes different vectors (mean cosine %.3f on fixed test inputs, %.2f needed)",
			ErrSourceMismatch, s.Model, model, agree, MinFingerprintAgreement)
	}
	return nil
}

// fingerprintAgreement is the mean cosine similarity of the d-long vectors of two
// fingerprints, taken in order.
func fingerprintAgreement(a, b []float32, d int) (float64, error) {
	if d <= 0 || len(a) != len(b) || len(a)%d != 0 {
		return 0, fmt.Errorf("its fingerprint has %d values, the probe's %d (vectors of %d)", len(b), len(a), d)
	}
	var sum float64
	n := len(a) / d
	for i := range n {
		var dot, na, nb float64
		for j := i * d; j < (i+1)*d; j++ {
			dot += float64(a[j]) * float64(b[j])
			na += float64(a[j]) * float64(a[j])
			nb += float64(b[j]) * float64(b[j])
		}
		sum += dot / math.Sqrt(na*nb)
	}
	return sum / float64(n), nil
}
