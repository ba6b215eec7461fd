// Command swav-beam embeds image corpora with swav-go on Apache Beam: in-process on
// Prism, or on Dataflow, Flink or Spark through Beam's runners.
//
//	swav-beam embed --input 'photos/**/*.jpg' --output out/emb
//	swav-beam embed --input 'gs://bucket/photos/**.jpg' --output gs://bucket/emb/emb \
//	    --runner dataflow --project P --region R --temp_location gs://bucket/tmp
//
// Flags are Go flags, as in every Beam Go program: this command's own (below) and
// Beam's runner flags (--runner, --endpoint, --environment_type, --project, --region,
// --temp_location, --staging_location, --worker_binary, …; see `swav-beam -help`).
// On a worker the same binary is started by the runner with --worker and runs Beam's
// SDK harness (beam.Init).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx" // registers every runner

	"github.com/swav-go/swav/beam/beamembed"
)

// runnerNames are the runners --runner accepts.
var runnerNames = []string{"prism", "dataflow", "flink", "spark", "universal"}

// patterns is a repeatable --input flag.
type patterns []string

func (p *patterns) String() string { return strings.Join(*p, " ") }

func (p *patterns) Set(v string) error {
	*p = append(*p, v)
	return nil
}

// config holds the embed subcommand's flags.
type config struct {
	inputs   patterns
	model    string
	output   string
	shards   int
	formats  string
	vectors  string
	raw      bool
	batch    int
	maxBytes int64
	maxPix   int
}

// register defines the flags on fl.
func (c *config) register(fl *flag.FlagSet) {
	fl.Var(&c.inputs, "input", "file pattern to embed (repeatable): a local doublestar glob ('photos/**/*.jpg') or a gs:// or s3:// pattern; more patterns may follow the flags")
	fl.StringVar(&c.model, "model", "", "model checkpoint, local or gs:// / s3:// (default: the embedded default model)")
	fl.StringVar(&c.output, "output", "", "output prefix: writes PREFIX-SSSSS-of-NNNNN.{jsonl,npy} and PREFIX-deadletter.jsonl (local or gs:// / s3://)")
	fl.IntVar(&c.shards, "shards", beamembed.DefaultShards, "number of output shards")
	fl.StringVar(&c.formats, "format", "jsonl,npy", "comma-separated output formats: jsonl, npy (with a .paths.txt sidecar), csv")
	fl.StringVar(&c.vectors, "vectors", "features", "vectors: features (pooled backbone) or projection (head output)")
	fl.BoolVar(&c.raw, "raw", false, "write vectors without L2 normalisation")
	fl.IntVar(&c.batch, "batch", beamembed.DefaultBatchSize, "images per forward pass within a bundle")
	fl.Int64Var(&c.maxBytes, "max_file_bytes", 0, "largest image file read, in bytes (0: 256 MiB; negative: no cap)")
	fl.IntVar(&c.maxPix, "max_pixels", 0, "largest image width×height decoded (0: 64 Mi pixels; negative: no cap)")
}

// options turns the flags (and the extra pattern arguments) into pipeline options.
func (c *config) options(args []string) beamembed.Options {
	var formats []string
	for f := range strings.SplitSeq(c.formats, ",") {
		if f = strings.TrimSpace(f); f != "" {
			formats = append(formats, f)
		}
	}
	return beamembed.Options{
		Inputs: append(slices.Clone([]string(c.inputs)), args...), Model: c.model, Output: c.vectors,
		Raw: c.raw, BatchSize: c.batch, MaxFileBytes: c.maxBytes, MaxPixels: c.maxPix,
		Prefix: c.output, Shards: c.shards, Formats: formats,
	}
}

const usageText = `usage: swav-beam embed --input PATTERN [--input PATTERN...] --output PREFIX [flags] [PATTERN...]

Embeds every image matching the patterns with a swav-go model on an Apache Beam runner
(--runner prism|dataflow|flink|spark|universal, default prism: in this process).
Failed files are listed with their reason in PREFIX-deadletter.jsonl.

`

func main() {
	args := os.Args[1:]
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	var c config
	c.register(flag.CommandLine)
	flag.Usage = func() {
		fmt.Fprint(os.Stderr, usageText)
		flag.PrintDefaults()
	}
	_ = flag.CommandLine.Parse(args) // ExitOnError
	// On a worker (--worker) this runs Beam's SDK harness and exits.
	beam.Init()
	if sub != "embed" {
		if sub != "" && sub != "help" {
			fmt.Fprintf(os.Stderr, "swav-beam: unknown command %q, commands are: embed\n", sub)
		}
		flag.Usage()
		os.Exit(2)
	}
	if err := run(context.Background(), &c, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "swav-beam:", err)
		os.Exit(1)
	}
}

// run validates the runner and runs the pipeline, then prints its counters.
func run(ctx context.Context, c *config, args []string) error {
	runner := *runners.Runner
	if runner == "" {
		runner = "prism"
	}
	if !slices.Contains(runnerNames, runner) {
		return fmt.Errorf("runner %q is not supported, runners are: %s", runner, strings.Join(runnerNames, ", "))
	}
	counters, err := beamembed.Run(ctx, runner, c.options(args))
	if err != nil {
		return err
	}
	names := make([]string, 0, len(counters))
	for n := range counters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "%s: %d\n", n, counters[n])
	}
	return nil
}
