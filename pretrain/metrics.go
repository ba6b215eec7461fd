package pretrain

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// metricRow is one line of the metrics file (JSON Lines).
type metricRow struct {
	Step            int     `json:"step"`
	Epoch           float64 `json:"epoch"`
	Loss            float64 `json:"loss"`
	LR              float64 `json:"lr"`
	CodeEntropy     float64 `json:"code_entropy"`
	PrototypesInUse int     `json:"prototypes_in_use"`
	ImagesPerSec    float64 `json:"images_per_sec"`
	QueueUsed       bool    `json:"queue_used"`
}

// metricsFile appends rows to a JSONL file; a nil receiver discards them.
type metricsFile struct {
	f *os.File
	w *bufio.Writer
}

// openMetrics opens path for appending (resume) or truncates it (new run); "" or "-"
// disables metrics.
func openMetrics(path string, resume bool) (*metricsFile, error) {
	if path == "" || path == "-" {
		return nil, nil
	}
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if resume {
		flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", path, err)
	}
	return &metricsFile{f: f, w: bufio.NewWriter(f)}, nil
}

func (m *metricsFile) write(r metricRow) error {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := m.w.Write(b); err != nil {
		return fmt.Errorf("metrics %s: %w", m.f.Name(), err)
	}
	return m.w.Flush()
}

// Close flushes and closes the file.
func (m *metricsFile) Close() error {
	if m == nil {
		return nil
	}
	return errors.Join(m.w.Flush(), m.f.Close())
}

// ReadMetrics reads a metrics file written by Run.
func ReadMetrics(path string) ([]metricRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", path, err)
	}
	defer f.Close()
	var rows []metricRow
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var r metricRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("metrics %s line %d: %w", path, line, err)
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}

// PlotLoss draws the loss curve of a metrics file as a PNG.
func PlotLoss(metricsPath, pngPath string) error {
	rows, err := ReadMetrics(metricsPath)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("metrics %s: no rows to plot", metricsPath)
	}
	p := plot.New()
	p.Title.Text = "SwAV pretraining loss"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "swapped-prediction loss"
	pts := make(plotter.XYs, len(rows))
	for i, r := range rows {
		pts[i].X, pts[i].Y = r.Epoch, r.Loss
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("plot %s: %w", pngPath, err)
	}
	p.Add(line, plotter.NewGrid())
	if err := p.Save(8*vg.Inch, 4.5*vg.Inch, pngPath); err != nil {
		return fmt.Errorf("plot %s: %w", pngPath, err)
	}
	return nil
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

func (p *progress) update(step int, loss, imagesPerSec float64, numCrops int) {
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("loss %.4f  %.1f img/s  %.0f crops/s", loss, imagesPerSec, imagesPerSec*float64(numCrops)))
		_ = p.bar.Set(step)
		return
	}
	every := max(1, p.total/50)
	if step-p.lastPrint >= every || step == p.total {
		p.lastPrint = step
		p.l.printf("step %d/%d  loss %.4f  %.1f images/s  %.0f crops/s", step, p.total, loss, imagesPerSec, imagesPerSec*float64(numCrops))
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// collapseGuard warns when training looks collapsed: the loss sits at ln K (uniform
// predictions) or every sample's code picks the same prototype.
type collapseGuard struct {
	lnK    float64
	l      *logger
	streak int
	warned bool
}

func newCollapseGuard(k int, l *logger) *collapseGuard {
	return &collapseGuard{lnK: math.Log(float64(k)), l: l}
}

func (c *collapseGuard) observe(step int, loss float64, inUse int) {
	if math.Abs(loss-c.lnK) < 0.01*c.lnK || inUse <= 1 {
		c.streak++
	} else {
		c.streak = 0
	}
	if c.streak >= 20 && !c.warned {
		c.warned = true
		c.l.printf("warning: step %d: training looks collapsed (loss %.4f vs ln K = %.4f, %d prototype(s) in use): "+
			"try a smaller epsilon (e.g. 0.03), enable the queue (--queue-length) for small batches, or lower the learning rate",
			step, loss, c.lnK, inUse)
	}
}
