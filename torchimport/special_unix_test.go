//go:build unix

package torchimport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swav-go/swav/internal/hostile"
	"github.com/swav-go/swav/internal/userfile"
)

// TestReadSpecialFiles checks that a FIFO, /dev/zero and a directory named like a
// checkpoint are refused at once, by path and reason, by ReadStateDict and ConvertFile.
func TestReadSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	for _, c := range hostile.SpecialFiles(t, dir, "fifo.pth.tar", "zero.pth.tar", "folder.pt") {
		for _, what := range []string{"ReadStateDict", "ConvertFile"} {
			err := hostile.Within(t, 5*time.Second, what+" "+c.Path, func() error {
				if what == "ReadStateDict" {
					_, err := ReadStateDict(c.Path)
					return err
				}
				return ConvertFile(c.Path, filepath.Join(dir, "out.swav"), ConvertOptions{})
			})
			if !errors.Is(err, userfile.ErrNotRegular) || !errors.Is(err, ErrNotCheckpoint) {
				t.Errorf("%s(%s): %v, want ErrNotRegular and ErrNotCheckpoint", what, c.Path, err)
			} else if msg := err.Error(); !strings.Contains(msg, c.Path) || !strings.Contains(msg, c.Reason) {
				t.Errorf("%s(%s): message %q should name the path and %q", what, c.Path, msg, c.Reason)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.swav")); !os.IsNotExist(err) {
		t.Errorf("ConvertFile wrote an output for a special file: %v", err)
	}
}
