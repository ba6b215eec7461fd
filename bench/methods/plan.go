package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Row is one pretrained row of Table 1: its name (also its directory), the method, the
// pretrain flags of its recipe beyond the shared ones (sharedFlags), and what the recipe
// is, for the table's notes.
type Row struct {
	Name, Method string
	Flags        []string
	Notes        string
}

// Rows are the rows of issue #12's Table 1, in its order. Each method runs with its
// defaults in `swav-embed pretrain --method M --help`, which are the paper's recipe
// scaled to images up to 64 px (pretrain/{swav,simclr,moco,pirl}); the only flags added
// are those that define the row (no multi-crop for SwAV: --nmb-crops 2,-1 drops the
// local crops and keeps the two 28-px crops at scale 0.14–1; four 16-px crops for
// SimCLR and, beyond the paper's table, for MoCo v2 as extra queries). The last row,
// swav-study, is SwAV with the recipe study's settings (issue #13): more tuning than the
// others had, so it is not a Table 1 row but the measure of what that tuning is worth.
func Rows() []Row {
	return []Row{
		{"swav", "swav", nil,
			"SwAV 2×28+4×16 (multi-crop), 200 prototypes, queue 512 from the start, τ 0.1, ε 0.05, LARS, base lr 4.8"},
		{"swav-2x28", "swav", []string{"--nmb-crops", "2,-1"},
			"SwAV 2×28 (no multi-crop: --nmb-crops 2,-1), 200 prototypes, queue 512 from the start, τ 0.1, ε 0.05, LARS, base lr 4.8"},
		{"simclr", "simclr", nil,
			"SimCLR 2×28, NT-Xent τ 0.5, LARS, base lr 4.8"},
		{"simclr-mc", "simclr", []string{"--small-crops", "4"},
			"SimCLR 2×28+4×16 (multi-crop: --small-crops 4), NT-Xent τ 0.5, LARS, base lr 4.8"},
		{"moco", "moco", nil,
			"MoCo v2 2×28, queue 5.1 % of the data (3072), m 0.999, InfoNCE τ 0.2, SGD base lr 0.03"},
		{"moco-mc", "moco", []string{"--small-crops", "4"},
			"MoCo v2 2×28+4×16 (multi-crop: --small-crops 4, local views as extra queries), queue 3072, m 0.999, InfoNCE τ 0.2, SGD base lr 0.03"},
		{"pirl", "pirl", nil,
			"PIRL 3×3 jigsaw, memory bank μ 0.5, NCE τ 0.07, λ 0.5, 1500 negatives, SGD base lr 0.03"},
		{"swav-study", "swav", []string{"--nmb-prototypes", "3000", "--min-scale-crops", "0.3,0.05"},
			"beyond the paper's table, and tuned more than the other rows: SwAV 2×28+4×16 with the two settings issue #13's recipe study found " +
				"(3000 prototypes, the paper's K; large crops from scale 0.3), otherwise as swav"},
	}
}

// sharedFlags are the same for every row: the data, the network, the batch and the seed.
func sharedFlags(trainIdx string) []string {
	return []string{"--idx", trainIdx, "--arch", "small", "--batch-size", "64", "--seed", "31"}
}

// SelectRows returns the rows named in the comma-separated list (all rows for ""), in
// the list's order; an unknown name is an error listing the valid ones.
func SelectRows(list string) ([]Row, error) {
	all := Rows()
	if strings.TrimSpace(list) == "" {
		return all, nil
	}
	var out []Row
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, r := range all {
			if r.Name == name {
				if seen[name] {
					return nil, fmt.Errorf("row %q given twice", name)
				}
				seen[name] = true
				out = append(out, r)
				found = true
			}
		}
		if !found {
			names := make([]string, len(all))
			for i, r := range all {
				names[i] = r.Name
			}
			return nil, fmt.Errorf("unknown row %q; the rows are: %s", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// Calibration is what a short run of a row measured and the schedule chosen from it;
// it is saved as ROW/calibration.json and reused by every later session, so a resumed
// row keeps its epochs.
type Calibration struct {
	// Steps is the length of the calibration run; StepSeconds the steady training
	// seconds per step (steps Warm+1 … Steps); OverheadSeconds the extra seconds a
	// session spends before it reaches that pace (the graph compilation in its first
	// step).
	Steps           int     `json:"steps"`
	Warm            int     `json:"warm"`
	StepSeconds     float64 `json:"step_seconds"`
	OverheadSeconds float64 `json:"overhead_seconds"`
	// ItersPerEpoch and BatchSize are from the pretrain log.
	ItersPerEpoch int `json:"iters_per_epoch"`
	BatchSize     int `json:"batch_size"`
	Threads       int `json:"threads"`
	// BudgetSeconds is the training-time budget; TotalSteps the most steps whose
	// predicted time, PredictedSeconds, fits it (at least one epoch: Fits is false when
	// even that does not), the run's schedule length; Epochs the epochs those steps
	// touch (the last one partly); Segments the sessions the run is cut into (one per
	// snapshot).
	BudgetSeconds    float64 `json:"budget_seconds"`
	TotalSteps       int     `json:"total_steps"`
	Epochs           int     `json:"epochs"`
	Segments         int     `json:"segments"`
	PredictedSeconds float64 `json:"predicted_seconds"`
	Fits             bool    `json:"fits"`
	// Snapshots are the steps probed (Checkpoints of the run); MaxSteps, when not 0,
	// the step a test run was stopped at (-max-steps).
	Snapshots []int `json:"snapshots"`
	MaxSteps  int   `json:"max_steps,omitempty"`
	// Date is the day (UTC) the row was calibrated, shown in its notes: a table may
	// hold rows from several sessions.
	Date string `json:"date,omitempty"`
	// Reference, when set (-match), is how BudgetSeconds was derived from a budget on
	// another machine.
	Reference *Reference `json:"reference,omitempty"`
}

// Reference carries a budget from the machine other rows ran on to this one (-match
// ROW=SECONDS): Row's recipe ran there at StepSeconds per step and here at
// LocalStepSeconds (its own calibration, beside this row's), so this machine is
// Factor() = StepSeconds/LocalStepSeconds times as fast on that recipe, and the
// row's budget here is BudgetSeconds (the budget there) divided by it — the same
// compute as the reference rows had, not the same wall time on a faster or slower
// machine.
type Reference struct {
	Row              string  `json:"row"`
	StepSeconds      float64 `json:"step_seconds"`
	LocalStepSeconds float64 `json:"local_step_seconds"`
	BudgetSeconds    float64 `json:"budget_seconds"`
}

// Factor is how many times as fast this machine ran the reference recipe.
func (r Reference) Factor() float64 { return r.StepSeconds / r.LocalStepSeconds }

// ParseMatch parses -match's "ROW=SECONDS" (a row name and its seconds per step on the
// reference machine); "" is no reference.
func ParseMatch(s string) (row Row, seconds float64, ok bool, err error) {
	if s == "" {
		return Row{}, 0, false, nil
	}
	name, secs, found := strings.Cut(s, "=")
	if !found {
		return Row{}, 0, false, fmt.Errorf("-match %q: want ROW=SECONDS, e.g. swav=2.166", s)
	}
	rows, err := SelectRows(name)
	if err != nil || len(rows) != 1 {
		if err == nil {
			err = fmt.Errorf("one row, not %q", name)
		}
		return Row{}, 0, false, fmt.Errorf("-match %q: %w", s, err)
	}
	seconds, err = strconv.ParseFloat(secs, 64)
	if err != nil || !(seconds > 0) || math.IsInf(seconds, 0) {
		return Row{}, 0, false, fmt.Errorf("-match %q: %q is not a positive number of seconds per step", s, secs)
	}
	return rows[0], seconds, true, nil
}

// Measure derives the steady step time and a session's overhead from the training
// seconds secs[i] at step i+1 of a calibration run: the pace is the slope over the steps
// after the first warm ones, and the overhead is what the first warm steps took beyond
// that pace. It panics if there are not more steps than warm (a programmer error).
func Measure(secs []float64, warm int) (stepSeconds, overhead float64) {
	n := len(secs)
	if warm < 1 || n <= warm {
		panic(fmt.Sprintf("methods: Measure: %d steps, %d warm", n, warm))
	}
	stepSeconds = (secs[n-1] - secs[warm-1]) / float64(n-warm)
	overhead = math.Max(0, secs[warm-1]-float64(warm)*stepSeconds)
	return stepSeconds, overhead
}

// PlanSteps returns the most steps whose predicted training time — segments
// sessions' overhead plus steps at stepSeconds — fits budget, and that time. The run's
// schedule (warmup, cosine decay to the final rate, SwAV's prototype freezing) is
// defined over these steps (`pretrain --steps`), so every row is annealed at the end of
// the same time budget whatever its pace; whole epochs would leave up to an epoch of
// the budget unused (for SwAV with multi-crop at one thread, 42 % of 60 minutes). A
// row gets at least one epoch: when one does not fit, it returns itersPerEpoch with
// fits false.
func PlanSteps(budget, stepSeconds, overhead float64, itersPerEpoch, segments int) (steps int, predicted float64, fits bool) {
	steps = int(math.Floor((budget - float64(segments)*overhead) / stepSeconds))
	fits = steps >= itersPerEpoch
	steps = max(steps, itersPerEpoch)
	return steps, float64(segments)*overhead + float64(steps)*stepSeconds, fits
}

// Checkpoints returns n snapshot steps spread evenly over a run of total steps (rounded
// to whole steps, the last one total), without repeats.
func Checkpoints(total, n int) []int {
	var out []int
	for k := 1; k <= n; k++ {
		s := int(math.Round(float64(total) * float64(k) / float64(n)))
		if s >= 1 && (len(out) == 0 || s > out[len(out)-1]) {
			out = append(out, s)
		}
	}
	return out
}

// "swav: 60000 images, 937 steps/epoch of 64, 1 epochs, views ..."
var configLine = regexp.MustCompile(`(?m)^\S+: \d+ images, (\d+) steps/epoch of (\d+), \d+ epochs, `)

// stepsPerEpoch reads the steps per epoch and the batch size from a pretrain log (its
// last session's configuration line).
func stepsPerEpoch(log []byte, name string) (iters, batch int, err error) {
	all := configLine.FindAllSubmatch(log, -1)
	if len(all) == 0 {
		return 0, 0, fmt.Errorf("pretrain log %s: no configuration line (\"swav: 60000 images, 937 steps/epoch of 64, ...\")", name)
	}
	m := all[len(all)-1]
	iters, err1 := strconv.Atoi(string(m[1]))
	batch, err2 := strconv.Atoi(string(m[2]))
	if err1 != nil || err2 != nil || iters <= 0 || batch <= 0 {
		return 0, 0, fmt.Errorf("pretrain log %s: %q: not a step count and batch size", name, m[0])
	}
	return iters, batch, nil
}

// baselineRuns are the runs bench/methods/baselines.sh names, first in the table.
var baselineRuns = []string{"raw pixels", "random network"}

// MergeResults merges two results files (JSON arrays of points, as `curve table -json`
// writes them): every run of local, and each run of recorded that local lacks, all of
// a run's points from the one file. Runs are ordered as the table shows them — the
// baselines, then Rows' order, then any other run in order of first appearance. The
// points themselves are unchanged. An empty recorded is no recorded points.
func MergeResults(local, recorded []byte) ([]byte, error) {
	type point struct {
		Run string `json:"run"`
	}
	group := func(b []byte, name string) (map[string][]json.RawMessage, []string, error) {
		var raw []json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return nil, nil, fmt.Errorf("%s results: not a JSON array of points: %w", name, err)
		}
		by := map[string][]json.RawMessage{}
		var order []string
		for i, r := range raw {
			var p point
			if err := json.Unmarshal(r, &p); err != nil || p.Run == "" {
				return nil, nil, fmt.Errorf("%s results: point %d has no run name", name, i+1)
			}
			if _, ok := by[p.Run]; !ok {
				order = append(order, p.Run)
			}
			by[p.Run] = append(by[p.Run], r)
		}
		return by, order, nil
	}
	loc, locOrder, err := group(local, "local")
	if err != nil {
		return nil, err
	}
	rec, recOrder := map[string][]json.RawMessage{}, []string(nil)
	if len(bytes.TrimSpace(recorded)) > 0 {
		if rec, recOrder, err = group(recorded, "recorded"); err != nil {
			return nil, err
		}
	}
	order := append([]string(nil), baselineRuns...)
	for _, r := range Rows() {
		order = append(order, r.Name)
	}
	order = append(append(order, locOrder...), recOrder...)
	var out []json.RawMessage
	done := map[string]bool{}
	for _, run := range order {
		if done[run] {
			continue
		}
		done[run] = true
		if ps, ok := loc[run]; ok {
			out = append(out, ps...)
		} else {
			out = append(out, rec[run]...)
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
