package userfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestReadFileRegular(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.bin")
	want := []byte("hello, bounded world")
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(p, int64(len(want)))
	if err != nil {
		t.Fatalf("ReadFile at exactly the cap: %v", err)
	}
	if string(got) != string(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := ReadFile(p, int64(len(want))-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte over the cap: got %v, want ErrTooLarge", err)
	}
	if got, err := ReadFile(p, 0); err != nil || len(got) != len(want) {
		t.Fatalf("no cap: %q, %v", got, err)
	}
}

func TestMissingFileNamesPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing.swav")
	_, err := ReadFile(p, 10)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != p || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want a PathError for %s", err, p)
	}
}

func TestReadStopsWhenFileGrows(t *testing.T) {
	p := filepath.Join(t.TempDir(), "grow.bin")
	if err := os.WriteFile(p, make([]byte, 10), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.WriteFile(p, make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 200)
	total := 0
	for {
		n, err := f.Read(buf[total:])
		total += n
		if err != nil {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("got %v after %d bytes, want ErrTooLarge", err, total)
			}
			break
		}
	}
	if total > 17 {
		t.Fatalf("read %d bytes past a cap of 16", total)
	}
}
