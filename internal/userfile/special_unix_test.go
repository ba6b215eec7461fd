//go:build unix

package userfile

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/swav-go/swav/internal/hostile"
)

func TestRefusesSpecialFiles(t *testing.T) {
	for _, c := range hostile.SpecialFiles(t, t.TempDir(), "x.png", "zero.png", "dir.png") {
		err := hostile.Within(t, 5*time.Second, "ReadFile "+c.Path, func() error { _, err := ReadFile(c.Path, 1<<20); return err })
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("%s: got %v, want ErrNotRegular", c.Path, err)
		} else if msg := err.Error(); !strings.Contains(msg, c.Path) || !strings.Contains(msg, c.Reason) {
			t.Errorf("%s: message %q should name the path and %q", c.Path, msg, c.Reason)
		}
	}
}
