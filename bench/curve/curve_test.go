package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swav-go/swav/pretrain/trainer"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A run of batch 4: session 1 trains steps 1–4 (done at 2, 3, 4 and 6 s), is killed
// after its checkpoint at step 2; session 2 resumes at step 2 and trains steps 3 and 4
// (10 s for the first, which compiles the graph, 11 s at step 4). The metrics file, as
// the trainer trims it, has session 1's steps 1–2 and session 2's steps 3–4.
const (
	testMetrics = `{"step":1,"epoch":0.25,"loss":5,"lr":0.1,"code_entropy":1,"images_per_sec":2}
{"step":2,"epoch":0.5,"loss":5,"lr":0.1,"code_entropy":1,"images_per_sec":2.6666666666666665}
{"step":3,"epoch":0.75,"loss":5,"lr":0.1,"code_entropy":1,"images_per_sec":0.4}
{"step":4,"epoch":1,"loss":5,"lr":0.1,"code_entropy":1,"images_per_sec":0.7272727272727273}
`
	testLog = `no checkpoint at /tmp/x/model.swav: starting a new run
swav: 16 images, 4 steps/epoch of 4, 1 epochs, views 2×28+4×16, backend swav
schedule: base lr 4.8 per 256 ...
step 2/4  loss 5.0000  2.7 images/s  16 views/s
resuming /tmp/x/model.swav at step 2 (epoch 0)
swav: 16 images, 4 steps/epoch of 4, 1 epochs, views 2×28+4×16, backend swav
done: 4 steps, last loss 5.0000, 0.7 images/s; checkpoint /tmp/x/model.swav
`
)

func TestTrainingSecondsAcrossAResume(t *testing.T) {
	dir := t.TempDir()
	m := writeFile(t, dir, "m.jsonl", testMetrics)
	l := writeFile(t, dir, "pretrain.log", testLog)
	sessions, err := ParseLog(l)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Session{{0, 4}, {2, 4}}; len(sessions) != 2 || sessions[0] != want[0] || sessions[1] != want[1] {
		t.Fatalf("sessions %v, want %v", sessions, want)
	}
	secs, err := SecondsAt(m, sessions, []int{1, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	// Session 1: 2 s and 3 s; session 2 adds its own 10 s and 11 s to step 2's 3 s.
	for i, want := range []float64{2, 3, 13, 14} {
		if math.Abs(secs[i]-want) > 1e-9 {
			t.Errorf("step %d: %.6f s, want %g", i+1, secs[i], want)
		}
	}
	// Read as one session, session 2's own rate over all of its steps gives 30 s at
	// step 3 and 22 s at step 4: the times fall, which must be refused.
	_, err = SecondsAt(m, []Session{{0, 4}}, []int{4})
	if err == nil || !strings.Contains(err.Error(), "falls") || !strings.Contains(err.Error(), "step 4") {
		t.Fatalf("one session for a resumed run: err %v, want the time falling at step 4", err)
	}
	if _, err := SecondsAt(m, sessions, []int{5}); err == nil || !strings.Contains(err.Error(), "no row for step 5") {
		t.Fatalf("a step past the rows: err %v", err)
	}
}

func TestTrainingSecondsRefusals(t *testing.T) {
	rows := []trainer.Row{{Step: 1, ImagesPerSec: 2}, {Step: 2, ImagesPerSec: 2}, {Step: 3, ImagesPerSec: 2}}
	for _, tc := range []struct {
		name     string
		rows     []trainer.Row
		sessions []Session
		want     string
	}{
		{"resume without its row", rows[2:], []Session{{0, 4}, {2, 4}}, "step 2, which has no metrics row"},
		{"zero rate", []trainer.Row{{Step: 1}}, []Session{{0, 4}}, "not a positive rate"},
		{"steps out of order", []trainer.Row{rows[1], rows[0]}, []Session{{0, 4}}, "not in increasing order"},
		{"no session", rows, nil, "no session"},
		{"bad batch", rows, []Session{{0, 0}}, "batch size 0"},
	} {
		if _, err := TrainingSeconds(tc.rows, tc.sessions); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
	// One session of batch 8 at 4 images/s: 2 s a step.
	secs, err := TrainingSeconds(rows, []Session{{0, 8}})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{4, 8, 12} {
		if secs[i] != want {
			t.Errorf("step %d: %g s, want %g", i+1, secs[i], want)
		}
	}
}

func TestParseLogNewRunDropsEarlierSessions(t *testing.T) {
	dir := t.TempDir()
	// A run, resumed, then replaced by a new run (no resume line) of batch 32: its
	// metrics file starts again, so only the last session counts.
	l := writeFile(t, dir, "log", testLog+"simclr: 60000 images, 1875 steps/epoch of 32, 2 epochs, views 2×28, backend swav\n")
	s, err := ParseLog(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 1 || s[0] != (Session{0, 32}) {
		t.Fatalf("sessions %v, want [{0 32}]", s)
	}
	if _, err := ParseLog(writeFile(t, dir, "empty", "step 1/4\n")); err == nil || !strings.Contains(err.Error(), "no session") {
		t.Fatalf("a log without sessions: err %v", err)
	}
	if _, err := ParseLog(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("a directory as log: err %v, want it named", err)
	}
}

// report is a probe report as swav-embed probe writes it (the fields curve reads).
func report(t *testing.T, dir, name string, linear, knn float64) string {
	t.Helper()
	reps := []map[string]any{{"method": "linear", "top1": linear, "top5": 0.99}}
	if knn >= 0 {
		reps = append(reps, map[string]any{"method": "knn-k20", "top1": knn}, map[string]any{"method": "knn-k200", "top1": 0.5})
	}
	b, err := json.Marshal(reps)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, string(b))
}

func testPoints(t *testing.T) (dir, points string) {
	dir = t.TempDir()
	lines := []string{
		"# run\tstep\tseconds\treport\tnotes",
		"raw pixels\t0\t0\t" + report(t, dir, "raw.json", 0.846, 0.8459) + "\t784-d",
		"swav\t624\t1800\t" + report(t, dir, "s624.json", 0.83, 0.80) + "\tlr 4.8",
		"swav\t312\t900.5\t" + report(t, dir, "s312.json", 0.80, 0.77) + "\tlr 4.8",
		"",
		"moco\t900\t1750\t" + report(t, dir, "m900.json", 0.78, -1),
	}
	return dir, writeFile(t, dir, "points.tsv", strings.Join(lines, "\n")+"\n")
}

func TestReadPointsAndTable(t *testing.T) {
	_, points := testPoints(t)
	pts, err := ReadPoints(points)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 4 || pts[2].Seconds != 900.5 || pts[2].Linear != 0.80 || pts[2].KNN20 != 0.77 || !math.IsNaN(pts[3].KNN20) {
		t.Fatalf("points %+v", pts)
	}
	names, byRun := Runs(pts)
	if strings.Join(names, ",") != "raw pixels,swav,moco" || byRun["swav"][0].Step != 312 {
		t.Fatalf("runs %v, swav %+v (want sorted by time)", names, byRun["swav"])
	}
	want := "| run | steps | training | linear top-1 | kNN-20 top-1 | notes |\n|---|---:|---:|---:|---:|---|\n" +
		"| raw pixels | – | – | 84.60 % | 84.59 % | 784-d |\n" +
		"| swav | 624 | 30.0 min | 83.00 % | 80.00 % | lr 4.8 |\n" +
		"| moco | 900 | 29.2 min | 78.00 % | – |  |\n"
	if got := Table(pts); got != want {
		t.Fatalf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestReadPointsRefusals(t *testing.T) {
	dir := t.TempDir()
	r := report(t, dir, "r.json", 0.5, 0.5)
	bad := writeFile(t, dir, "bad.json", `[{"method":"linear","top1":1.5}]`)
	none := writeFile(t, dir, "none.json", `[{"method":"knn-k200","top1":0.5}]`)
	for _, tc := range []struct{ name, text, want string }{
		{"three fields", "a\t1\t2\n", "3 tab-separated fields"},
		{"negative seconds", "a\t1\t-2\t" + r + "\n", `seconds "-2"`},
		{"step not a number", "a\tx\t2\t" + r + "\n", `step "x"`},
		{"twice", "a\t1\t2\t" + r + "\na\t1\t3\t" + r + "\n", "line 2: run \"a\" step 1 listed twice"},
		{"accuracy above 1", "a\t1\t2\t" + bad + "\n", "not a fraction"},
		{"no linear or knn-20", "a\t1\t2\t" + none + "\n", "no \"linear\" or \"knn-k20\""},
		{"missing report", "a\t1\t2\t" + filepath.Join(dir, "gone.json") + "\n", "gone.json"},
	} {
		p := writeFile(t, dir, "p.tsv", tc.text)
		if _, err := ReadPoints(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestPlotWritesPNG(t *testing.T) {
	dir, points := testPoints(t)
	out := filepath.Join(dir, "curve.png")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"plot", "-points", points, "-out", out, "-title", "test"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", out, err)
	}
	b := img.Bounds()
	if b.Dx() < 400 || b.Dy() < 200 {
		t.Fatalf("PNG is %v", b)
	}
	// The lines are in colour: some pixel is far from grey.
	coloured := false
	for y := b.Min.Y; y < b.Max.Y && !coloured; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if max(r, g, bl)-min(r, g, bl) > 0x4000 {
				coloured = true
				break
			}
		}
	}
	if !coloured {
		t.Fatal("the PNG has no coloured pixel: no line was drawn")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
	if err := Plot(nil, out, "x"); err == nil || !strings.Contains(err.Error(), "no point") {
		t.Fatalf("no points: err %v", err)
	}
	if err := run([]string{"plot", "-points", points, "-out", filepath.Join(dir, "c.svg")}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), ".png") {
		t.Fatalf("an .svg output: err %v", err)
	}
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	m := writeFile(t, dir, "m.jsonl", testMetrics)
	l := writeFile(t, dir, "pretrain.log", testLog)
	var stdout, stderr bytes.Buffer
	if err := run([]string{"seconds", "-metrics", m, "-log", l, "2", "4"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if got := stdout.String(); got != "2\t3.0\n4\t14.0\n" {
		t.Fatalf("seconds printed %q", got)
	}
	_, points := testPoints(t)
	stdout.Reset()
	js := filepath.Join(dir, "results.json")
	if err := run([]string{"table", "-points", points, "-json", js}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "| swav | 624 | 30.0 min |") {
		t.Fatalf("table printed %q", stdout.String())
	}
	var back []map[string]any
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 4 {
		t.Fatalf("results JSON %s: %v", b, err)
	}
	if back[3]["knn20_top1"] != nil || back[1]["linear_top1"] != 0.83 || back[1]["training_seconds"] != 1800.0 {
		t.Fatalf("results JSON points %v", back)
	}
	// The results file stands in for the points and their reports: the same table, and
	// the same points (a missing kNN stays missing, not 0).
	want := stdout.String()
	stdout.Reset()
	if err := run([]string{"table", "-results", js}, &stdout, &stderr); err != nil || stdout.String() != want {
		t.Fatalf("table -results: %v\n%s\nwant\n%s", err, stdout.String(), want)
	}
	fromPoints, err := ReadPoints(points)
	if err != nil {
		t.Fatal(err)
	}
	fromResults, err := ReadResults(js)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fromPoints {
		a, b := fromPoints[i], fromResults[i]
		if a.Run != b.Run || a.Step != b.Step || a.Seconds != b.Seconds || a.Notes != b.Notes || a.Report != b.Report ||
			!sameAcc(a.Linear, b.Linear) || !sameAcc(a.KNN20, b.KNN20) {
			t.Fatalf("point %d: from the points %+v, from the results %+v", i, a, b)
		}
	}
	if err := run([]string{"plot", "-results", js, "-out", filepath.Join(dir, "r.png")}, &stdout, &stderr); err != nil {
		t.Fatalf("plot -results: %v", err)
	}
	for _, args := range [][]string{
		nil,
		{"draw"},
		{"seconds", "-metrics", m, "4"}, // neither -log nor -batch-size
		{"seconds", "-metrics", m, "-batch-size", "4", "0"},                              // step 0
		{"plot", "-points", points},                                                      // no -out
		{"plot", "-points", points, "-results", js, "-out", filepath.Join(dir, "x.png")}, // both inputs
		{"table"}, // neither
		{"table", "-nope"},
	} {
		err := run(args, &stdout, &stderr)
		var u usageError
		if err == nil || !errors.As(err, &u) {
			t.Errorf("%q: err %v, want a usage error", args, err)
		}
	}
}

func sameAcc(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func TestReadResultsRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, text, want string }{
		{"not an array", `{"run":"a"}`, "not the JSON array"},
		{"no run", `[{"run":"","step":1,"training_seconds":2,"linear_top1":0.5}]`, "want a run name"},
		{"negative seconds", `[{"run":"a","step":1,"training_seconds":-2,"linear_top1":0.5}]`, "training seconds ≥ 0"},
		{"twice", `[{"run":"a","step":1,"training_seconds":2,"linear_top1":0.5},{"run":"a","step":1,"training_seconds":3,"knn20_top1":0.5}]`,
			`point 2: run "a" step 1 listed twice`},
		{"above 1", `[{"run":"a","step":1,"training_seconds":2,"linear_top1":50}]`, "not a fraction"},
		{"neither", `[{"run":"a","step":1,"training_seconds":2,"linear_top1":null}]`, "neither linear_top1 nor knn20_top1"},
	} {
		p := writeFile(t, dir, "r.json", tc.text)
		if _, err := ReadResults(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}
