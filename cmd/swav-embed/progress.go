package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Progress reporting: a bar when standard error is a terminal, otherwise a plain line
// every lineEvery or every tenth of the total, whichever comes first; nothing under
// --quiet.
const (
	lineEvery = 10 * time.Second
	// rateWindow is how long after the first completed item a rate is first shown: items
	// finish a batch at a time, so a rate over the first instants would be absurd.
	rateWindow = time.Second
	// describeEvery throttles the rate shown in a terminal bar's description.
	describeEvery = 500 * time.Millisecond
)

// progress reports how many of total items are done. Its rate counts from the first
// completed item (not from the start, which includes compiling the model), so the first
// figures are sane. Its methods may be called from several goroutines.
type progress struct {
	mu           sync.Mutex
	w            io.Writer
	desc, unit   string
	total        int
	quiet        bool
	bar          *progressbar.ProgressBar // nil: plain lines
	now          func() time.Time
	done         int
	first        time.Time // when the first item completed; zero before
	firstDone    int       // items done at that moment
	lastLine     time.Time
	lastTenth    int
	lastDescribe time.Time
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgress reports on cmd's standard error the progress of total items (unit names
// one, as in "img/s").
func newProgress(cmd *cobra.Command, total int, desc, unit string) *progress {
	w := cmd.ErrOrStderr()
	return newProgressTo(w, isTerminal(w), quiet(cmd), total, desc, unit, time.Now)
}

// newProgressTo is newProgress on w, a terminal or not, with a clock.
func newProgressTo(w io.Writer, terminal, quiet bool, total int, desc, unit string, now func() time.Time) *progress {
	p := &progress{w: w, desc: desc, unit: unit, total: total, quiet: quiet, now: now, lastLine: now()}
	if terminal && !quiet {
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetPredictTime(false), progressbar.OptionClearOnFinish())
	}
	return p
}

// Add marks n more items done.
func (p *progress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set(p.done + n)
}

// Set marks done items done in all.
func (p *progress) Set(done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set(done)
}

func (p *progress) set(done int) {
	now := p.now()
	if p.first.IsZero() && done > 0 {
		p.first, p.firstDone = now, done
	}
	p.done = done
	if p.quiet {
		return
	}
	if p.bar != nil {
		if now.Sub(p.lastDescribe) >= describeEvery {
			p.lastDescribe = now
			if r, ok := p.rate(now); ok {
				p.bar.Describe(p.desc + " " + p.rateText(r))
			}
		}
		_ = p.bar.Set(done)
		return
	}
	tenth := 0
	if p.total > 0 {
		tenth = min(done, p.total) * 10 / p.total
	}
	if (tenth > p.lastTenth && done < p.total) || now.Sub(p.lastLine) >= lineEvery {
		p.lastLine, p.lastTenth = now, tenth
		fmt.Fprintln(p.w, p.line(now))
	}
}

// ChangeMax sets the total.
func (p *progress) ChangeMax(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = total
	if p.bar != nil {
		p.bar.ChangeMax(total)
	}
}

// Describe names a new stage: the count and the rate start again.
func (p *progress) Describe(desc string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if desc == p.desc {
		return
	}
	p.desc, p.done, p.first, p.firstDone, p.lastTenth = desc, 0, time.Time{}, 0, 0
	if p.bar != nil {
		p.bar.Describe(desc)
	}
}

// Finish ends the report (the bar is cleared; the command prints its summary).
func (p *progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// rate is items per second since the first completed item, once rateWindow has passed
// and more items completed.
func (p *progress) rate(now time.Time) (float64, bool) {
	el := now.Sub(p.first)
	if p.first.IsZero() || el < rateWindow || p.done <= p.firstDone {
		return 0, false
	}
	return float64(p.done-p.firstDone) / el.Seconds(), true
}

// rateText formats a rate with the time left at that rate.
func (p *progress) rateText(r float64) string {
	s := fmt.Sprintf("%.3g %s/s", r, p.unit)
	if left := p.total - p.done; p.total > 0 && left > 0 {
		s += ", " + (time.Duration(float64(left) / r * float64(time.Second))).Round(time.Second).String() + " left"
	}
	return s
}

// line is the plain progress line: "embed: 640/10000 (6%), 41.3 img/s, 3m47s left".
func (p *progress) line(now time.Time) string {
	s := fmt.Sprintf("%s: %d", p.desc, p.done)
	if p.total > 0 {
		s += fmt.Sprintf("/%d (%d%%)", p.total, p.done*100/p.total)
	}
	if r, ok := p.rate(now); ok {
		s += ", " + p.rateText(r)
	}
	return s
}
