package beamembed

import (
	"fmt"
	"strings"

	"github.com/swav-go/swav/embedio"
	"github.com/swav-go/swav/infer"
)

// DefaultShards is the number of output shards when Options.Shards is zero.
const DefaultShards = 4

// DefaultBatchSize is the number of images per forward pass when Options.BatchSize is
// zero (infer's own default).
const DefaultBatchSize = 64

// DefaultMaxModelBytes caps a model file read through a Beam filesystem when
// Options.MaxModelBytes is zero: 10 GiB, above checkpoint's own default cap (9.08 GiB).
const DefaultMaxModelBytes = 10 << 30

// Options configure the pipeline Build constructs. Inputs and Prefix are required; the
// zero value of every other field is a documented default.
type Options struct {
	// Inputs are the file patterns to embed: local doublestar globs
	// ("photos/**/*.jpg") or patterns with a Beam filesystem scheme
	// ("gs://bucket/photos/**.jpg", "s3://bucket/photos/*.png").
	Inputs []string
	// Model is the checkpoint to embed with: a local path, or a path on a Beam
	// filesystem (gs://…, s3://…). Empty means the embedded default model.
	Model string
	// Output selects "features" (pooled backbone, the default) or "projection".
	Output string
	// Raw writes vectors without L2 normalisation.
	Raw bool
	// BatchSize is the largest number of images per forward pass (DefaultBatchSize).
	BatchSize int
	// MaxFileBytes caps each image file as imageio.Options.MaxFileBytes does (0: its
	// default, 256 MiB; negative: no cap).
	MaxFileBytes int64
	// MaxPixels caps each image's width×height as imageio.Options.MaxPixels does.
	MaxPixels int
	// MaxModelBytes caps a model read through a Beam filesystem (DefaultMaxModelBytes).
	MaxModelBytes int64
	// Prefix names the outputs: PREFIX-SSSSS-of-NNNNN.EXT and PREFIX-deadletter.jsonl,
	// on the local disk or a Beam filesystem (gs://bucket/out/emb).
	Prefix string
	// Shards is the number of output shards (DefaultShards).
	Shards int
	// Formats are the output formats, each one of embedio.Formats(): "jsonl", "npy",
	// "csv". Empty means jsonl and npy.
	Formats []string
}

// withDefaults validates o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	if len(o.Inputs) == 0 {
		return o, fmt.Errorf("beamembed: no input pattern")
	}
	for _, p := range o.Inputs {
		if strings.TrimSpace(p) == "" {
			return o, fmt.Errorf("beamembed: empty input pattern")
		}
	}
	if o.Prefix == "" {
		return o, fmt.Errorf("beamembed: no output prefix")
	}
	if _, err := infer.ParseOutput(o.Output); err != nil {
		return o, fmt.Errorf("beamembed: %w", err)
	}
	if o.BatchSize < 0 || o.Shards < 0 || o.MaxModelBytes < 0 {
		return o, fmt.Errorf("beamembed: batch size %d, shards %d and model cap %d must not be negative", o.BatchSize, o.Shards, o.MaxModelBytes)
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Shards == 0 {
		o.Shards = DefaultShards
	}
	if o.MaxModelBytes == 0 {
		o.MaxModelBytes = DefaultMaxModelBytes
	}
	if len(o.Formats) == 0 {
		o.Formats = []string{string(embedio.FormatJSONL), string(embedio.FormatNPY)}
	}
	formats := make([]string, len(o.Formats))
	seen := map[string]bool{}
	for i, name := range o.Formats {
		f, err := embedio.FormatFromPath("", name)
		if err != nil {
			return o, fmt.Errorf("beamembed: %w", err)
		}
		if seen[string(f)] {
			return o, fmt.Errorf("beamembed: format %s is listed twice", f)
		}
		seen[string(f)] = true
		formats[i] = string(f)
	}
	o.Formats = formats
	return o, nil
}
