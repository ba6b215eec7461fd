package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// TestProgressLines: without a terminal, a line every tenth of the total or every 10 s,
// whichever comes first; the rate counts from the first completed item (a 5 s model
// compile before it does not lower it, a batch finishing at once does not make it
// absurd), and none is shown before a second of measurement.
func TestProgressLines(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{start}
	var buf bytes.Buffer
	p := newProgressTo(&buf, false, false, 640, "embed", "img", clock.now)
	step := func(after time.Duration, n int) string {
		clock.t = clock.t.Add(after)
		before := buf.Len()
		p.Add(n)
		return buf.String()[before:]
	}
	// The first batch of 64 after 5 s of compiling: one tenth, no rate yet.
	if got := step(5*time.Second, 64); got != "embed: 64/640 (10%)\n" {
		t.Errorf("first batch: %q", got)
	}
	// Items of the same batch, a microsecond apart: no line (same tenth), and no rate of
	// millions per second.
	for range 10 {
		if got := step(time.Microsecond, 1); got != "" {
			t.Errorf("within a tenth: %q", got)
		}
	}
	// One second after the first batch, 64+10+54 = 128 done: 64 items in 1 s since the
	// first completed ones (not 128 in 6 s), 512 left at 64/s = 8 s.
	if got := step(time.Second-10*time.Microsecond, 54); got != "embed: 128/640 (20%), 64 img/s, 8s left\n" {
		t.Errorf("second tenth: %q", got)
	}
	// 10 s without crossing a tenth: a line anyway.
	if got := step(10*time.Second, 1); !strings.HasPrefix(got, "embed: 129/640 (20%), 5.91 img/s") {
		t.Errorf("after 10 s: %q", got)
	}
	// The last item prints no line (the command prints its summary).
	if got := step(time.Second, 511); got != "" {
		t.Errorf("at the end: %q", got)
	}
	p.Finish()
	// A new stage starts the count and the rate again.
	p.ChangeMax(10)
	p.Describe("probe: train")
	if got := step(time.Second, 1); got != "probe: train: 1/10 (10%)\n" {
		t.Errorf("new stage: %q", got)
	}
	// Quiet: nothing at all; a terminal writer that is not a terminal: plain lines.
	buf.Reset()
	q := newProgressTo(&buf, false, true, 10, "embed", "img", clock.now)
	for range 10 {
		q.Add(1)
	}
	q.Finish()
	if buf.Len() != 0 {
		t.Errorf("quiet progress wrote %q", buf.String())
	}
	if isTerminal(&buf) {
		t.Error("a buffer is a terminal")
	}
}

// TestProgressConcurrent: Add from several goroutines (as an index build reports) counts
// every item; run under -race.
func TestProgressConcurrent(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressTo(&buf, false, false, 8000, "index", "vec", time.Now)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				p.Add(1)
			}
		}()
	}
	wg.Wait()
	p.Finish()
	if p.done != 8000 {
		t.Errorf("%d done, want 8000", p.done)
	}
	if n := strings.Count(buf.String(), "\n"); n != 9 {
		t.Errorf("%d lines for 8000 items, want 9 (each tenth but the last):\n%s", n, buf.String())
	}
}
