package main

import (
	"github.com/spf13/pflag"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/infer"
)

// Help texts shared by the commands that run a model over images.
const (
	modelHelp   = "model checkpoint (default: the embedded Fashion-MNIST model)"
	onErrorHelp = "unreadable images: skip (report and go on) or fail"
	workersHelp = "goroutines decoding images"
	batchHelp   = "images per forward pass"
)

// modelFlags are the model flags of the commands that embed images (embed, cluster,
// map, predict, search, dedup): --model, --output, and the decoding flags --on-error,
// --workers and the batch size.
type modelFlags struct {
	model, output, onError string
	workers, batchSize     int
}

// modelFlagHelp says which of modelFlags a command registers, with the help texts that
// differ between commands. An empty output leaves --output out; batchFlag names the
// batch-size flag ("batch-size", or "batch" for embed), and an empty one leaves the
// decoding flags out (the model's defaults then apply).
type modelFlagHelp struct {
	model, output, batchFlag string
}

// register adds the flags h names to fl.
func (f *modelFlags) register(fl *pflag.FlagSet, h modelFlagHelp) {
	fl.StringVar(&f.model, "model", "", h.model)
	if h.output != "" {
		fl.StringVar(&f.output, "output", "features", h.output)
	}
	if h.batchFlag != "" {
		fl.StringVar(&f.onError, "on-error", "skip", onErrorHelp)
		fl.IntVar(&f.workers, "workers", 2, workersHelp)
		fl.IntVar(&f.batchSize, h.batchFlag, 64, batchHelp)
	}
}

// onErrorPolicy parses --on-error.
func (f modelFlags) onErrorPolicy() (dataset.OnError, error) {
	var onErr dataset.OnError
	err := onErr.UnmarshalText([]byte(f.onError))
	return onErr, err
}

// vectors parses --output.
func (f modelFlags) vectors() (infer.Output, error) { return infer.ParseOutput(f.output) }

// load opens the backend and the model of --model (the embedded default when empty)
// giving output vectors, L2-normalised unless raw, with the decoding flags' batch size
// and workers.
func (f modelFlags) load(output infer.Output, raw bool) (*swav.Model, error) {
	be, err := newBackend()
	if err != nil {
		return nil, err
	}
	return loadModel(f.model, infer.Options{Backend: be, Output: output, Raw: raw, BatchSize: f.batchSize, Workers: f.workers})
}
