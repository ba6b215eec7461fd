//go:build unix

package linearprobe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swav-go/swav/embedio"
	"github.com/swav-go/swav/internal/userfile"
)

// TestReadEmbeddingsSpecialFiles checks that a FIFO, /dev/zero or a directory in place of the
// .npy file or of its sidecar is refused at once, by path and reason.
func TestReadEmbeddingsSpecialFiles(t *testing.T) {
	good := npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", le32(1, 2, 3, 4, 5, 6))
	special := map[string]func(p string) error{
		"named pipe":       func(p string) error { return syscall.Mkfifo(p, 0o644) },
		"character device": func(p string) error { return os.Symlink("/dev/zero", p) },
		"directory":        func(p string) error { return os.Mkdir(p, 0o755) },
	}
	for reason, mk := range special {
		for _, which := range []string{"npy", "sidecar"} {
			dir := t.TempDir()
			npy := filepath.Join(dir, "emb.npy")
			bad := npy
			if which == "sidecar" {
				bad = embedio.SidecarPath(npy)
				if err := os.WriteFile(npy, good, 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(embedio.SidecarPath(npy), []byte(threePaths), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := mk(bad); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := ReadEmbeddings(npy); done <- err }()
			select {
			case err := <-done:
				if !errors.Is(err, userfile.ErrNotRegular) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), reason) {
					t.Errorf("%s as the %s: %v, want ErrNotRegular naming %s and %q", reason, which, err, bad, reason)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s as the %s: ReadEmbeddings blocked", reason, which)
			}
		}
	}
}
