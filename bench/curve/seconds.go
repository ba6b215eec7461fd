package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"

	"github.com/swav-go/swav/internal/userfile"
	"github.com/swav-go/swav/pretrain/trainer"
)

// Session is one pretrain invocation as its log tells it: the step it started from (0
// for a new run, the checkpoint's step for a resumed one) and its batch size.
type Session struct {
	Start, BatchSize int
}

var (
	// "resuming out/x/model.swav at step 312 (epoch 0)"
	resumeLine = regexp.MustCompile(`^resuming .* at step (\d+) \(epoch \d+\)$`)
	// "swav: 60000 images, 937 steps/epoch of 64, 3 epochs, views ..." (one per session)
	configLine = regexp.MustCompile(`^\S+: \d+ images, \d+ steps/epoch of (\d+), \d+ epochs, `)
)

// maxLog bounds a pretrain log read by ParseLog (a log line per 2 % of a run and a few
// per session; 64 MiB is far beyond any real log).
const maxLog = 64 << 20

// ParseLog reads the sessions of a pretrain log (the standard error of `swav-embed
// pretrain`, appended to by every session of a run). Every session prints its
// configuration line ("swav: 60000 images, 937 steps/epoch of 64, ..."); a resumed one
// prints "resuming PATH at step N (epoch E)" before it. A session that started a new
// run (no resume line) truncated the metrics file, so the sessions before it are
// dropped: the result holds the sessions whose rows the metrics file has, in order.
func ParseLog(path string) ([]Session, error) {
	b, err := userfile.ReadFile(path, maxLog)
	if err != nil {
		return nil, fmt.Errorf("pretrain log: %w", err)
	}
	var sessions []Session
	resume := -1
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := resumeLine.FindStringSubmatch(line); m != nil {
			resume, err = strconv.Atoi(m[1])
			if err != nil {
				return nil, fmt.Errorf("pretrain log %s: %q: %w", path, line, err)
			}
			continue
		}
		m := configLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		batch, err := strconv.Atoi(m[1])
		if err != nil || batch <= 0 {
			return nil, fmt.Errorf("pretrain log %s: %q: batch size %q", path, line, m[1])
		}
		if resume < 0 {
			sessions = sessions[:0] // a new run: its metrics file starts again
			resume = 0
		}
		sessions = append(sessions, Session{Start: resume, BatchSize: batch})
		resume = -1
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("pretrain log %s: %w", path, err)
	}
	if len(sessions) == 0 {
		return nil, fmt.Errorf("pretrain log %s: no session (no line such as \"swav: 60000 images, 937 steps/epoch of 64, ...\"): not the standard error of swav-embed pretrain", path)
	}
	return sessions, nil
}

// TrainingSeconds returns, for every row of a metrics file, the training seconds of the
// run up to and including that step: the time of the earlier sessions up to the step
// this one resumed from, plus this session's time.
//
// A row's images_per_sec is the session's cumulative rate, images trained by this
// session over the seconds since it started (graph compilation included), so in a
// session that started at step s0 with batch B the row of step s was written
// (s−s0)·B / images_per_sec seconds after the session's start. A resumed session
// starts from the state of the earlier one at its checkpoint step s0, so the time of the
// state at step s is T(s0) + (s−s0)·B/images_per_sec(s), where T(s0) is the earlier
// session's time at its row s0 (the work a killed session did after its last checkpoint
// is redone, not counted twice). sessions must be those of the run in order (ParseLog);
// a run of one session is []Session{{0, B}}.
//
// It returns an error, naming the step, when a session's start has no row, when a rate
// is not positive, or when the times do not increase: the sign of a session missing
// from the list (a resumed run described as one session).
func TrainingSeconds(rows []trainer.Row, sessions []Session) ([]float64, error) {
	if len(sessions) == 0 {
		return nil, fmt.Errorf("training seconds: no session given")
	}
	secs := make([]float64, len(rows))
	byStep := map[int]float64{0: 0}
	k := 0
	prev := 0.0
	for i, r := range rows {
		for k+1 < len(sessions) && r.Step > sessions[k+1].Start {
			k++
		}
		s := sessions[k]
		if s.BatchSize <= 0 {
			return nil, fmt.Errorf("training seconds: session %d (from step %d): batch size %d", k+1, s.Start, s.BatchSize)
		}
		if i > 0 && r.Step <= rows[i-1].Step {
			return nil, fmt.Errorf("training seconds: step %d after step %d: the metrics rows are not in increasing order", r.Step, rows[i-1].Step)
		}
		if r.Step <= s.Start {
			return nil, fmt.Errorf("training seconds: step %d is not after the start (step %d) of the session it falls in", r.Step, s.Start)
		}
		base, ok := byStep[s.Start]
		if !ok {
			return nil, fmt.Errorf("training seconds: session %d resumed at step %d, which has no metrics row", k+1, s.Start)
		}
		if !(r.ImagesPerSec > 0) || math.IsInf(r.ImagesPerSec, 0) {
			return nil, fmt.Errorf("training seconds: step %d: images_per_sec %v is not a positive rate", r.Step, r.ImagesPerSec)
		}
		t := base + float64((r.Step-s.Start)*s.BatchSize)/r.ImagesPerSec
		if i > 0 && t < prev {
			return nil, fmt.Errorf("training seconds: time falls from %.1f s to %.1f s at step %d: a resumed session is missing (give the run's pretrain log)", prev, t, r.Step)
		}
		secs[i], byStep[r.Step], prev = t, t, t
	}
	return secs, nil
}

// SecondsAt returns the training seconds at each of steps, from a metrics file and the
// run's sessions (see TrainingSeconds).
func SecondsAt(metricsPath string, sessions []Session, steps []int) ([]float64, error) {
	rows, err := trainer.ReadMetrics(metricsPath)
	if err != nil {
		return nil, err
	}
	secs, err := TrainingSeconds(rows, sessions)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", metricsPath, err)
	}
	at := make(map[int]float64, len(rows))
	for i, r := range rows {
		at[r.Step] = secs[i]
	}
	out := make([]float64, len(steps))
	for i, s := range steps {
		t, ok := at[s]
		if !ok {
			last := 0
			if len(rows) > 0 {
				last = rows[len(rows)-1].Step
			}
			return nil, fmt.Errorf("metrics %s: no row for step %d (rows up to step %d)", metricsPath, s, last)
		}
		out[i] = t
	}
	return out, nil
}
