package main

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/swav-go/swav/internal/atomicfile"
)

// isBaseline reports whether a run is an untrained baseline (raw pixels, a random
// network): its only point is at step 0.
func isBaseline(ps []Point) bool {
	return len(ps) == 1 && ps[0].Step == 0
}

var dashed = []vg.Length{vg.Points(6), vg.Points(3)}

// Plot draws linear-probe top-1 (solid lines) and kNN-20 top-1 (dashed) in percent
// against training minutes, one colour per run, and writes it as a PNG to pngPath
// (through a temporary file renamed over it). A baseline run (one point at step 0) is
// drawn as thin horizontal lines across the plot.
func Plot(pts []Point, pngPath, title string) error {
	if !strings.EqualFold(filepath.Ext(pngPath), ".png") {
		return fmt.Errorf("plot %s: the output must be a .png file", pngPath)
	}
	names, byRun := Runs(pts)
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "training time (minutes)"
	p.Y.Label.Text = "top-1 accuracy (%): solid linear probe, dashed kNN-20"
	p.Add(plotter.NewGrid())
	// The legend sits top left, in head room kept above the highest line.
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	maxMin := 0.0
	lo, hi := math.Inf(1), math.Inf(-1)
	drawn := 0
	for _, ps := range byRun {
		for _, q := range ps {
			maxMin = math.Max(maxMin, q.Seconds/60)
		}
	}
	if maxMin == 0 {
		maxMin = 1
	}
	for i, name := range names {
		ps := byRun[name]
		c := plotutil.Color(i)
		for _, kind := range []string{"linear", "knn"} {
			var xy plotter.XYs
			for _, q := range ps {
				v := q.Linear
				if kind == "knn" {
					v = q.KNN20
				}
				if math.IsNaN(v) {
					continue
				}
				if isBaseline(ps) {
					xy = append(xy, plotter.XY{X: 0, Y: 100 * v}, plotter.XY{X: maxMin, Y: 100 * v})
				} else {
					xy = append(xy, plotter.XY{X: q.Seconds / 60, Y: 100 * v})
				}
				lo, hi = math.Min(lo, 100*v), math.Max(hi, 100*v)
			}
			if len(xy) == 0 {
				continue
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return fmt.Errorf("plot %s: run %s: %w", pngPath, name, err)
			}
			l.Color = c
			l.Width = vg.Points(2)
			if isBaseline(ps) {
				l.Width = vg.Points(1)
			}
			if kind == "knn" {
				l.Dashes = dashed
			}
			p.Add(l)
			if !isBaseline(ps) {
				s, err := plotter.NewScatter(xy)
				if err != nil {
					return fmt.Errorf("plot %s: run %s: %w", pngPath, name, err)
				}
				s.Color = c
				s.Shape = draw.CircleGlyph{}
				s.Radius = vg.Points(2.5)
				p.Add(s)
			}
			if kind == "linear" || math.IsNaN(ps[0].Linear) {
				p.Legend.Add(name, l)
			}
			drawn++
		}
	}
	if drawn == 0 {
		return fmt.Errorf("plot %s: no point with a linear or kNN-20 accuracy", pngPath)
	}
	p.X.Min = 0
	p.X.Max = maxMin * 1.02
	pad := math.Max(0.5, 0.05*(hi-lo))
	room := math.Max(2, 0.06*float64(len(names))*(hi-lo+2*pad))
	p.Y.Min, p.Y.Max = lo-pad, hi+pad+room
	wt, err := p.WriterTo(9*vg.Inch, 5.5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("plot %s: %w", pngPath, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return fmt.Errorf("plot %s: %w", pngPath, err)
	}
	return atomicfile.WriteFile(pngPath, buf.Bytes())
}

// Table renders the last point of every run (its longest training) as a Markdown table:
// run, steps, training minutes, linear and kNN-20 top-1, notes. Baselines (one point at
// step 0) show "–" for steps and time.
func Table(pts []Point) string {
	names, byRun := Runs(pts)
	var b strings.Builder
	b.WriteString("| run | steps | training | linear top-1 | kNN-20 top-1 | notes |\n|---|---:|---:|---:|---:|---|\n")
	pct := func(v float64) string {
		if math.IsNaN(v) {
			return "–"
		}
		return fmt.Sprintf("%.2f %%", 100*v)
	}
	for _, name := range names {
		ps := byRun[name]
		q := ps[len(ps)-1]
		steps, mins := fmt.Sprint(q.Step), fmt.Sprintf("%.1f min", q.Seconds/60)
		if isBaseline(ps) {
			steps, mins = "–", "–"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", name, steps, mins, pct(q.Linear), pct(q.KNN20), q.Notes)
	}
	return b.String()
}
