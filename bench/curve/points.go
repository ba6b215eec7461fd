package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/swav-go/swav/internal/userfile"
)

// Point is one probe of one run: the run's name, the step and training seconds of the
// probed checkpoint, and the probe's top-1 accuracies (fractions; NaN when the report
// has no such probe).
type Point struct {
	Run     string  `json:"run"`
	Step    int     `json:"step"`
	Seconds float64 `json:"training_seconds"`
	Report  string  `json:"report"`
	Notes   string  `json:"notes,omitempty"`
	Linear  float64 `json:"linear_top1"`
	KNN20   float64 `json:"knn20_top1"`
}

// maxReport bounds a probe report (about 6 KB for 10 classes and three probes).
const maxReport = 16 << 20

// ReadReport returns the linear and kNN-20 top-1 accuracies of a probe report (the JSON
// array that `swav-embed probe --report` writes: {"method": "linear" | "knn-k20" | …,
// "top1": …}). A probe the report lacks is NaN; a report with neither is an error.
func ReadReport(path string) (linear, knn20 float64, err error) {
	b, err := userfile.ReadFile(path, maxReport)
	if err != nil {
		return 0, 0, fmt.Errorf("probe report: %w", err)
	}
	var reps []struct {
		Method string   `json:"method"`
		Top1   *float64 `json:"top1"`
	}
	if err := json.Unmarshal(b, &reps); err != nil {
		return 0, 0, fmt.Errorf("probe report %s: not the JSON array swav-embed probe --report writes: %w", path, err)
	}
	linear, knn20 = math.NaN(), math.NaN()
	for _, r := range reps {
		if r.Top1 == nil {
			continue
		}
		v := *r.Top1
		if v < 0 || v > 1 || math.IsNaN(v) {
			return 0, 0, fmt.Errorf("probe report %s: %s top-1 %v is not a fraction in [0, 1]", path, r.Method, v)
		}
		switch r.Method {
		case "linear":
			linear = v
		case "knn-k20":
			knn20 = v
		}
	}
	if math.IsNaN(linear) && math.IsNaN(knn20) {
		return 0, 0, fmt.Errorf("probe report %s: no \"linear\" or \"knn-k20\" result", path)
	}
	return linear, knn20, nil
}

// maxPoints bounds a points file.
const maxPoints = 16 << 20

// ReadPoints reads a points file and the reports it names. The file is tab-separated,
// one probe a line: run, step, training seconds, report path, and optional notes (the
// recipe, shown by the table). Blank lines and lines starting with # are skipped.
// Report paths are as written (relative ones from the working directory). The same run
// and step twice is an error (a probe listed twice would draw a false point).
func ReadPoints(path string) ([]Point, error) {
	b, err := userfile.ReadFile(path, maxPoints)
	if err != nil {
		return nil, fmt.Errorf("points: %w", err)
	}
	var pts []Point
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 4 || len(f) > 5 {
			return nil, fmt.Errorf("points %s line %d: %d tab-separated fields, want run, step, seconds, report[, notes]", path, n, len(f))
		}
		p := Point{Run: f[0], Report: f[3]}
		if len(f) == 5 {
			p.Notes = f[4]
		}
		if p.Run == "" || p.Report == "" {
			return nil, fmt.Errorf("points %s line %d: empty run name or report path", path, n)
		}
		if p.Step, err = strconv.Atoi(f[1]); err != nil || p.Step < 0 {
			return nil, fmt.Errorf("points %s line %d: step %q is not a whole number ≥ 0", path, n, f[1])
		}
		if p.Seconds, err = strconv.ParseFloat(f[2], 64); err != nil || p.Seconds < 0 || math.IsInf(p.Seconds, 0) || math.IsNaN(p.Seconds) {
			return nil, fmt.Errorf("points %s line %d: seconds %q is not a number ≥ 0", path, n, f[2])
		}
		key := p.Run + "\x00" + f[1]
		if seen[key] {
			return nil, fmt.Errorf("points %s line %d: run %q step %d listed twice", path, n, p.Run, p.Step)
		}
		seen[key] = true
		if p.Linear, p.KNN20, err = ReadReport(p.Report); err != nil {
			return nil, fmt.Errorf("points %s line %d: %w", path, n, err)
		}
		pts = append(pts, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("points %s: %w", path, err)
	}
	return pts, nil
}

// Runs groups points by run, in the order each run first appears, each run's points
// sorted by training seconds (then step).
func Runs(pts []Point) (names []string, byRun map[string][]Point) {
	byRun = map[string][]Point{}
	for _, p := range pts {
		if _, ok := byRun[p.Run]; !ok {
			names = append(names, p.Run)
		}
		byRun[p.Run] = append(byRun[p.Run], p)
	}
	for _, ps := range byRun {
		sortPoints(ps)
	}
	return names, byRun
}

func sortPoints(ps []Point) {
	for i := 1; i < len(ps); i++ { // insertion sort: a run has a handful of points
		for j := i; j > 0 && less(ps[j], ps[j-1]); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

func less(a, b Point) bool {
	if a.Seconds != b.Seconds {
		return a.Seconds < b.Seconds
	}
	return a.Step < b.Step
}

// ReadResults reads a results file: the JSON array `curve table -json` writes, every
// point with its accuracies (null for a probe the report lacked). It is how a table
// outlives the run files its points came from (bench/methods keeps one in the
// repository); the same run and step twice, an accuracy outside [0, 1] or a point with
// neither accuracy is an error.
func ReadResults(path string) ([]Point, error) {
	b, err := userfile.ReadFile(path, maxPoints)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	var in []jsonPoint
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("results %s: not the JSON array curve table -json writes: %w", path, err)
	}
	pts := make([]Point, len(in))
	seen := map[string]bool{}
	for i, jp := range in {
		p := jp.Point
		p.Linear, p.KNN20 = math.NaN(), math.NaN()
		if p.Run == "" || p.Step < 0 || !(p.Seconds >= 0) || math.IsInf(p.Seconds, 0) {
			return nil, fmt.Errorf("results %s point %d: want a run name, a step ≥ 0 and training seconds ≥ 0, got %q, %d, %v", path, i+1, p.Run, p.Step, p.Seconds)
		}
		key := p.Run + "\x00" + strconv.Itoa(p.Step)
		if seen[key] {
			return nil, fmt.Errorf("results %s point %d: run %q step %d listed twice", path, i+1, p.Run, p.Step)
		}
		seen[key] = true
		for _, acc := range []struct {
			v   *float64
			dst *float64
		}{{jp.Linear, &p.Linear}, {jp.KNN20, &p.KNN20}} {
			if acc.v == nil {
				continue
			}
			if *acc.v < 0 || *acc.v > 1 {
				return nil, fmt.Errorf("results %s point %d (run %q step %d): accuracy %v is not a fraction in [0, 1]", path, i+1, p.Run, p.Step, *acc.v)
			}
			*acc.dst = *acc.v
		}
		if math.IsNaN(p.Linear) && math.IsNaN(p.KNN20) {
			return nil, fmt.Errorf("results %s point %d (run %q step %d): neither linear_top1 nor knn20_top1", path, i+1, p.Run, p.Step)
		}
		pts[i] = p
	}
	return pts, nil
}
