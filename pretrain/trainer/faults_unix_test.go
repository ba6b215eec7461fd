//go:build unix

package trainer

import (
	"path/filepath"
	"syscall"
	"testing"
)

// specialFileCases are the TestBadOutputsFailBeforeTraining cases of special files,
// made inside the test's own directory (never a system path such as /dev/null, which a
// regression would replace by renaming a file over it).
func specialFileCases() []struct {
	name  string
	setup func(t *testing.T, dir string, o *Options) []string
} {
	return []struct {
		name  string
		setup func(t *testing.T, dir string, o *Options) []string
	}{
		{"checkpoint is a FIFO", func(t *testing.T, dir string, o *Options) []string {
			o.Checkpoint = filepath.Join(dir, "fifo.swav")
			if err := syscall.Mkfifo(o.Checkpoint, 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{o.Checkpoint, "not a regular file", "named pipe"}
		}},
		{"metrics path is a FIFO", func(t *testing.T, dir string, o *Options) []string {
			o.MetricsPath = filepath.Join(dir, "fifo.jsonl")
			if err := syscall.Mkfifo(o.MetricsPath, 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{o.MetricsPath, "not a regular file"}
		}},
	}
}
