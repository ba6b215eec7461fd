//go:build unix

package torchimport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swav-go/swav/internal/userfile"
)

// TestReadSpecialFiles checks that a FIFO, /dev/zero and a directory named like a
// checkpoint are refused at once, by path and reason, by ReadStateDict and ConvertFile.
func TestReadSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.pth.tar")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.pth.tar")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "folder.pt")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, reason string }{
		{fifo, "named pipe"}, {zero, "character device"}, {folder, "directory"},
	} {
		for _, what := range []string{"ReadStateDict", "ConvertFile"} {
			done := make(chan error, 1)
			go func() {
				if what == "ReadStateDict" {
					_, err := ReadStateDict(c.path)
					done <- err
				} else {
					done <- ConvertFile(c.path, filepath.Join(dir, "out.swav"), ConvertOptions{})
				}
			}()
			select {
			case err := <-done:
				if !errors.Is(err, userfile.ErrNotRegular) || !errors.Is(err, ErrNotCheckpoint) {
					t.Errorf("%s(%s): %v, want ErrNotRegular and ErrNotCheckpoint", what, c.path, err)
				} else if msg := err.Error(); !strings.Contains(msg, c.path) || !strings.Contains(msg, c.reason) {
					t.Errorf("%s(%s): message %q should name the path and %q", what, c.path, msg, c.reason)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s(%s) blocked", what, c.path)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.swav")); !os.IsNotExist(err) {
		t.Errorf("ConvertFile wrote an output for a special file: %v", err)
	}
}
