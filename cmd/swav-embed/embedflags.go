package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/infer"
)

// Help texts and defaults shared by the commands that run a model over images.
const (
	modelHelp   = "model checkpoint (default: the embedded Fashion-MNIST model)"
	onErrorHelp = "unreadable images: skip (list them on standard error and go on) or fail"
	workersHelp = "goroutines decoding images"
	batchHelp   = "images per forward pass"
	// onErrorDefault is every command's --on-error default: a bad file among thousands
	// is listed, not allowed to end a long run; --on-error fail is all-or-nothing.
	onErrorDefault = "skip"
)

// modelFlags are the model flags of the commands that embed images (embed, cluster,
// map, predict, search, dedup): --model, --from-file, --vectors, and the decoding flags
// --on-error, --workers and --batch-size.
type modelFlags struct {
	model, output, onError string
	fromFile               string
	workers, batchSize     int
}

// modelFlagHelp says which of modelFlags a command registers, with the help texts that
// differ between commands. An empty output leaves --vectors out; decoding false leaves
// the decoding flags out (the model's defaults then apply).
type modelFlagHelp struct {
	model, output string
	decoding      bool
}

// register adds the flags h names to fl. The old names --output (now --vectors: --out
// is always the output file) and --batch (now --batch-size) stay as hidden, deprecated
// aliases.
func (f *modelFlags) register(fl *pflag.FlagSet, h modelFlagHelp) {
	fl.StringVar(&f.model, "model", "", h.model)
	fl.StringVar(&f.fromFile, "from-file", "", fromFileHelp)
	if h.output != "" {
		vectorsFlag(fl, &f.output, h.output)
	}
	if h.decoding {
		onErrorFlag(fl, &f.onError, onErrorHelp)
		fl.IntVar(&f.workers, "workers", 2, workersHelp)
		batchSizeFlag(fl, &f.batchSize, 64, batchHelp)
	}
}

// vectorsFlag registers --vectors (which vectors: features or projection) with its
// deprecated alias --output.
func vectorsFlag(fl *pflag.FlagSet, p *string, help string) {
	fl.StringVar(p, "vectors", "features", help)
	alias(fl, "output", "vectors")
}

// batchSizeFlag registers --batch-size with its deprecated alias --batch.
func batchSizeFlag(fl *pflag.FlagSet, p *int, def int, help string) {
	fl.IntVar(p, "batch-size", def, help)
	alias(fl, "batch", "batch-size")
}

// onErrorFlag registers --on-error with the default every command shares.
func onErrorFlag(fl *pflag.FlagSet, p *string, help string) {
	fl.StringVar(p, "on-error", onErrorDefault, help)
}

// onErrorPolicy parses --on-error.
func (f modelFlags) onErrorPolicy() (dataset.OnError, error) { return parseOnError(f.onError) }

// parseOnError parses an --on-error value; a bad one is a usage error.
func parseOnError(v string) (dataset.OnError, error) {
	var onErr dataset.OnError
	if err := onErr.UnmarshalText([]byte(v)); err != nil {
		return onErr, &usageError{fmt.Errorf("--on-error: %w", err)}
	}
	return onErr, nil
}

// vectors parses --vectors.
func (f modelFlags) vectors() (infer.Output, error) { return parseVectors(f.output) }

// parseVectors parses a --vectors value; a bad one is a usage error.
func parseVectors(v string) (infer.Output, error) {
	out, err := infer.ParseOutput(v)
	if err != nil {
		return out, &usageError{fmt.Errorf("--vectors: %w", err)}
	}
	return out, nil
}

// load opens the backend and the model of --model (the embedded default when empty)
// giving output vectors, L2-normalised unless raw, with the decoding flags' batch size
// and workers.
func (f modelFlags) load(output infer.Output, raw bool) (*swav.Model, error) {
	be, err := newBackend()
	if err != nil {
		return nil, err
	}
	return loadModel(f.model, infer.Options{Backend: be, Output: output, Raw: raw, BatchSize: f.batchSize, Workers: f.workers,
		Warn: func(msg string) { fmt.Fprintln(os.Stderr, "warning:", msg) }})
}
