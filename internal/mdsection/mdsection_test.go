package mdsection

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	if err := os.WriteFile(path, []byte("# Title\nintro\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Replace(path, "t", "v1"); err != nil {
		t.Fatal(err)
	}
	if err := Replace(path, "t", "v2\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "# Title\nintro\n\n<!-- t -->\nv2\n<!-- /t -->\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
