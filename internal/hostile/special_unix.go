//go:build unix

package hostile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// SpecialFiles makes, in dir, a FIFO, a symbolic link to /dev/zero and a directory,
// named by the given base names (e.g. "m.swav", "zero.swav", "dir.swav"), and returns
// them with the reason a refusal should name.
func SpecialFiles(t testing.TB, dir, fifoName, zeroName, dirName string) []Special {
	t.Helper()
	fifo := filepath.Join(dir, fifoName)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, zeroName)
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, dirName)
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	return []Special{{fifo, "named pipe"}, {zero, "character device"}, {sub, "directory"}}
}
