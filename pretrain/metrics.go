package pretrain

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
	"sync"

	"github.com/schollz/progressbar/v3"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/swav-go/swav/internal/userfile"
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
func scanMetrics(r io.Reader, name string, fn func(line []byte, row metricRow) error) (torn bool, err error) {
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
		var row metricRow
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
	torn, err := scanMetrics(in, path, func(line []byte, row metricRow) error {
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

// ReadMetrics reads a metrics file written by Run. A torn last line (a write cut by a
// kill) is ignored; any other line that is not a row is an error naming the file and
// the line.
func ReadMetrics(path string) ([]metricRow, error) {
	f, err := userfile.Open(path, 0)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer f.Close()
	var rows []metricRow
	_, err = scanMetrics(f, path, func(_ []byte, r metricRow) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
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
