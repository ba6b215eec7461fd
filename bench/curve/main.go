// Command curve draws probe accuracy against training time, one line per run: the
// small-scale counterpart of the SwAV paper's Figure 1 (issues #12 and #13). Linear-probe
// top-1 is a solid line, kNN-20 top-1 a dashed one in the same colour; a run with a
// single point at step 0 (raw pixels, a random network) is a baseline, drawn as thin
// horizontal lines.
//
//	curve seconds -metrics RUN/model.swav.metrics.jsonl -log RUN/pretrain.log STEP...
//	curve plot  -points points.tsv | -results results.json  -out docs/NAME-curve.png [-title TEXT]
//	curve table -points points.tsv | -results results.json  [-json results.json]
//
// seconds prints "STEP<TAB>SECONDS" for each step: the run's training seconds up to
// that step, from the metrics file's cumulative images_per_sec and the sessions of the
// pretrain log (a resumed session's rate counts from its own start; see
// TrainingSeconds). Without -log, -batch-size B describes a run of one session.
//
// A points file is tab-separated, one probed checkpoint a line:
//
//	run	step	seconds	report.json	[notes]
//
// where report.json is what `swav-embed probe --report` wrote. plot writes the PNG;
// table prints the last point of every run as a Markdown table on standard output and,
// with -json, writes every point with its accuracies: a results file, which plot and
// table also read (-results) when the reports it came from are gone.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/swav-go/swav/internal/atomicfile"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "curve:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a wrong command line (exit status 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

const usage = "usage: curve seconds|plot|table [flags] (see the package comment; -h after the command for its flags)"

// run is the command with its arguments; it writes results to stdout and help to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{usage}
	}
	fs := flag.NewFlagSet("curve "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	parse := func() error {
		if err := fs.Parse(args[1:]); err != nil {
			return usageError{err.Error()}
		}
		return nil
	}
	switch args[0] {
	case "seconds":
		metrics := fs.String("metrics", "", "the run's metrics file (MODEL.metrics.jsonl)")
		logPath := fs.String("log", "", "the run's pretrain log (standard error of every session, appended), giving sessions and batch size")
		batch := fs.Int("batch-size", 0, "batch size of a run of one session (instead of -log)")
		if err := parse(); err != nil {
			return err
		}
		if *metrics == "" || (*logPath == "") == (*batch == 0) || fs.NArg() == 0 {
			return usageError{"curve seconds: give -metrics, one of -log or -batch-size, and at least one step"}
		}
		steps := make([]int, fs.NArg())
		for i, a := range fs.Args() {
			s, err := strconv.Atoi(a)
			if err != nil || s <= 0 {
				return usageError{fmt.Sprintf("curve seconds: step %q is not a whole number > 0", a)}
			}
			steps[i] = s
		}
		sessions := []Session{{Start: 0, BatchSize: *batch}}
		if *logPath != "" {
			var err error
			if sessions, err = ParseLog(*logPath); err != nil {
				return err
			}
		} else if *batch < 0 {
			return usageError{"curve seconds: -batch-size must be > 0"}
		}
		secs, err := SecondsAt(*metrics, sessions, steps)
		if err != nil {
			return err
		}
		for i, s := range steps {
			fmt.Fprintf(stdout, "%d\t%.1f\n", s, secs[i])
		}
		return nil
	case "plot":
		points := fs.String("points", "", "points file (run, step, seconds, report[, notes], tab-separated)")
		results := fs.String("results", "", "results file (what table -json writes), instead of -points")
		out := fs.String("out", "", "output PNG")
		title := fs.String("title", "Probe accuracy against training time", "plot title")
		if err := parse(); err != nil {
			return err
		}
		if (*points == "") == (*results == "") || *out == "" || fs.NArg() != 0 {
			return usageError{"curve plot: give one of -points and -results, and -out (and no other argument)"}
		}
		pts, err := readInput(*points, *results)
		if err != nil {
			return err
		}
		return Plot(pts, *out, *title)
	case "table":
		points := fs.String("points", "", "points file (run, step, seconds, report[, notes], tab-separated)")
		results := fs.String("results", "", "results file (what -json writes), instead of -points")
		jsonOut := fs.String("json", "", "also write every point with its accuracies as JSON to this file")
		if err := parse(); err != nil {
			return err
		}
		if (*points == "") == (*results == "") || fs.NArg() != 0 {
			return usageError{"curve table: give one of -points and -results (and no other argument)"}
		}
		pts, err := readInput(*points, *results)
		if err != nil {
			return err
		}
		if *jsonOut != "" {
			b, err := json.MarshalIndent(jsonPoints(pts), "", "  ")
			if err != nil {
				return fmt.Errorf("results %s: %w", *jsonOut, err)
			}
			if err := atomicfile.WriteFile(*jsonOut, append(b, '\n')); err != nil {
				return err
			}
		}
		_, err = io.WriteString(stdout, Table(pts))
		return err
	}
	return usageError{fmt.Sprintf("unknown command %q; %s", args[0], usage)}
}

// readInput reads the points of plot and table: a points file, or a results file.
func readInput(points, results string) ([]Point, error) {
	if results != "" {
		return ReadResults(results)
	}
	return ReadPoints(points)
}

// jsonPoint is a Point with missing accuracies as null (JSON has no NaN).
type jsonPoint struct {
	Point
	Linear *float64 `json:"linear_top1"`
	KNN20  *float64 `json:"knn20_top1"`
}

func jsonPoints(pts []Point) []jsonPoint {
	out := make([]jsonPoint, len(pts))
	for i, p := range pts {
		out[i] = jsonPoint{Point: p}
		if p.Linear == p.Linear {
			v := p.Linear
			out[i].Linear = &v
		}
		if p.KNN20 == p.KNN20 {
			v := p.KNN20
			out[i].KNN20 = &v
		}
	}
	return out
}
