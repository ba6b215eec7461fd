package main

import (
	"bytes"
	gocontext "context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestMeasure(t *testing.T) {
	// 10 steps of 2 s after a first step that also compiles for 10 s.
	secs := make([]float64, 10)
	for i := range secs {
		secs[i] = 10 + 2*float64(i+1)
	}
	step, over := Measure(secs, 3)
	if math.Abs(step-2) > 1e-12 || math.Abs(over-10) > 1e-12 {
		t.Fatalf("Measure: %g s/step, %g s overhead; want 2 and 10", step, over)
	}
	// A session faster at the start than later gives no negative overhead.
	if _, over := Measure([]float64{1, 2, 3, 5, 7, 9}, 3); over != 0 {
		t.Fatalf("overhead %g, want 0", over)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Measure with no step after the warm ones did not panic")
		}
	}()
	Measure([]float64{1, 2, 3}, 3)
}

func TestPlanSteps(t *testing.T) {
	for _, tc := range []struct {
		step, over float64
		steps      int
		predicted  float64
		fits       bool
	}{
		// 60 min, 3 sessions of 15 s overhead, 937 steps an epoch.
		{2.2, 15, 1615, 45 + 2.2*1615, true}, // (3600−45)/2.2 = 1615.9
		{0.8, 15, 4443, 45 + 0.8*4443, true}, // (3600−45)/0.8 = 4443.75
		{4, 15, 937, 45 + 4*937, false},      // 888 steps fit, less than an epoch
		{0.5, 0, 7200, 3600, true},           // exactly 7200 steps fit
		{3600.0 / 937, 0, 937, 3600, true},   // exactly one epoch fits
	} {
		n, p, f := PlanSteps(3600, tc.step, tc.over, 937, 3)
		if n != tc.steps || math.Abs(p-tc.predicted) > 1e-6 || f != tc.fits {
			t.Errorf("PlanSteps(%g s/step, %g s): %d steps, %g s, fits %v; want %d, %g, %v", tc.step, tc.over, n, p, f, tc.steps, tc.predicted, tc.fits)
		}
	}
}

func TestCheckpoints(t *testing.T) {
	for _, tc := range []struct {
		total, n int
		want     []int
	}{
		{937, 3, []int{312, 625, 937}},
		{1874, 1, []int{1874}},
		{2, 3, []int{1, 2}}, // rounded 0.67 and 1.33 are both step 1: one snapshot
		{6, 2, []int{3, 6}},
	} {
		if got := Checkpoints(tc.total, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("Checkpoints(%d, %d) = %v, want %v", tc.total, tc.n, got, tc.want)
		}
	}
}

func TestSelectRows(t *testing.T) {
	rows, err := SelectRows("moco, swav")
	if err != nil || len(rows) != 2 || rows[0].Name != "moco" || rows[1].Name != "swav" {
		t.Fatalf("SelectRows: %v, %v", rows, err)
	}
	all, _ := SelectRows("")
	names := make([]string, len(all))
	for i, r := range all {
		names[i] = r.Name
	}
	if strings.Join(names, ",") != "swav,swav-2x28,simclr,simclr-mc,moco,moco-mc,pirl,swav-study" {
		t.Fatalf("all rows: %v", names)
	}
	if _, err := SelectRows("byol"); err == nil || !strings.Contains(err.Error(), "the rows are: swav, swav-2x28") {
		t.Fatalf("unknown row: %v", err)
	}
	if _, err := SelectRows("pirl,pirl"); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("a row twice: %v", err)
	}
	// The multi-crop rows differ from their partners by the crop flags only.
	byName := map[string]Row{}
	for _, r := range all {
		byName[r.Name] = r
	}
	if m := byName["simclr-mc"]; m.Method != "simclr" || !slices.Equal(m.Flags, []string{"--small-crops", "4"}) || byName["simclr"].Flags != nil {
		t.Fatalf("simclr rows %+v %+v", m, byName["simclr"])
	}
	if m := byName["moco-mc"]; m.Method != "moco" || !slices.Equal(m.Flags, []string{"--small-crops", "4"}) || byName["moco"].Flags != nil {
		t.Fatalf("moco rows %+v %+v", m, byName["moco"])
	}
	if m := byName["swav-2x28"]; m.Method != "swav" || !slices.Equal(m.Flags, []string{"--nmb-crops", "2,-1"}) || byName["swav"].Flags != nil {
		t.Fatalf("swav rows %+v %+v", m, byName["swav"])
	}
}

func TestStepsPerEpochAndSeconds(t *testing.T) {
	log := []byte("no checkpoint at x: starting a new run\n" +
		"swav: 60000 images, 937 steps/epoch of 64, 1 epochs, views 2×28+4×16, backend swav\n" +
		"resuming x at step 3 (epoch 0)\n" +
		"pirl: 60000 images, 1875 steps/epoch of 32, 2 epochs, views jigsaw, backend swav\n")
	iters, batch, err := stepsPerEpoch(log, "log")
	if err != nil || iters != 1875 || batch != 32 {
		t.Fatalf("stepsPerEpoch: %d, %d, %v; want the last session's 1875 and 32", iters, batch, err)
	}
	if _, _, err := stepsPerEpoch([]byte("step 1/3\n"), "log"); err == nil || !strings.Contains(err.Error(), "no configuration line") {
		t.Fatalf("a log without a configuration line: %v", err)
	}
	secs, err := parseSeconds([]byte("3\t24.6\n6\t53.0\n"), 2)
	if err != nil || !slices.Equal(secs, []float64{24.6, 53}) {
		t.Fatalf("parseSeconds: %v, %v", secs, err)
	}
	for _, bad := range []string{"3\t24.6\n", "3\tx\n6\t1\n", "3 24.6\n6\t1\n"} {
		if _, err := parseSeconds([]byte(bad), 2); err == nil {
			t.Errorf("parseSeconds(%q) accepted", bad)
		}
	}
}

func TestRowNotes(t *testing.T) {
	cal := Calibration{TotalSteps: 1640, Epochs: 2, ItersPerEpoch: 937, BatchSize: 64, Threads: 1, BudgetSeconds: 3600,
		Snapshots: []int{547, 1093, 1640}}
	r := Row{Notes: "SimCLR"}
	if got, want := rowNotes(r, cal, 1640, 3500), "SimCLR; 1640 steps (1.75 epochs of 937) at batch 64, 1 thread(s), budget 60 min"; got != want {
		t.Fatalf("notes %q, want %q", got, want)
	}
	if got := rowNotes(r, cal, 1640, 3690); !strings.HasSuffix(got, " (over it by 1.5 min)") {
		t.Fatalf("over budget: %q", got)
	}
	if got := rowNotes(r, cal, 1093, 2400); !strings.HasSuffix(got, "; NOT FINISHED: snapshot at step 1093 of 1640, learning rate not annealed") {
		t.Fatalf("an intermediate snapshot: %q", got)
	}
	// A row matched to another machine's budget says both budgets and the paces behind them.
	cal.Date, cal.BudgetSeconds = "2026-12-02", 2000
	cal.Reference = &Reference{Row: "swav", StepSeconds: 2.166, LocalStepSeconds: 1.203, BudgetSeconds: 3600}
	want := "SimCLR; 1640 steps (1.75 epochs of 937) at batch 64, 1 thread(s), budget 33 min, calibrated 2026-12-02 " +
		"(60 min on the machine of the recorded rows, where swav ran at 2.166 s/step against 1.203 here: -match)"
	if got := rowNotes(r, cal, 1640, 1990); got != want {
		t.Fatalf("matched notes %q\nwant %q", got, want)
	}
}

func TestParseMatch(t *testing.T) {
	if _, _, ok, err := ParseMatch(""); ok || err != nil {
		t.Fatalf("no -match: %v, %v", ok, err)
	}
	r, secs, ok, err := ParseMatch("swav=2.166")
	if err != nil || !ok || r.Name != "swav" || secs != 2.166 {
		t.Fatalf("swav=2.166: %+v %v %v %v", r, secs, ok, err)
	}
	for _, bad := range []string{"swav", "byol=1", "swav=0", "swav=-1", "swav=x", "swav,moco=1", "swav=+Inf"} {
		if _, _, _, err := ParseMatch(bad); err == nil {
			t.Errorf("ParseMatch(%q) accepted", bad)
		}
	}
}

func TestCommandLine(t *testing.T) {
	var stdout, stderr bytes.Buffer
	for _, args := range [][]string{nil, {"train"}, {"run", "-rows", "byol"}, {"run", "-snapshots", "0"}, {"report", "extra"}} {
		err := run(gocontext.Background(), args, &stdout, &stderr)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%q: err %v, want a usage error", args, err)
		}
	}
	// From outside the repository root (the test's directory), a missing binary is named.
	err := run(gocontext.Background(), []string{"report", "-swav-embed", "/nonexistent/swav-embed"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/swav-embed is missing: go build") {
		t.Fatalf("a missing binary: %v", err)
	}
}

func TestMergeResults(t *testing.T) {
	local := `[{"run":"extra","step":5,"training_seconds":9,"linear_top1":0.1},
		{"run":"swav-2x28","step":10,"training_seconds":60,"linear_top1":0.81},
		{"run":"raw pixels","step":0,"training_seconds":0,"linear_top1":0.846,"knn20_top1":0.8459},
		{"run":"swav-2x28","step":20,"training_seconds":120,"linear_top1":0.83}]`
	recorded := `[{"run":"raw pixels","step":0,"training_seconds":0,"linear_top1":0.5},
		{"run":"moco","step":7,"training_seconds":70,"linear_top1":0.8},
		{"run":"swav-2x28","step":30,"training_seconds":300,"linear_top1":0.7},
		{"run":"swav","step":3,"training_seconds":30,"linear_top1":0.78},
		{"run":"random network","step":0,"training_seconds":0,"linear_top1":0.79}]`
	b, err := MergeResults([]byte(local), []byte(recorded))
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Run    string  `json:"run"`
		Step   int     `json:"step"`
		Linear float64 `json:"linear_top1"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, p := range got {
		order = append(order, fmt.Sprintf("%s@%d=%.3f", p.Run, p.Step, p.Linear))
	}
	// Local runs win whole (swav-2x28's recorded step 30 is dropped, raw pixels is local),
	// recorded runs fill in, in the table's order; a run of neither list goes last.
	want := []string{"raw pixels@0=0.846", "random network@0=0.790", "swav@3=0.780", "swav-2x28@10=0.810", "swav-2x28@20=0.830",
		"moco@7=0.800", "extra@5=0.100"}
	if !slices.Equal(order, want) {
		t.Fatalf("merged %v\nwant   %v", order, want)
	}
	if b2, err := MergeResults([]byte(local), nil); err != nil || !strings.Contains(string(b2), `"extra"`) || strings.Contains(string(b2), `"moco"`) {
		t.Fatalf("nothing recorded: %s, %v", b2, err)
	}
	for _, bad := range [][2]string{{`{"run":"a"}`, ""}, {`[{"step":1}]`, ""}, {local, `[{"run":""}]`}} {
		if _, err := MergeResults([]byte(bad[0]), []byte(bad[1])); err == nil {
			t.Errorf("MergeResults(%q, %q) accepted", bad[0], bad[1])
		}
	}
}
