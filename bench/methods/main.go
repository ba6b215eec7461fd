// Command methods runs issue #12's Table 1 on the real Fashion-MNIST: SwAV with and
// without multi-crop, SimCLR with and without it, MoCo v2 and PIRL, each pretrained on
// the small ResNet with its paper's recipe scaled to 28-px images (the defaults of
// `swav-embed pretrain --method M`, see Rows) for the same training-time budget, probed
// at a few checkpoints with the standard probe (linear + kNN-20, 60k/10k, batch-norm
// statistics re-estimated by export), beside the raw-pixel and random-network rows
// (bench/methods/baselines.sh). It writes OUT/points.tsv, OUT/results.json, OUT/table.md
// and the accuracy-against-time PNG (bench/curve).
//
//	go build -o out/swav-embed ./cmd/swav-embed && go build -o out/curve ./bench/curve
//	go build -o out/bench-methods ./bench/methods
//	GOMAXPROCS=1 out/bench-methods run -rows swav,simclr,moco &      # two lanes side by side,
//	GOMAXPROCS=1 out/bench-methods run -rows swav-2x28,simclr-mc,pirl  # one thread each
//	out/bench-methods report                                          # table and PNG
//
// Each row, in OUT/ROW:
//  1. Calibration (once; calibration.json): a short run of the row's recipe (-calibrate
//     steps) measures its steady seconds per step and a session's overhead (the graph
//     compilation of its first step); the row then gets the most steps whose
//     predicted training time fits -budget, its schedule spanning them (see PlanSteps; the
//     schedule is defined over them). Training time is the trainer's own (from each
//     session's start, compilation included; curve seconds), as the table reports it.
//  2. Training in -snapshots segments: `pretrain --resume --max-steps S` up to each
//     checkpoint step S (Checkpoints), the checkpoint copied to snap-S.swav after each.
//     --resume continues the run exactly, so the segments train the same model as one
//     session would; each segment's compilation is counted in the row's time.
//  3. Probes: each snapshot exported with --bn-idx (probes/snap-S-bn.swav) and probed
//     (probes/report-S.json).
//
// The table outlives the work tree: report merges the rows under -out with
// bench/methods/recorded.json (committed; rows run here replace their recorded points)
// and -write rewrites that file. A row added on another machine gets the recorded
// rows' compute, not their wall time, with -match ROW=SECONDS (ROW's recorded pace;
// ROW is calibrated here too and the budget scaled by the ratio). README.md says more.
//
// Everything is resumable: a row whose reports all exist is skipped, a stopped row
// continues from its last checkpoint (its log, pretrain.log, keeps every session, which
// curve seconds needs), and a probe already written is not redone. Ctrl-C (SIGINT)
// is passed to the running pretrain, which saves its checkpoint.
package main

import (
	gocontext "context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/internal/atomicfile"
	"github.com/swav-go/swav/internal/mdsection"
	"github.com/swav-go/swav/internal/userfile"
)

func main() {
	ctx, stop := signal.NotifyContext(gocontext.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "methods:", err)
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

// config is the command line.
type config struct {
	out, bin, curve, png, baselines, data, trainIdx, testIdx, write, recorded string
	rows                                                                      []Row
	match                                                                     *matchRow
	budget                                                                    time.Duration
	threads, snapshots, calibrate, maxSteps                                   int
	probeFlags                                                                []string
	log                                                                       io.Writer
}

// matchRow is -match: a row and its seconds per step on the reference machine.
type matchRow struct {
	row     Row
	seconds float64
}

func run(ctx gocontext.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "run" && args[0] != "report") {
		return usageError{"usage: methods run|report [flags] (-h after the command for its flags)"}
	}
	fs := flag.NewFlagSet("methods "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := config{log: stderr}
	fs.StringVar(&c.out, "out", "out/methods", "directory of the rows and the results")
	rows := fs.String("rows", "", "comma-separated rows to run (default all: swav, swav-2x28, simclr, simclr-mc, moco, moco-mc, pirl, swav-study)")
	fs.DurationVar(&c.budget, "budget", 60*time.Minute, "training time per row (the issue: 60m on 1 thread with two rows side by side, or 30m on 2 threads)")
	fs.IntVar(&c.threads, "threads", 0, "GOMAXPROCS of the pretrain and probe processes (default: this process's GOMAXPROCS)")
	fs.IntVar(&c.snapshots, "snapshots", 3, "checkpoints probed per row, evenly spread (the last is the end of the run)")
	fs.IntVar(&c.calibrate, "calibrate", 40, "steps of the calibration run")
	fs.IntVar(&c.maxSteps, "max-steps", 0, "stop each row at this step (the schedule stays that of its planned steps), for tests only; 0 for the table")
	fs.StringVar(&c.bin, "swav-embed", "out/swav-embed", "the swav-embed binary")
	fs.StringVar(&c.curve, "curve", "out/curve", "the bench/curve binary")
	fs.StringVar(&c.png, "png", "docs/methods-curve.png", "accuracy-against-time PNG")
	fs.StringVar(&c.baselines, "baselines", "out/baselines", "directory of the raw-pixel and random-network probes (bench/methods/baselines.sh)")
	fs.StringVar(&c.data, "data", "/usr/share/datasets/fashion-mnist", "directory of the Fashion-MNIST IDX files (train- and t10k-, images and labels; a subset of the same names for tests)")
	fs.StringVar(&c.write, "write", "", "also write the table, its command and the PNG into this markdown file's \"methods-table-1\" section (e.g. BENCHMARKS.md)")
	fs.StringVar(&c.recorded, "recorded", "bench/methods/recorded.json", "results of every row the table has shown (committed): rows not in -out are taken from it, and -write rewrites it with the merged table; \"\" for none")
	match := fs.String("match", "", "ROW=SECONDS: the budget is -budget on the machine where ROW's recipe ran at SECONDS per step (its calibration.json); "+
		"ROW is calibrated here too and the budget scaled by the ratio, for rows added on another machine to a table whose other rows are recorded")
	probeFlags := fs.String("probe-flags", "", "extra probe flags, for tests only (e.g. \"--epochs 2\"); empty for the table")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 0 {
		return usageError{fmt.Sprintf("methods %s: unexpected argument %q", args[0], fs.Arg(0))}
	}
	var err error
	if c.rows, err = SelectRows(*rows); err != nil {
		return usageError{"methods: " + err.Error()}
	}
	if row, secs, ok, err := ParseMatch(*match); err != nil {
		return usageError{"methods: " + err.Error()}
	} else if ok {
		c.match = &matchRow{row, secs}
	}
	if c.threads <= 0 {
		c.threads = runtime.GOMAXPROCS(0)
	}
	if c.snapshots < 1 || c.calibrate < 10 || c.budget <= 0 {
		return usageError{"methods: -snapshots must be ≥ 1, -calibrate ≥ 10 and -budget > 0"}
	}
	c.probeFlags = strings.Fields(*probeFlags)
	c.trainIdx = filepath.Join(c.data, "train-images-idx3-ubyte.gz")
	c.testIdx = filepath.Join(c.data, "t10k-images-idx3-ubyte.gz")
	for _, need := range []struct{ path, how string }{
		{c.bin, "go build -o out/swav-embed ./cmd/swav-embed"},
		{c.curve, "go build -o out/curve ./bench/curve"},
		{"bench/methods/baselines.sh", "run methods from the repository root"},
		{c.trainIdx, "give -data the directory of the Fashion-MNIST IDX files"},
		{c.testIdx, "give -data the directory of the Fashion-MNIST IDX files"},
	} {
		if !exists(need.path) {
			return fmt.Errorf("%s is missing: %s", need.path, need.how)
		}
	}
	if args[0] == "run" {
		for _, r := range c.rows {
			if err := c.runRow(ctx, r); err != nil {
				return fmt.Errorf("row %s: %w", r.Name, err)
			}
		}
	}
	return c.report(ctx, stdout)
}

func (c *config) logf(format string, args ...any) {
	fmt.Fprintf(c.log, time.Now().UTC().Format("15:04:05")+" "+format+"\n", args...)
}

// command runs name with args at c.threads threads, appending its standard output and
// error to logPath; SIGINT on cancellation, so pretrain saves its checkpoint.
func (c *config) command(ctx gocontext.Context, logPath, name string, args ...string) error {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log %s: %w", logPath, err)
	}
	defer lf.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(c.threads))
	// Its own process group, so a Ctrl-C at the terminal reaches it once, from here.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Minute
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: stopped (%w); run the same command again to resume", filepath.Base(name), args[0], ctx.Err())
		}
		return fmt.Errorf("%s %s: %w (see %s)", filepath.Base(name), args[0], err, logPath)
	}
	return nil
}

// stepOf is the training step in a checkpoint's header.
func stepOf(path string) (int, error) {
	info, err := checkpoint.ReadInfo(path, checkpoint.ReadOptions{})
	if err != nil {
		return 0, err
	}
	if info.Header.Training == nil {
		return 0, fmt.Errorf("checkpoint %s: no training record in its header", path)
	}
	return int(info.Header.Training.Step), nil
}

func exists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() > 0
}

// copyFile copies src to dst through a temporary file renamed over dst.
func copyFile(src, dst string) error {
	b, err := userfile.ReadFile(src, 1<<30)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(dst, b)
}

// pretrainArgs is the pretrain command line of row r with the schedule's length, e.g.
// "--steps", "1500".
func (c *config) pretrainArgs(r Row, length ...string) []string {
	a := append([]string{"pretrain", "--method", r.Method}, sharedFlags(c.trainIdx)...)
	a = append(a, length...)
	return append(a, r.Flags...)
}

// calibrateRow measures the row (once) and plans its steps.
func (c *config) calibrateRow(ctx gocontext.Context, r Row, dir string) (Calibration, error) {
	path := filepath.Join(dir, "calibration.json")
	var cal Calibration
	if b, err := userfile.ReadFile(path, 1<<20); err == nil {
		if err := json.Unmarshal(b, &cal); err != nil {
			return cal, fmt.Errorf("%s: %w (remove it to calibrate again)", path, err)
		}
		if cal.TotalSteps < 1 {
			return cal, fmt.Errorf("%s plans no total_steps (written before rows were planned in steps): remove the row's directory to run it again", path)
		}
		return cal, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return cal, err
	}
	pace, err := c.measure(ctx, r, filepath.Join(dir, "calibration"))
	if err != nil {
		return cal, err
	}
	cal = pace
	cal.Threads, cal.BudgetSeconds = c.threads, c.budget.Seconds()
	cal.Date = time.Now().UTC().Format("2006-01-02")
	if c.match != nil {
		ref, err := c.measure(ctx, c.match.row, filepath.Join(dir, "reference-"+c.match.row.Name))
		if err != nil {
			return cal, fmt.Errorf("the pace of -match row %s here: %w", c.match.row.Name, err)
		}
		cal.Reference = &Reference{Row: c.match.row.Name, StepSeconds: c.match.seconds, LocalStepSeconds: ref.StepSeconds,
			BudgetSeconds: c.budget.Seconds()}
		f := cal.Reference.Factor()
		cal.BudgetSeconds = c.budget.Seconds() / f
		c.logf("%s: -match %s: %.3f s/step here against %.3f there: this machine is %.2f× as fast, so the budget here is %.1f min",
			r.Name, c.match.row.Name, ref.StepSeconds, c.match.seconds, f, cal.BudgetSeconds/60)
	}
	iters := cal.ItersPerEpoch
	cal.TotalSteps, cal.PredictedSeconds, cal.Fits = PlanSteps(cal.BudgetSeconds, cal.StepSeconds, cal.OverheadSeconds, iters, c.snapshots)
	cal.Epochs = (cal.TotalSteps + iters - 1) / iters
	total := cal.TotalSteps
	if c.maxSteps > 0 && c.maxSteps < total {
		total, cal.MaxSteps = c.maxSteps, c.maxSteps
	}
	cal.Snapshots = Checkpoints(total, c.snapshots)
	cal.Segments = len(cal.Snapshots)
	b, _ := json.MarshalIndent(cal, "", "  ")
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return cal, err
	}
	c.logf("%s: %.3f s/step, %.0f s overhead per session: %d steps (%.2f epochs), predicted %.1f min of %.1f (fits: %v)",
		r.Name, cal.StepSeconds, cal.OverheadSeconds, cal.TotalSteps, float64(cal.TotalSteps)/float64(iters), cal.PredictedSeconds/60, cal.BudgetSeconds/60, cal.Fits)
	return cal, nil
}

// measure runs a calibration of row r's recipe in cdir (-calibrate steps, from scratch)
// and returns its pace: steps, warm steps, steady seconds per step, a session's
// overhead, the steps per epoch and the batch size.
func (c *config) measure(ctx gocontext.Context, r Row, cdir string) (Calibration, error) {
	var cal Calibration
	if err := os.RemoveAll(cdir); err != nil {
		return cal, err
	}
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return cal, err
	}
	c.logf("%s: calibration, %d steps at %d thread(s)", r.Name, c.calibrate, c.threads)
	model := filepath.Join(cdir, "model.swav")
	logPath := filepath.Join(cdir, "pretrain.log")
	// One epoch is enough to measure the pace: a step costs the same in any epoch.
	args := append(c.pretrainArgs(r, "--epochs", "1"), "--max-steps", strconv.Itoa(c.calibrate), "--checkpoint-every", strconv.Itoa(c.calibrate),
		"--plot", "-", "--out", model)
	if err := c.command(ctx, logPath, c.bin, args...); err != nil {
		return cal, err
	}
	steps := make([]string, c.calibrate)
	for i := range steps {
		steps[i] = strconv.Itoa(i + 1)
	}
	secs, err := c.seconds(ctx, model+".metrics.jsonl", logPath, steps)
	if err != nil {
		return cal, err
	}
	log, err := userfile.ReadFile(logPath, 64<<20)
	if err != nil {
		return cal, err
	}
	iters, batch, err := stepsPerEpoch(log, logPath)
	if err != nil {
		return cal, err
	}
	cal = Calibration{Steps: c.calibrate, Warm: max(3, c.calibrate/5), ItersPerEpoch: iters, BatchSize: batch}
	cal.StepSeconds, cal.OverheadSeconds = Measure(secs, cal.Warm)
	return cal, nil
}

// seconds runs curve seconds and returns the training seconds at each step.
func (c *config) seconds(ctx gocontext.Context, metrics, logPath string, steps []string) ([]float64, error) {
	out, err := c.curveOutput(ctx, append([]string{"seconds", "-metrics", metrics, "-log", logPath}, steps...)...)
	if err != nil {
		return nil, err
	}
	return parseSeconds(out, len(steps))
}

// parseSeconds reads the "STEP<TAB>SECONDS" lines of curve seconds.
func parseSeconds(out []byte, n int) ([]float64, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != n {
		return nil, fmt.Errorf("curve seconds: %d lines for %d steps", len(lines), n)
	}
	secs := make([]float64, n)
	for i, l := range lines {
		f := strings.Split(l, "\t")
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if len(f) != 2 || err != nil {
			return nil, fmt.Errorf("curve seconds: line %q", l)
		}
		secs[i] = v
	}
	return secs, nil
}

// runRow calibrates, trains and probes one row, skipping what is done.
func (c *config) runRow(ctx gocontext.Context, r Row) error {
	dir := filepath.Join(c.out, r.Name)
	if err := os.MkdirAll(filepath.Join(dir, "probes"), 0o755); err != nil {
		return err
	}
	cal, err := c.calibrateRow(ctx, r, dir)
	if err != nil {
		return err
	}
	model := filepath.Join(dir, "model.swav")
	for _, s := range cal.Snapshots {
		snap := filepath.Join(dir, fmt.Sprintf("snap-%d.swav", s))
		if !exists(snap) {
			if err := c.trainTo(ctx, r, cal, model, s); err != nil {
				return err
			}
			if err := copyFile(model, snap); err != nil {
				return err
			}
		}
		if err := c.probe(ctx, dir, snap, s); err != nil {
			return err
		}
	}
	return nil
}

// trainTo continues the row's run to step s (a new run if there is no checkpoint).
func (c *config) trainTo(ctx gocontext.Context, r Row, cal Calibration, model string, s int) error {
	if exists(model) {
		at, err := stepOf(model)
		if err != nil {
			return err
		}
		if at > s {
			return fmt.Errorf("%s is at step %d, past the snapshot step %d whose copy is missing: remove the row's directory to start it again", model, at, s)
		}
		if at == s {
			return nil
		}
	}
	c.logf("%s: training to step %d of %d (%.2f epochs)", r.Name, s, cal.TotalSteps, float64(cal.TotalSteps)/float64(cal.ItersPerEpoch))
	args := append(c.pretrainArgs(r, "--steps", strconv.Itoa(cal.TotalSteps)), "--max-steps", strconv.Itoa(s), "--checkpoint-every", "100",
		"--resume", "--out", model)
	if err := c.command(ctx, filepath.Join(filepath.Dir(model), "pretrain.log"), c.bin, args...); err != nil {
		return err
	}
	at, err := stepOf(model)
	if err != nil {
		return err
	}
	if at != s {
		return fmt.Errorf("%s: pretrain ended at step %d, not %d", model, at, s)
	}
	return nil
}

// probe exports a snapshot with re-estimated batch-norm statistics and probes it, unless
// its report exists.
func (c *config) probe(ctx gocontext.Context, dir, snap string, s int) error {
	pdir := filepath.Join(dir, "probes")
	rep := filepath.Join(pdir, fmt.Sprintf("report-%d.json", s))
	if exists(rep) {
		return nil
	}
	c.logf("%s: export and probe of step %d", filepath.Base(dir), s)
	bn := filepath.Join(pdir, fmt.Sprintf("snap-%d-bn.swav", s))
	os.Remove(bn)
	if err := c.command(ctx, filepath.Join(pdir, fmt.Sprintf("export-%d.log", s)), c.bin,
		"export", snap, "--out", bn, "--bn-idx", c.trainIdx); err != nil {
		return err
	}
	part := filepath.Join(pdir, fmt.Sprintf("report-%d.part.json", s))
	args := append([]string{"probe", "--model", bn, "--train-idx", c.trainIdx, "--test-idx", c.testIdx, "--knn", "--report", part}, c.probeFlags...)
	if err := c.command(ctx, filepath.Join(pdir, fmt.Sprintf("probe-%d.log", s)), c.bin, args...); err != nil {
		return err
	}
	return os.Rename(part, rep)
}

// report writes the points of every row probed so far (all rows, not only -rows), the
// baselines, the table and the PNG.
func (c *config) report(ctx gocontext.Context, stdout io.Writer) error {
	var b strings.Builder
	bl := exec.CommandContext(ctx, "bash", "bench/methods/baselines.sh", c.baselines)
	bl.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(c.threads), "SWAV_EMBED="+c.bin, "FASHION_MNIST="+c.data, "PROBE_FLAGS="+strings.Join(c.probeFlags, " "))
	bl.Stderr = c.log
	c.logf("baselines (probed once, then cached in %s)", c.baselines)
	base, err := bl.Output()
	if err != nil {
		return fmt.Errorf("bench/methods/baselines.sh: %w", err)
	}
	b.Write(base)
	if err := c.rowPoints(ctx, &b); err != nil {
		return err
	}
	points := filepath.Join(c.out, "points.tsv")
	if err := atomicfile.WriteFile(points, []byte(b.String())); err != nil {
		return err
	}
	// The rows run here, with their accuracies; then those merged with the recorded
	// rows this directory does not hold (their run files are gone: an earlier session's
	// work tree), which are the table.
	local := filepath.Join(c.out, "local-results.json")
	if _, err := c.curveOutput(ctx, "table", "-points", points, "-json", local); err != nil {
		return err
	}
	merged, err := mergeResults(local, c.recorded)
	if err != nil {
		return err
	}
	results := filepath.Join(c.out, "results.json")
	if err := atomicfile.WriteFile(results, merged); err != nil {
		return err
	}
	if _, err := c.curveOutput(ctx, "plot", "-results", results, "-out", c.png, "-title", "Fashion-MNIST, small ResNet: probe accuracy against training time"); err != nil {
		return err
	}
	table, err := c.curveOutput(ctx, "table", "-results", results)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(c.out, "table.md"), table); err != nil {
		return err
	}
	if _, err := stdout.Write(table); err != nil {
		return err
	}
	c.logf("wrote %s, %s, %s and %s", points, filepath.Join(c.out, "table.md"), results, c.png)
	if c.write == "" {
		return nil
	}
	if err := mdsection.Replace(c.write, "methods-table-1", c.section(string(table))); err != nil {
		return err
	}
	c.logf("wrote the methods-table-1 section of %s", c.write)
	if c.recorded == "" {
		return nil
	}
	if err := atomicfile.WriteFile(c.recorded, merged); err != nil {
		return err
	}
	c.logf("recorded every row's points in %s (commit it: a later work tree rebuilds the table from it)", c.recorded)
	return nil
}

// mergeResults reads the results of the rows run here (localPath) and the recorded
// ones (recordedPath; a missing file records nothing) and merges them (MergeResults).
func mergeResults(localPath, recordedPath string) ([]byte, error) {
	local, err := userfile.ReadFile(localPath, 16<<20)
	if err != nil {
		return nil, err
	}
	var recorded []byte
	if recordedPath != "" {
		recorded, err = userfile.ReadFile(recordedPath, 16<<20)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	out, err := MergeResults(local, recorded)
	if err != nil {
		return nil, fmt.Errorf("merging %s with %s: %w", localPath, recordedPath, err)
	}
	return out, nil
}

// curveOutput runs curve and returns its standard output.
func (c *config) curveOutput(ctx gocontext.Context, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, c.curve, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("curve %s: %w: %s", args[0], err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("curve %s: %w", args[0], err)
	}
	return out, nil
}

// section is the markdown of the table's section: the table, how it was made and the
// accuracy-against-time PNG (linked relative to the markdown file).
func (c *config) section(table string) string {
	png := c.png
	if rel, err := filepath.Rel(filepath.Dir(c.write), c.png); err == nil {
		png = rel
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Generated by `out/bench-methods report -write %s` (bench/methods/README.md) on %s: each row trained for "+
		"the budget its notes give, in its own training time; linear and kNN-20 probes of `swav-embed probe --knn` on the "+
		"60k/10k split; `training` is the trainer's own time to the probed snapshot.\n\n", filepath.Base(c.write), time.Now().UTC().Format("2006-01-02"))
	b.WriteString(table)
	fmt.Fprintf(&b, "\n![linear-probe accuracy against training time](%s)\n", filepath.ToSlash(png))
	return b.String()
}

// rowPoints appends a points line for every probed snapshot of every row.
func (c *config) rowPoints(ctx gocontext.Context, b *strings.Builder) error {
	for _, r := range Rows() {
		dir := filepath.Join(c.out, r.Name)
		calb, err := userfile.ReadFile(filepath.Join(dir, "calibration.json"), 1<<20)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		var cal Calibration
		if err := json.Unmarshal(calb, &cal); err != nil {
			return fmt.Errorf("%s/calibration.json: %w", dir, err)
		}
		var steps []string
		for _, s := range cal.Snapshots {
			if exists(filepath.Join(dir, "probes", fmt.Sprintf("report-%d.json", s))) {
				steps = append(steps, strconv.Itoa(s))
			}
		}
		if len(steps) == 0 {
			continue
		}
		secs, err := c.seconds(ctx, filepath.Join(dir, "model.swav.metrics.jsonl"), filepath.Join(dir, "pretrain.log"), steps)
		if err != nil {
			return fmt.Errorf("row %s: %w", r.Name, err)
		}
		for i, s := range steps {
			step, _ := strconv.Atoi(s)
			notes := rowNotes(r, cal, step, secs[i])
			shown := secs[i]
			if ref := cal.Reference; ref != nil {
				// Every row of the table in one unit: the recorded rows' machine's minutes.
				shown = secs[i] * ref.Factor()
				notes += fmt.Sprintf("; training time shown in the recorded rows' machine's minutes (%.1f min here × %.2f)", secs[i]/60, ref.Factor())
			}
			fmt.Fprintf(b, "%s\t%s\t%.1f\t%s\t%s\n", r.Name, s, shown, filepath.Join(dir, "probes", "report-"+s+".json"), notes)
		}
	}
	return nil
}

// rowNotes is the table's notes for a row's snapshot at step: its recipe, steps, epochs
// and thread count, whether it kept to the budget, and whether the row is still
// training (a snapshot before its last).
func rowNotes(r Row, cal Calibration, step int, secs float64) string {
	n := fmt.Sprintf("%s; %d steps (%.2f epochs of %d) at batch %d, %d thread(s), budget %.0f min", r.Notes, cal.TotalSteps,
		float64(cal.TotalSteps)/float64(cal.ItersPerEpoch), cal.ItersPerEpoch, cal.BatchSize, cal.Threads, cal.BudgetSeconds/60)
	if cal.Date != "" {
		n += ", calibrated " + cal.Date
	}
	if ref := cal.Reference; ref != nil {
		n += fmt.Sprintf(" (%.0f min on the machine of the recorded rows, where %s ran at %.3f s/step against %.3f here: -match)",
			ref.BudgetSeconds/60, ref.Row, ref.StepSeconds, ref.LocalStepSeconds)
	}
	if cal.MaxSteps > 0 {
		n += fmt.Sprintf(", stopped at step %d by -max-steps (a test, not a table row)", cal.MaxSteps)
	}
	if secs > cal.BudgetSeconds {
		n += fmt.Sprintf(" (over it by %.1f min)", (secs-cal.BudgetSeconds)/60)
	}
	if last := cal.Snapshots[len(cal.Snapshots)-1]; step < last {
		n += fmt.Sprintf("; NOT FINISHED: snapshot at step %d of %d, learning rate not annealed", step, last)
	}
	return n
}
