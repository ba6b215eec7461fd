package swav

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestCollapseGuardWarns(t *testing.T) {
	var log strings.Builder
	logf := func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }
	g := newCollapseGuard(200)
	for step := range 19 {
		g.observe(step, math.Log(200), 50, logf)
	}
	if log.Len() != 0 {
		t.Fatalf("warned after 19 steps: %s", log.String())
	}
	g.observe(19, math.Log(200)+0.001, 50, logf)
	if !strings.Contains(log.String(), "collapsed") || !strings.Contains(log.String(), "epsilon") {
		t.Errorf("no collapse warning with advice after 20 steps at ln K: %q", log.String())
	}
	log.Reset()
	g2 := newCollapseGuard(200)
	for step := range 40 {
		g2.observe(step, 4.0, 1+step%2*30, logf) // healthy loss, but one prototype half the time
	}
	if log.Len() != 0 {
		t.Errorf("warned on a healthy run: %s", log.String())
	}
}
