package method

import (
	"errors"
	"fmt"
)

// ErrNoNormalization is wrapped by Run.Normalization's error when neither the run,
// the method's configuration nor the data give a normalisation.
var ErrNoNormalization = errors.New("no normalisation given and no data to estimate it from")

// Normalization resolves the per-channel mean and std of a method's views, by the
// rule every method follows: the run's Mean and Std when the user gave them, else
// mean and std (the method's configured ones) when mean is not empty, else the
// data's statistics from run.ChannelStats (whose error is returned as it is). With
// none of them it returns an error wrapping [ErrNoNormalization], prefixed by name
// (the method's name, e.g. "moco").
func (r Run) Normalization(name string, mean, std []float32) ([]float32, []float32, error) {
	switch {
	case len(r.Mean) > 0:
		return r.Mean, r.Std, nil
	case len(mean) > 0:
		return mean, std, nil
	case r.ChannelStats == nil:
		return nil, nil, fmt.Errorf("%s: %w", name, ErrNoNormalization)
	}
	return r.ChannelStats()
}
