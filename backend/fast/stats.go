package fast

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// opStats accumulates wall time per step kind when the "stats" option is set.
type opStats struct {
	mu    sync.Mutex
	time  map[string]time.Duration
	count map[string]int
}

func (s *opStats) add(kind string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.time == nil {
		s.time, s.count = make(map[string]time.Duration), make(map[string]int)
	}
	s.time[kind] += d
	s.count[kind]++
}

// Stats returns, when the backend was created with the "stats" option, the
// wall time spent per step kind ("stage" for delegate stages, else the op
// type of the hot node) since the last call, as a table sorted by time; it
// resets the counters. Without the option it returns "".
func (b *Backend) Stats() string {
	if b.stats == nil {
		return ""
	}
	s := b.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	kinds := make([]string, 0, len(s.time))
	var total time.Duration
	for k, d := range s.time {
		kinds = append(kinds, k)
		total += d
	}
	slices.SortFunc(kinds, func(a, c string) int { return int(s.time[c] - s.time[a]) })
	var sb strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&sb, "%-20s %6d calls %10v %5.1f%%\n", k, s.count[k], s.time[k].Round(time.Microsecond),
			100*s.time[k].Seconds()/total.Seconds())
	}
	s.time, s.count = nil, nil
	return sb.String()
}
