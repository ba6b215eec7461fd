package beamembed

import (
	"context"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/filter"

	// Beam's filesystems: local paths, gs:// and s3://.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"
)

// Registration is how Beam's Go SDK finds the DoFns and types on a worker; it must run
// in init.
func init() {
	beam.RegisterType(reflect.TypeFor[Embedding]())
	beam.RegisterType(reflect.TypeFor[Failure]())
	register.DoFn4x1[context.Context, string, func(string), func(Failure), error](&matchFn{})
	register.DoFn4x1[context.Context, string, func(Embedding), func(Failure), error](&embedFn{})
	register.DoFn1x2[Embedding, int, Embedding](&keyFn{})
	register.DoFn3x1[context.Context, int, func(*Embedding) bool, error](&writeShardFn{})
	register.DoFn3x1[context.Context, []byte, func(*Failure) bool, error](&writeDeadLetterFn{})
	register.Emitter1[string]()
	register.Emitter1[Embedding]()
	register.Emitter1[Failure]()
	register.Iter1[Embedding]()
	register.Iter1[Failure]()
}

// Result holds the pipeline's collections, for callers that add their own steps (or
// assertions) after Build.
type Result struct {
	// Embeddings is PCollection<Embedding>: one per embedded file.
	Embeddings beam.PCollection
	// Failures is PCollection<Failure>: one per dead-letter record.
	Failures beam.PCollection
}

// Build adds the embedding pipeline described in the package documentation to s:
// match opts.Inputs, embed, write the shards and the dead letter under opts.Prefix. It
// returns an error for invalid options; errors met while running (a pattern that
// matches nothing, a model that cannot be loaded, an output that cannot be written)
// fail the run.
func Build(s beam.Scope, opts Options) (Result, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	s = s.Scope("swav.Embed")
	patterns := beam.CreateList(s, o.Inputs)
	paths, walkFailed := beam.ParDo2(s.Scope("Match"), &matchFn{}, patterns)
	paths = filter.Distinct(s, paths)
	jsonSafe := false
	for _, f := range o.Formats {
		jsonSafe = jsonSafe || f == "jsonl"
	}
	embs, failed := beam.ParDo2(s.Scope("Embed"), &embedFn{
		Model: o.Model, Output: o.Output, Raw: o.Raw, BatchSize: o.BatchSize,
		MaxFileBytes: o.MaxFileBytes, MaxPixels: o.MaxPixels, MaxModelBytes: o.MaxModelBytes,
		JSONSafe: jsonSafe,
	}, paths)
	failures := beam.Flatten(s, walkFailed, failed)
	ws := s.Scope("WriteShards")
	keyed := beam.ParDo(ws, &keyFn{Shards: o.Shards}, embs)
	beam.ParDo0(ws, &writeShardFn{Prefix: o.Prefix, Shards: o.Shards, Formats: o.Formats}, beam.GroupByKey(ws, keyed))
	ds := s.Scope("WriteDeadLetter")
	beam.ParDo0(ds, &writeDeadLetterFn{Prefix: o.Prefix}, beam.Impulse(ds), beam.SideInput{Input: failures})
	return Result{Embeddings: embs, Failures: failures}, nil
}
