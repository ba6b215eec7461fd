package trainer

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"image/color"

	"github.com/schollz/progressbar/v3"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/swav-go/swav/internal/userfile"
)

// Row is one line of the metrics file (JSON Lines): the trainer's columns, then the
// method's metrics by name (method.Method.Metrics), e.g. for SwAV
//
//	{"step":1,"epoch":0.25,"loss":5.13,"lr":0.0375,"code_entropy":1.43,"prototypes_in_use":14,"queue_used":false,"images_per_sec":41.2}
type Row struct {
	Step         int     `json:"step"`
	Epoch        float64 `json:"epoch"`
	Loss         float64 `json:"loss"`
	LR           float64 `json:"lr"`
	ImagesPerSec float64 `json:"images_per_sec"`
	// Metrics are the method's values (booleans as 0 or 1), by name.
	Metrics map[string]float64 `json:"-"`
}

// UnmarshalJSON reads a row: the trainer's columns into the fields, every other
// number or boolean into Metrics.
func (r *Row) UnmarshalJSON(b []byte) error {
	type plain Row
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var all map[string]any
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for k, v := range all {
		switch k {
		case "step", "epoch", "loss", "lr", "images_per_sec":
			continue
		}
		if p.Metrics == nil {
			p.Metrics = map[string]float64{}
		}
		switch x := v.(type) {
		case float64:
			p.Metrics[k] = x
		case bool:
			p.Metrics[k] = 0
			if x {
				p.Metrics[k] = 1
			}
		default:
			return fmt.Errorf("metric %q is %v, not a number", k, v)
		}
	}
	*r = Row(p)
	return nil
}

// marshalRow writes r with the method's metrics in the method's order, each as its kind.
func marshalRow(r Row, names []string, values []float64, kinds []int) []byte {
	b := fmt.Appendf(nil, `{"step":%d,"epoch":%s,"loss":%s,"lr":%s`, r.Step, jsonFloat(r.Epoch), jsonFloat(r.Loss), jsonFloat(r.LR))
	for i, n := range names {
		name, _ := json.Marshal(n)
		b = append(b, ',')
		b = append(b, name...)
		b = append(b, ':')
		switch kinds[i] {
		case kindBool:
			b = strconv.AppendBool(b, values[i] != 0)
		case kindInt:
			b = strconv.AppendInt(b, int64(values[i]), 10)
		default:
			b = append(b, jsonFloat(values[i])...)
		}
	}
	return fmt.Appendf(b, `,"images_per_sec":%s}`, jsonFloat(r.ImagesPerSec))
}

// jsonFloat formats x as encoding/json does (shortest representation); NaN and ±Inf,
// which JSON cannot hold, as null.
func jsonFloat(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "null"
	}
	b, _ := json.Marshal(x)
	return string(b)
}

// metricsFile appends rows to a JSONL file; a nil receiver discards them.
type metricsFile struct {
	f *os.File
	w *bufio.Writer
}

// openMetrics opens path for a run that starts at step start; "" or "-" disables
// metrics. A new run (start 0) truncates the file. A resumed run first drops, by
// rewriting the file atomically (see trimMetrics), the rows a killed run wrote after
// its last checkpoint, so that the steps stay strictly increasing; then it appends.
// dropped is the number of rows (or torn lines) removed.
func openMetrics(path string, start int) (m *metricsFile, dropped int, err error) {
	if path == "" || path == "-" {
		return nil, 0, nil
	}
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if start > 0 {
		if dropped, err = trimMetrics(path, start); err != nil {
			return nil, 0, err
		}
		flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("metrics %s: %w", path, err)
	}
	return &metricsFile{f: f, w: bufio.NewWriter(f)}, dropped, nil
}

// maxMetricsLine bounds one line of a metrics file (a row is about 200 bytes).
const maxMetricsLine = 64 << 10

// scanMetrics calls fn with every line of the metrics file r (named name) and its row,
// in order. A last line without its newline that is not a whole row (a write cut by a
// kill) is not passed to fn: scanMetrics returns torn = true instead. Any other line
// that is not a row is an error naming the file and the line.
func scanMetrics(r io.Reader, name string, fn func(line []byte, row Row) error) (torn bool, err error) {
	br := bufio.NewReaderSize(r, maxMetricsLine)
	for n := 1; ; n++ {
		line, rerr := br.ReadSlice('\n')
		switch {
		case errors.Is(rerr, bufio.ErrBufferFull):
			return false, fmt.Errorf("metrics %s line %d: longer than %d bytes: not a metrics file written by pretrain", name, n, maxMetricsLine)
		case rerr != nil && rerr != io.EOF:
			return false, fmt.Errorf("metrics %s: %w", name, rerr)
		case rerr == io.EOF && len(line) == 0:
			return false, nil
		}
		var row Row
		if jerr := json.Unmarshal(line, &row); jerr != nil {
			if rerr == io.EOF { // the last line, without its newline: cut mid-write
				return true, nil
			}
			return false, fmt.Errorf("metrics %s line %d: not a metrics row (%v): move the file away or choose another metrics path", name, n, jerr)
		}
		if err := fn(line, row); err != nil {
			return false, err
		}
		if rerr == io.EOF {
			return false, nil
		}
	}
}

// trimMetrics rewrites the metrics file at path keeping only the rows of steps 1..last
// in strictly increasing order (the first of any repeated step, which a resume
// recomputes bit for bit, is kept), and drops a torn last line. The new file is
// written to a temporary file beside path, synced and renamed over it, so a crash
// leaves either the old or the new file. A missing file is not an error. It returns
// the number of rows and torn lines dropped.
func trimMetrics(path string, last int) (dropped int, err error) {
	in, err := userfile.Open(path, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	defer in.Close()
	perm := fs.FileMode(0o644)
	if fi, err := in.OS().Stat(); err == nil {
		perm = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), tempPattern(path))
	if err != nil {
		return 0, fmt.Errorf("metrics %s: %w", path, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriter(tmp)
	prev := 0
	torn, err := scanMetrics(in, path, func(line []byte, row Row) error {
		if row.Step > last || row.Step <= prev {
			dropped++
			return nil
		}
		prev = row.Step
		if _, err := w.Write(line); err != nil {
			return err
		}
		if line[len(line)-1] != '\n' {
			return w.WriteByte('\n')
		}
		return nil
	})
	in.Close() // before the rename, which some systems refuse over an open file
	if err != nil {
		return 0, err
	}
	if torn {
		dropped++
	}
	if dropped == 0 {
		return 0, nil // nothing to change: leave the file as it is
	}
	err = w.Flush()
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, fmt.Errorf("metrics %s: rewriting it without the rows after step %d: %w", path, last, err)
	}
	renamed = true
	return dropped, nil
}

func (m *metricsFile) write(r Row, names []string, values []float64, kinds []int) error {
	if m == nil || m.f == nil {
		return nil
	}
	b := append(marshalRow(r, names, values, kinds), '\n')
	if _, err := m.w.Write(b); err != nil {
		return fmt.Errorf("metrics %s: %w", m.f.Name(), err)
	}
	return m.w.Flush()
}

// Close flushes and closes the file; closing it again does nothing.
func (m *metricsFile) Close() error {
	if m == nil || m.f == nil {
		return nil
	}
	err := errors.Join(m.w.Flush(), m.f.Close())
	m.f = nil
	return err
}

// ReadMetrics reads a metrics file written by Run. A torn last line (a write cut by a
// kill) is ignored; any other line that is not a row is an error naming the file and
// the line.
func ReadMetrics(path string) ([]Row, error) {
	f, err := userfile.Open(path, 0)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer f.Close()
	var rows []Row
	_, err = scanMetrics(f, path, func(_ []byte, r Row) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// PlotLoss draws the loss curve of a metrics file as a PNG: the raw loss per step and,
// beside it, its exponential moving average over about 2 % of the run (at least 10
// steps), which shows the trend under the per-batch noise. The y axis is labelled with
// as many decimals as its range needs, so close values (5.65, 5.60, 5.55) stay
// distinct. title names the method ("swav").
func PlotLoss(metricsPath, pngPath, title string) error {
	rows, err := ReadMetrics(metricsPath)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("metrics %s: no rows to plot", metricsPath)
	}
	p := plot.New()
	p.Title.Text = title + " pretraining loss"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "loss"
	raw := make(plotter.XYs, 0, len(rows))
	for _, r := range rows {
		if !math.IsNaN(r.Loss) && !math.IsInf(r.Loss, 0) {
			raw = append(raw, plotter.XY{X: r.Epoch, Y: r.Loss})
		}
	}
	if len(raw) == 0 {
		return fmt.Errorf("metrics %s: no finite loss to plot", metricsPath)
	}
	smooth := Smooth(raw, max(10, len(raw)/50))
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, q := range raw {
		lo, hi = math.Min(lo, q.Y), math.Max(hi, q.Y)
	}
	p.Y.Tick.Marker = decimalTicks{}
	rawLine, err := plotter.NewLine(raw)
	if err != nil {
		return fmt.Errorf("plot %s: %w", pngPath, err)
	}
	rawLine.Color = color.RGBA{R: 160, G: 190, B: 230, A: 255}
	smoothLine, err := plotter.NewLine(smooth)
	if err != nil {
		return fmt.Errorf("plot %s: %w", pngPath, err)
	}
	smoothLine.Color = color.RGBA{R: 20, G: 60, B: 160, A: 255}
	smoothLine.Width = vg.Points(2)
	p.Add(plotter.NewGrid(), rawLine, smoothLine)
	p.Legend.Add("loss per step", rawLine)
	p.Legend.Add("moving average", smoothLine)
	p.Legend.Top = true
	if hi-lo < 1e-9 { // a flat curve: give the axis a range to label
		p.Y.Min, p.Y.Max = lo-0.5, hi+0.5
	}
	if err := p.Save(8*vg.Inch, 4.5*vg.Inch, pngPath); err != nil {
		return fmt.Errorf("plot %s: %w", pngPath, err)
	}
	return nil
}

// Smooth is the exponential moving average of the points' Y with a span of n points
// (weight 2/(n+1)), bias-corrected at the start so the first points are not pulled
// towards zero.
func Smooth(pts plotter.XYs, n int) plotter.XYs {
	alpha := 2 / (float64(max(n, 1)) + 1)
	out := make(plotter.XYs, len(pts))
	avg, weight := 0.0, 0.0
	for i, q := range pts {
		avg = (1-alpha)*avg + alpha*q.Y
		weight = (1-alpha)*weight + alpha
		out[i] = plotter.XY{X: q.X, Y: avg / weight}
	}
	return out
}

// decimalTicks are gonum's default ticks labelled with the fewest decimals that make
// every label distinct (gonum's own labels keep a fixed number of significant digits,
// which repeats "5.6" at small ranges).
type decimalTicks struct{}

// Ticks returns the ticks of [lo, hi].
func (decimalTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	return relabel(ticks)
}

// relabel labels the major ticks with the fewest decimals (0 to 10) that write every
// value exactly (gonum's tick values are round numbers) and keep the labels distinct.
func relabel(ticks []plot.Tick) []plot.Tick {
	for decimals := 0; decimals <= 10; decimals++ {
		seen := map[string]bool{}
		distinct := true
		for _, t := range ticks {
			if t.Label == "" {
				continue
			}
			l := strconv.FormatFloat(t.Value, 'f', decimals, 64)
			back, _ := strconv.ParseFloat(l, 64)
			if seen[l] || math.Abs(back-t.Value) > 1e-9*math.Max(1, math.Abs(t.Value)) {
				distinct = false
				break
			}
			seen[l] = true
		}
		if distinct {
			for i := range ticks {
				if ticks[i].Label != "" {
					ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', decimals, 64)
				}
			}
			return ticks
		}
	}
	return ticks
}

// logger writes progress: a progress bar on a terminal, plain lines otherwise.
type logger struct {
	w        io.Writer
	terminal bool
	mu       sync.Mutex
}

func newLogger(w io.Writer) *logger {
	l := &logger{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			l.terminal = true
		}
	}
	return l
}

func (l *logger) printf(format string, args ...any) {
	if l == nil || l.w == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

// progress reports steps: a bar with images/s and ETA on a terminal, a log line every
// few percent otherwise.
type progress struct {
	l         *logger
	bar       *progressbar.ProgressBar
	total     int
	lastPrint int
}

func (l *logger) progress(total, start int) *progress {
	p := &progress{l: l, total: total, lastPrint: start}
	if l.w != nil && l.terminal {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(l.w),
			progressbar.OptionSetDescription("pretrain"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200_000_000),
			progressbar.OptionClearOnFinish(),
		)
		_ = p.bar.Set(start)
	}
	return p
}

func (p *progress) update(step int, loss, imagesPerSec float64, numViews int) {
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("loss %.4f  %.1f img/s  %.0f views/s", loss, imagesPerSec, imagesPerSec*float64(numViews)))
		_ = p.bar.Set(step)
		return
	}
	every := max(1, p.total/50)
	if step-p.lastPrint >= every || step == p.total {
		p.lastPrint = step
		p.l.printf("step %d/%d  loss %.4f  %.1f images/s  %.0f views/s", step, p.total, loss, imagesPerSec, imagesPerSec*float64(numViews))
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
