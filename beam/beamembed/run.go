package beamembed

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// Counters are the pipeline's counters after a run, by name: "embedded",
// "bytes_read", "batches" and "skipped_REASON" (see SkippedCounter), summed over the steps.
type Counters map[string]int64

// Run builds the pipeline for opts and runs it on the named Beam runner ("prism",
// "dataflow", "flink", "spark", "universal"; the runner must be registered, e.g. by
// importing beamx, and configured by Beam's own flags) and returns its counters. A
// runner that reports no metrics returns an empty Counters.
func Run(ctx context.Context, runner string, opts Options) (Counters, error) {
	p, s := beam.NewPipelineWithRoot()
	if _, err := Build(s, opts); err != nil {
		return nil, err
	}
	res, err := beam.Run(ctx, runner, p)
	if err != nil {
		return nil, err
	}
	counters := Counters{}
	if res == nil {
		return counters, nil
	}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Namespace() == Namespace {
			counters[c.Name()] += c.Result()
		}
	}
	return counters, nil
}
