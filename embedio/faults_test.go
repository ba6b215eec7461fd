package embedio_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFailedCommitLeavesNothing: when the final rename fails (here: a directory
// appeared at the output path while writing), Close reports the path and removes every
// temporary file, and for .npy also the sidecar it had already committed, so nothing
// partial is left under a final name.
func TestFailedCommitLeavesNothing(t *testing.T) {
	for _, ft := range formats {
		t.Run(string(ft.format), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, ft.name)
			w := writeRows(t, path, ft.format, 3, knownRows())
			blocker := filepath.Join(path, "keep")
			if err := os.MkdirAll(blocker, 0o755); err != nil {
				t.Fatal(err)
			}
			err := w.Close()
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("Close with a directory at %s: %v, want an error naming it", path, err)
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{ft.name}) {
				t.Errorf("after the failed Close the directory holds %q, want only the blocking directory %q", got, ft.name)
			}
			if fi, err := os.Stat(blocker); err != nil || !fi.IsDir() {
				t.Errorf("the directory in the way was touched: %v", err)
			}
			if err := w.Abort(); err != nil {
				t.Errorf("Abort after a failed Close: %v", err)
			}
		})
	}
}

// TestAbortWithoutRowsLeavesNothing: a writer that got no row and is aborted (what
// embed does when no image could be embedded) leaves no file, not even an empty one.
func TestAbortWithoutRowsLeavesNothing(t *testing.T) {
	for _, ft := range formats {
		t.Run(string(ft.format), func(t *testing.T) {
			dir := t.TempDir()
			w := writeRows(t, filepath.Join(dir, ft.name), ft.format, 3, nil)
			if got := dirNames(t, dir); len(got) != len(finalNames(ft.format, ft.name)) {
				t.Fatalf("while open the directory holds %q, want one temporary file per output", got)
			}
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			if got := dirNames(t, dir); len(got) != 0 {
				t.Errorf("after Abort the directory holds %q", got)
			}
		})
	}
}
