//go:build unix

package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swav-go/swav/internal/hostile"
)

// pathReaders returns the three functions that take a path.
func pathReaders() map[string]func(string) error {
	return map[string]func(string) error{
		"Load":     func(p string) error { _, err := Load(p); return err },
		"LoadWith": func(p string) error { _, err := LoadWith(p, ReadOptions{MaxTensorBytes: 1 << 20}); return err },
		"ReadInfo": func(p string) error { _, err := ReadInfo(p, ReadOptions{}); return err },
	}
}

// TestSpecialFilesRefused: a FIFO named like a checkpoint, a symbolic link
// to /dev/zero and a directory are refused by their mode within a second,
// with ErrNotRegular and a message naming the path and what it is. Before,
// the FIFO blocked forever and /dev/zero ended in a fatal out-of-memory.
func TestSpecialFilesRefused(t *testing.T) {
	for _, c := range hostile.SpecialFiles(t, t.TempDir(), "m.swav", "zero.swav", "dir.swav") {
		for name, read := range pathReaders() {
			err := hostile.Within(t, time.Second, name+" "+c.Path, func() error { return read(c.Path) })
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("%s(%s): %v, want ErrNotRegular", name, c.Path, err)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, c.Path) || !strings.Contains(msg, c.Reason) || !strings.HasPrefix(msg, "checkpoint: ") {
				t.Errorf("%s(%s): message %q should start with checkpoint: and name the path and %q", name, c.Path, msg, c.Reason)
			}
		}
	}
}

// TestHugeSparseFiles: sparse files of 4 GiB and 16 GiB (no disk used) are
// refused without being read: above the default or a lowered MaxFileBytes
// with ErrTooLarge by their size, and within the cap by their first bytes
// (the 4 GiB one holds zeros, so ErrBadMagic). Before, Load read all 4 GiB
// before checking the magic. Each read returns quickly and allocates little.
func TestHugeSparseFiles(t *testing.T) {
	dir := t.TempDir()
	sparse := func(name string, size int64, head []byte) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(head); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		return path
	}
	g := readTestdata(t, "small.swav")
	zeros4 := sparse("zeros4.swav", gib4, nil)
	// A real prefix (so the magic passes) declaring sizes the file does not
	// have: the size check fails before any section is read.
	prefixed4 := sparse("prefixed4.swav", gib4, g[:40])
	zeros16 := sparse("zeros16.swav", gib16, nil)
	for _, tc := range []struct {
		name string
		path string
		opts ReadOptions
		want error
		msg  string
	}{
		{"4 GiB of zeros, defaults", zeros4, ReadOptions{}, ErrBadMagic, "bad magic"},
		{"4 GiB with a real prefix, defaults", prefixed4, ReadOptions{}, ErrCorrupt, "unexpected bytes after the checksum"},
		{"4 GiB, 1 GiB file cap", zeros4, ReadOptions{MaxFileBytes: 1 << 30}, ErrTooLarge, "MaxFileBytes"},
		{"4 GiB, 256 MiB tensor cap", zeros4, ReadOptions{MaxTensorBytes: 256 << 20}, ErrTooLarge, "MaxFileBytes"},
		{"16 GiB, defaults", zeros16, ReadOptions{}, ErrTooLarge, "file too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, read := range map[string]func() error{
				"LoadWith": func() error { _, err := LoadWith(tc.path, tc.opts); return err },
				"ReadInfo": func() error { _, err := ReadInfo(tc.path, tc.opts); return err },
			} {
				var err error
				alloc, elapsed := allocated(func() { err = hostile.Within(t, 5*time.Second, name, read) })
				errorIs(t, err, tc.want)
				if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("%s: error %q should name the path and say %q", name, err, tc.msg)
				}
				if alloc > 1<<20 || elapsed > time.Second {
					t.Errorf("%s: %d KiB allocated in %v, want < 1 MiB and < 1 s", name, alloc>>10, elapsed)
				}
			}
		})
	}
}
