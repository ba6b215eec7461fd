package trainer

import (
	"bytes"
	gocontext "context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/checkpoint/export"
	"github.com/swav-go/swav/model"
)

// noiseSource is n deterministic 28×28 grey images of noise: training data that needs
// no dataset on disk.
type noiseSource struct{ n int }

func (s noiseSource) Len() int { return s.n }

func (s noiseSource) Name(i int) string { return fmt.Sprintf("noise#%d", i) }

func (s noiseSource) Image(i int) (image.Image, error) {
	if i < 0 || i >= s.n {
		panic(fmt.Sprintf("noiseSource: index %d out of range [0, %d)", i, s.n))
	}
	rng := rand.New(rand.NewPCG(uint64(i), 99))
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for p := range img.Pix {
		img.Pix[p] = uint8(rng.IntN(256))
	}
	return img, nil
}

func (s noiseSource) Label(int) (int, bool) { return 0, false }

func (s noiseSource) Classes() []string { return nil }

// countingSteps returns an OnStep hook and a function reporting how many steps ran.
func countingSteps() (func(int, float64), func() int) {
	n := 0
	return func(int, float64) { n++ }, func() int { return n }
}

// dirEntries lists the names in dir, sorted.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// mustContain fails unless err's message contains every want.
func mustContain(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// TestBadOutputsFailBeforeTraining: an output path that cannot be written is reported,
// by path and reason, before the first step and within a bounded time (the measured
// failure trained for an epoch first); nothing is left in the directory.
func TestBadOutputsFailBeforeTraining(t *testing.T) {
	src := noiseSource{64}
	// The special files come last: if their check regressed, opening a FIFO would block.
	tests := append([]struct {
		name  string
		setup func(t *testing.T, dir string, o *Options) []string // returns the words the error must hold
	}{
		{"checkpoint is a directory", func(t *testing.T, dir string, o *Options) []string {
			o.Checkpoint = filepath.Join(dir, "sub")
			mkdir(t, o.Checkpoint)
			return []string{o.Checkpoint, "is a directory"}
		}},
		{"checkpoint directory missing", func(t *testing.T, dir string, o *Options) []string {
			o.Checkpoint = filepath.Join(dir, "missing", "m.swav")
			return []string{o.Checkpoint, filepath.Join(dir, "missing"), "does not exist"}
		}},
		{"checkpoint parent is a file", func(t *testing.T, dir string, o *Options) []string {
			parent := filepath.Join(dir, "plain")
			writeFile(t, parent, "x")
			o.Checkpoint = filepath.Join(parent, "m.swav")
			return []string{o.Checkpoint, "not a directory"}
		}},
		{"metrics path is a directory", func(t *testing.T, dir string, o *Options) []string {
			o.MetricsPath = filepath.Join(dir, "metrics")
			mkdir(t, o.MetricsPath)
			return []string{"metrics path", o.MetricsPath, "is a directory"}
		}},
		{"plot path is a directory", func(t *testing.T, dir string, o *Options) []string {
			o.PlotPath = filepath.Join(dir, "plot")
			mkdir(t, o.PlotPath)
			return []string{"plot path", o.PlotPath, "is a directory"}
		}},
		{"plot directory missing", func(t *testing.T, dir string, o *Options) []string {
			o.PlotPath = filepath.Join(dir, "nowhere", "loss.png")
			return []string{"plot path", o.PlotPath, "does not exist"}
		}},
		{"metrics path is the checkpoint", func(t *testing.T, dir string, o *Options) []string {
			o.MetricsPath = o.Checkpoint
			return []string{"metrics path", o.Checkpoint, "also the checkpoint path"}
		}},
		{"negative workers", func(t *testing.T, dir string, o *Options) []string {
			o.Workers = -3
			return []string{"workers -3"}
		}},
	}, specialFileCases()...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := tinyOptions(t, dir)
			onStep, steps := countingSteps()
			opts.OnStep = onStep
			want := tc.setup(t, dir, &opts)
			before := dirEntries(t, dir)
			start := time.Now()
			res, err := Run(gocontext.Background(), src, tinySwAV(), opts)
			elapsed := time.Since(start)
			mustContain(t, err, want...)
			if res != nil || steps() != 0 {
				t.Errorf("%d steps ran (result %+v) before the error", steps(), res)
			}
			if elapsed > 5*time.Second {
				t.Errorf("the error took %v, want it before any training (< 5 s)", elapsed)
			}
			if after := dirEntries(t, dir); !slices.Equal(before, after) {
				t.Errorf("directory %q after the error, %q before", after, before)
			}
		})
	}
}

// TestCheckOutputsProbeLeavesNothing: on good paths the writability probe leaves the
// directory as it was and an existing metrics file untouched.
func TestCheckOutputsProbeLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	o := Options{Checkpoint: filepath.Join(dir, "m.swav")}.WithDefaults(Data{InputSize: 28, Channels: 1, Images: 64})
	writeFile(t, o.MetricsPath, `{"step":1}`+"\n")
	if err := checkOutputs(o); err != nil {
		t.Fatal(err)
	}
	if got := dirEntries(t, dir); !slices.Equal(got, []string{"m.swav.metrics.jsonl"}) {
		t.Errorf("directory holds %q after the probe, want only the metrics file", got)
	}
	if b, _ := os.ReadFile(o.MetricsPath); string(b) != `{"step":1}`+"\n" {
		t.Errorf("the probe changed the metrics file: %q", b)
	}
}

// TestStaleTempPattern: the names os.CreateTemp really makes for checkpoint.Save's
// pattern are recognised (this fails if Go changes its random part), and names that
// only look alike are not.
func TestStaleTempPattern(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "m.swav")
	for range 20 {
		f, err := os.CreateTemp(dir, tempPattern(ckpt))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if name := filepath.Base(f.Name()); !isStaleTemp(name, ckpt) {
			t.Fatalf("os.CreateTemp made %q, which isStaleTemp does not recognise", name)
		}
	}
	for _, name := range []string{".m.swav..tmp", ".m.swav.12a.tmp", "m.swav.12.tmp", ".m.swav.12.tmp.bak", ".m.swav.12.tmpx",
		".xm.swav.12.tmp", ".m.swav.metrics.jsonl.12.tmp", ".m.swav.-1.tmp", ".m.swav.12.TMP", ".m.swav", "m.swav"} {
		if isStaleTemp(name, ckpt) {
			t.Errorf("isStaleTemp(%q) = true for checkpoint %s", name, ckpt)
		}
	}
}

// strays creates leftovers of interrupted saves beside path (a 1 MiB one, as a
// kill -9 during a save leaves) and returns their paths.
func strays(t *testing.T, path string, ids ...int) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		p := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.%d.tmp", filepath.Base(path), id))
		writeFile(t, p, strings.Repeat("x", 1<<20))
		out = append(out, p)
	}
	return out
}

// TestStaleTempsRemovedOnSaveAndResume: the temporary files of checkpoint.Save's own
// pattern left by a crash are removed by the next save and by a resume; files that
// only resemble them are kept byte for byte.
func TestStaleTempsRemovedOnSaveAndResume(t *testing.T) {
	dir := t.TempDir()
	opts := tinyOptions(t, dir)
	opts.MaxSteps, opts.CheckpointEvery = 2, 2
	unrelated := map[string]string{
		"notes.txt":                 "mine",
		".tiny.swav.abc.tmp":        "not CreateTemp's",
		".other.swav.123.tmp":       "another checkpoint's",
		"tiny.swav.123.tmp":         "not hidden",
		".tiny.swav.123.tmp.bak":    "a backup",
		".tiny.swav.metrics.jsonl2": "similar name",
	}
	for name, content := range unrelated {
		writeFile(t, filepath.Join(dir, name), content)
	}
	dirLike := filepath.Join(dir, ".tiny.swav.555.tmp") // the pattern, but a directory
	mkdir(t, dirLike)
	checkKept := func(stage string) {
		t.Helper()
		for name, content := range unrelated {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != content {
				t.Errorf("%s: unrelated file %s: %q, %v; want %q kept", stage, name, b, err, content)
			}
		}
		if fi, err := os.Stat(dirLike); err != nil || !fi.IsDir() {
			t.Errorf("%s: the directory %s was removed: %v", stage, dirLike, err)
		}
	}
	checkGone := func(stage string, paths []string) {
		t.Helper()
		for _, p := range paths {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: stale temporary file %s still there (%v)", stage, p, err)
			}
		}
	}

	old := strays(t, opts.Checkpoint, 123456789, 42)
	if _, err := Run(gocontext.Background(), noiseSource{64}, tinySwAV(), opts); err != nil {
		t.Fatal(err)
	}
	checkGone("after a save", old)
	checkKept("after a save")

	// A resume with no step left to run (so no save): the resume itself cleans up,
	// the metrics file's leftovers included.
	old = append(strays(t, opts.Checkpoint, 7, 3141592653), strays(t, opts.Checkpoint+".metrics.jsonl", 99)...)
	onStep, steps := countingSteps()
	opts.Resume, opts.OnStep = true, onStep
	res, err := Run(gocontext.Background(), noiseSource{64}, tinySwAV(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if steps() != 0 || res.Steps != 2 {
		t.Fatalf("resume ran %d steps to step %d, want none (at step 2)", steps(), res.Steps)
	}
	checkGone("after a resume", old)
	checkKept("after a resume")
}

// metricLine is one JSONL row as Run writes it.
func metricLine(t *testing.T, r Row) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// TestResumeDropsMetricsPastCheckpoint simulates a kill -9 two steps after the last
// checkpoint, in the middle of writing a metrics row: the resumed run's metrics hold
// every step exactly once, strictly increasing, the rows up to the checkpoint kept as
// they were and the killed run's later rows replaced.
func TestResumeDropsMetricsPastCheckpoint(t *testing.T) {
	dir := t.TempDir()
	opts := tinyOptions(t, dir)
	opts.MaxSteps, opts.CheckpointEvery = 3, 3
	src := noiseSource{64}
	if _, err := Run(gocontext.Background(), src, tinySwAV(), opts); err != nil {
		t.Fatal(err)
	}
	kept, err := os.ReadFile(metricsOf(opts))
	if err != nil {
		t.Fatal(err)
	}
	// What the killed run wrote after its checkpoint at step 3: steps 4 and 5 (marked
	// by an impossible loss) and half of step 6.
	f, err := os.OpenFile(metricsOf(opts), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for step := 4; step <= 5; step++ {
		f.WriteString(metricLine(t, Row{Step: step, Epoch: float64(step) / 4, Loss: 999}))
	}
	f.WriteString(`{"step":6,"epoch":1.5,"lo`)
	f.Close()
	if rows, err := ReadMetrics(metricsOf(opts)); err != nil || len(rows) != 5 || rows[4].Step != 5 {
		t.Fatalf("ReadMetrics with a torn last line: %d rows, %v; want 5 rows ending at step 5", len(rows), err)
	}

	opts.Resume, opts.MaxSteps = true, 6
	if _, err := Run(gocontext.Background(), src, tinySwAV(), opts); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(metricsOf(opts))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(after, kept) {
		t.Errorf("the rows up to the checkpoint changed:\n%s\nwant prefix\n%s", after, kept)
	}
	rows, err := ReadMetrics(metricsOf(opts))
	if err != nil {
		t.Fatal(err)
	}
	var stepsSeen []int
	for _, r := range rows {
		stepsSeen = append(stepsSeen, r.Step)
		if r.Loss == 999 {
			t.Errorf("step %d: the killed run's row survived the resume", r.Step)
		}
	}
	if !slices.Equal(stepsSeen, []int{1, 2, 3, 4, 5, 6}) {
		t.Errorf("steps after kill and resume %v, want 1..6 once each", stepsSeen)
	}
	if !bytes.HasSuffix(after, []byte("\n")) {
		t.Error("the metrics file does not end with a newline")
	}
	for _, name := range dirEntries(t, dir) {
		if strings.HasSuffix(name, ".tmp") {
			t.Errorf("temporary file %s left behind", name)
		}
	}
}

// metricsOf is the metrics file of o after defaults.
func metricsOf(o Options) string {
	return o.WithDefaults(Data{InputSize: 28, Channels: 1, Images: 64}).MetricsPath
}

// TestMetricsFileFaults: a torn last line is tolerated by the reader and dropped by the
// resume's rewrite, which keeps steps 1..last strictly increasing and the file's mode;
// any other bad line is an error naming the file and the line; a file needing no change
// is not rewritten.
func TestMetricsFileFaults(t *testing.T) {
	dir := t.TempDir()
	row := func(step int) string { return metricLine(t, Row{Step: step, Loss: float64(step)}) }
	path := filepath.Join(dir, "m.jsonl")

	// The duplicated, non-monotonic steps of the measured failure, then a torn row.
	writeFile(t, path, row(1)+row(2)+row(3)+row(2)+row(3)+row(4)+`{"step":5,"lo`)
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	dropped, err := trimMetrics(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != row(1)+row(2)+row(3) {
		t.Errorf("after trimming to step 3:\n%s\nwant steps 1, 2, 3", b)
	}
	if dropped != 4 {
		t.Errorf("dropped %d, want 4 (two repeats, step 4, the torn line)", dropped)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after the rewrite, want 0600 kept", fi.Mode().Perm())
	}

	// Nothing to drop: the file is left as it is (same inode, not rewritten).
	before, _ := os.Stat(path)
	if dropped, err := trimMetrics(path, 10); err != nil || dropped != 0 {
		t.Fatalf("trim with nothing to drop: %d, %v", dropped, err)
	}
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Error("a file with nothing to drop was rewritten")
	}
	if dropped, err := trimMetrics(filepath.Join(dir, "absent.jsonl"), 3); err != nil || dropped != 0 {
		t.Errorf("trim of a missing file: %d, %v; want 0, nil", dropped, err)
	}

	// A last row complete but for its newline is a row: kept, newline added.
	writeFile(t, path, row(1)+strings.TrimSuffix(row(2), "\n"))
	if rows, err := ReadMetrics(path); err != nil || len(rows) != 2 {
		t.Errorf("ReadMetrics of a last row without newline: %d rows, %v; want 2", len(rows), err)
	}
	if _, err := trimMetrics(path, 1); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != row(1) {
		t.Errorf("after trimming to step 1: %q", b)
	}

	for _, tc := range []struct{ name, content, want string }{
		{"bad middle line", row(1) + "garbage\n" + row(3), "line 2"},
		{"empty middle line", row(1) + "\n" + row(3), "line 2"},
		{"line too long", row(1) + strings.Repeat("x", maxMetricsLine+10) + "\n", "line 2"},
	} {
		writeFile(t, path, tc.content)
		_, rerr := ReadMetrics(path)
		mustContain(t, rerr, path, tc.want)
		_, terr := trimMetrics(path, 5)
		mustContain(t, terr, path, tc.want)
		if b, _ := os.ReadFile(path); string(b) != tc.content {
			t.Errorf("%s: a failed trim changed the file", tc.name)
		}
	}
	if _, err := ReadMetrics(dir); err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "directory") {
		t.Errorf("ReadMetrics of a directory: %v", err)
	}
	for _, name := range dirEntries(t, dir) {
		if strings.HasSuffix(name, ".tmp") {
			t.Errorf("temporary file %s left behind", name)
		}
	}
}

// trainingFile writes a training checkpoint of the tiny network at path, as Run would
// (kind, training state, an optimiser tensor beside the network), without training.
func trainingFile(t *testing.T, path string, step int) {
	t.Helper()
	opts := tinyOptions(t, t.TempDir())
	ctx, err := model.Initialize(opts.Backend, opts.Model, 28, 1)
	if err != nil {
		t.Fatal(err)
	}
	pre := checkpoint.Preprocess{InputSize: 28, ResizeSize: 28, Channels: 1, Mean: []float64{0.5}, Std: []float64{0.25}, Interpolation: "bilinear"}
	f, err := model.File(ctx, opts.Model, pre, &checkpoint.Training{Epoch: step / 4, Step: int64(step), Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	f.Header.Kind = KindTraining
	f.Tensors = append(f.Tensors, checkpoint.Float32Tensor("optimizer/momentum/backbone", []int{3}, []float32{1, 2, 3}))
	if err := checkpoint.Save(path, f, checkpoint.EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestResumeFromExportRefused: resuming from an inference-only export (what the
// measured failure did silently, without optimiser state) is an error naming the file,
// what it is and what to do, before any step; the file is left as it was.
func TestResumeFromExportRefused(t *testing.T) {
	dir := t.TempDir()
	train := filepath.Join(dir, "train.swav")
	trainingFile(t, train, 4)
	exported := filepath.Join(dir, "exported.swav")
	if err := export.File(train, exported, export.Options{}); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(exported)
	opts := tinyOptions(t, dir)
	opts.Checkpoint, opts.Resume = exported, true
	onStep, steps := countingSteps()
	opts.OnStep = onStep
	start := time.Now()
	_, err := Run(gocontext.Background(), noiseSource{64}, tinySwAV(), opts)
	mustContain(t, err, exported, "inference-only", "optimiser state", "resume from the training checkpoint")
	if steps() != 0 {
		t.Errorf("%d steps ran", steps())
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("the refusal took %v", elapsed)
	}
	if b, _ := os.ReadFile(exported); !bytes.Equal(b, orig) {
		t.Error("the export was modified")
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNewRunRefusesToReplaceCheckpoint: running the same command twice without
// Resume must not destroy the first run's checkpoint; Overwrite opts in.
func TestNewRunRefusesToReplaceCheckpoint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.swav")
	trainingFile(t, path, 2)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := tinyOptions(t, dir)
	opts.Checkpoint = path
	onStep, steps := countingSteps()
	opts.OnStep = onStep
	_, err = Run(gocontext.Background(), noiseSource{64}, tinySwAV(), opts)
	mustContain(t, err, path, "already exists", "--resume", "--overwrite")
	if steps() != 0 {
		t.Errorf("%d steps ran before the refusal", steps())
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, orig) {
		t.Error("the existing checkpoint was modified")
	}

	opts.Overwrite = true
	opts.MaxSteps = 1
	if _, err := Run(gocontext.Background(), noiseSource{64}, tinySwAV(), opts); err != nil {
		t.Fatalf("with Overwrite: %v", err)
	}
	if steps() != 1 {
		t.Errorf("with Overwrite %d steps ran, want 1", steps())
	}
	if b, _ := os.ReadFile(path); bytes.Equal(b, orig) {
		t.Error("with Overwrite the checkpoint was not replaced")
	}
}
