package checkpoint

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.swav")
	want := goldenFile()
	if err := Save(path, want, EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	assertTensorsEqual(t, got.Tensors, want.Tensors)
	// Save writes exactly what Encode writes.
	disk, _ := os.ReadFile(path)
	if !bytes.Equal(disk, encodeBytes(t, want, EncodeOptions{})) {
		t.Error("saved bytes differ from Encode")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("new file mode %v, want 0644", fi.Mode().Perm())
	}
	assertOnlyFiles(t, dir, "model.swav")
}

func TestSaveReplaceKeepsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.swav")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Save(path, goldenFile(), EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("replaced file mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
}

// TestSaveFailureKeepsOldFile simulates failures at every stage of Save and
// checks that the previous file is untouched and no temporary file remains.
func TestSaveFailureKeepsOldFile(t *testing.T) {
	errInjected := errors.New("injected failure")
	tests := []struct {
		name       string
		f          *File
		writer     func(io.Writer) io.Writer
		beforeMove func(string) error
		want       error
	}{
		{"write fails at once", goldenFile(), func(w io.Writer) io.Writer { return &hookWriter{w: w, left: 0, err: errInjected} }, nil, errInjected},
		{"write fails mid-header", goldenFile(), func(w io.Writer) io.Writer { return &hookWriter{w: w, left: 100, err: errInjected} }, nil, errInjected},
		{"write fails mid-payload", goldenFile(), func(w io.Writer) io.Writer { return &hookWriter{w: w, left: 900, err: errInjected} }, nil, errInjected},
		{"crash before rename", goldenFile(), nil, func(tmp string) error {
			// The complete temporary file exists at this point.
			if b, err := os.ReadFile(tmp); err != nil || len(b) == 0 {
				t.Errorf("temporary file %s: %d bytes, %v", tmp, len(b), err)
			}
			return errInjected
		}, errInjected},
		{"invalid file", &File{Tensors: []Tensor{{Name: "x", DType: "nope"}}}, nil, nil, ErrInvalid},
		{"nil file", nil, nil, nil, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "model.swav")
			old := encodeBytes(t, &File{Header: Header{Kind: "previous"}}, EncodeOptions{})
			if err := os.WriteFile(path, old, 0o644); err != nil {
				t.Fatal(err)
			}
			saveWriterHook, saveBeforeRenameHook = tc.writer, tc.beforeMove
			defer func() { saveWriterHook, saveBeforeRenameHook = nil, nil }()

			err := Save(path, tc.f, EncodeOptions{})
			if !errors.Is(err, tc.want) || !strings.HasPrefix(err.Error(), "checkpoint "+path+": ") {
				t.Fatalf("Save error %v, want %v prefixed with the path", err, tc.want)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
				t.Error("previous file was modified")
			}
			assertOnlyFiles(t, dir, "model.swav")
		})
	}
}

// TestSaveReadOnlyDir: a directory that cannot be written to makes Save fail
// before touching anything.
func TestSaveReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions; covered by TestSaveFailureKeepsOldFile")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.swav")
	if err := Save(path, &File{Header: Header{Kind: "previous"}}, EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path)
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	if err := Save(path, goldenFile(), EncodeOptions{}); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Save into read-only dir: %v, want a permission error", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
		t.Error("previous file was modified")
	}
	assertOnlyFiles(t, dir, "model.swav")
}

func TestSaveMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "model.swav")
	if err := Save(path, goldenFile(), EncodeOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Save: %v, want ErrNotExist", err)
	}
}

func TestSaveRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := Save("rel.swav", goldenFile(), EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load("rel.swav"); err != nil {
		t.Fatal(err)
	}
	assertOnlyFiles(t, ".", "rel.swav")
}

// TestSaveConcurrent: concurrent saves to one path leave one complete file.
func TestSaveConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.swav")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			f := goldenFile()
			f.Header.Training.Epoch = i
			if err := Save(path, f, EncodeOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	assertTensorsEqual(t, f.Tensors, goldenFile().Tensors)
	assertOnlyFiles(t, dir, "model.swav")
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.swav")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load missing: %v", err)
	}
	bad := filepath.Join(dir, "bad.swav")
	if err := os.WriteFile(bad, []byte("SWAVCKPT\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(bad)
	errorIs(t, err, ErrTruncated)
	if !strings.HasPrefix(err.Error(), "checkpoint "+bad+": ") {
		t.Errorf("error %q lacks the path", err)
	}
}

// hookWriter passes left bytes through, then fails with err.
type hookWriter struct {
	w    io.Writer
	left int
	err  error
}

func (h *hookWriter) Write(p []byte) (int, error) {
	if len(p) <= h.left {
		h.left -= len(p)
		return h.w.Write(p)
	}
	n, _ := h.w.Write(p[:h.left])
	h.left = 0
	return n, h.err
}

// assertOnlyFiles fails unless dir holds exactly the named entries.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("directory holds %v, want %v (temporary files left behind?)", got, names)
	}
}
