package main

import (
	"bytes"
	gocontext "context"
	"errors"
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
