package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swav-go/swav/dataset"
)

// loopTree writes three images and two kinds of symbolic-link loop:
// sub/up points back to the root (so "**" would list every file again
// below sub/up/sub/up/...), and self points to itself (stat fails with
// ELOOP).
func loopTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a.png": "png", "sub/b.png": "png", "sub/deeper/c.png": "png"})
	if err := os.Symlink("..", filepath.Join(root, "sub", "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("self", filepath.Join(root, "self")); err != nil {
		t.Fatal(err)
	}
	return root
}

// walkErrors returns the *WalkError of each failure item of f as
// "absolute path|op".
func walkErrors(t *testing.T, f *dataset.Folder) []string {
	t.Helper()
	var out []string
	for i := range f.Len() {
		_, err := f.Image(i)
		var we *dataset.WalkError
		if errors.As(err, &we) {
			if we.Path != f.Name(i) || !filepath.IsAbs(we.Path) {
				t.Errorf("item %d: Name %q, WalkError.Path %q: want the same absolute path", i, f.Name(i), we.Path)
			}
			if !strings.Contains(err.Error(), we.Path) {
				t.Errorf("item %d: error %q does not name %s", i, err, we.Path)
			}
			out = append(out, we.Path+"|"+we.Op)
		}
	}
	return out
}

func TestGlobSymlinkLoops(t *testing.T) {
	root := loopTree(t)
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	relRoot, err := filepath.Rel(cwd, root)
	if err != nil {
		t.Fatal(err)
	}
	// A relative pattern: the failures are still named by absolute paths.
	done := make(chan struct{})
	var f *dataset.Folder
	go func() { f, err = dataset.Glob(filepath.ToSlash(relRoot)+"/**/*", dataset.FolderOptions{}); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Glob still walking the loop after 10 s")
	}
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for i := range f.Len() {
		if !filepath.IsAbs(f.Name(i)) {
			files = append(files, filepath.ToSlash(f.Name(i)))
		}
	}
	base := filepath.ToSlash(relRoot)
	if want := []string{base + "/a.png", base + "/sub/b.png", base + "/sub/deeper/c.png"}; !reflect.DeepEqual(files, want) {
		t.Errorf("files %q, want %q (each once)", files, want)
	}
	want := []string{filepath.Join(root, "self") + "|stat", filepath.Join(root, "sub", "up") + "|enter"}
	if got := walkErrors(t, f); !reflect.DeepEqual(got, want) {
		t.Errorf("failure items %q, want %q", got, want)
	}
	if f.Len() != 5 {
		t.Errorf("Len = %d, want 3 files + 2 failures", f.Len())
	}
	_, errSelf := f.Image(3)
	_, errUp := f.Image(4)
	if !errors.Is(errSelf, syscall.ELOOP) || !errors.Is(errUp, dataset.ErrSymlinkLoop) ||
		!strings.Contains(errUp.Error(), "it is "+root+" again") {
		t.Errorf("errors %q and %q, want ELOOP and ErrSymlinkLoop naming the ancestor", errSelf, errUp)
	}
	if got := f.Failed(); len(got) != 2 || got[0].Path != filepath.Join(root, "self") {
		t.Errorf("Failed() = %v", got)
	}
}

func TestWalkKeepsGoingAndOrder(t *testing.T) {
	root := loopTree(t)
	writeTree(t, root, map[string]string{".hidden/x.png": "png", "a.txt": "text"})
	files, failed, err := dataset.Walk(root+"/**/*.png", dataset.WalkOptions{Hidden: true})
	if err != nil {
		t.Fatal(err)
	}
	// doublestar's order: the directories depth first, each one's matching
	// files by name (the order embed has always written).
	want := []string{"a.png", ".hidden/x.png", "sub/b.png", "sub/deeper/c.png"}
	for i := range want {
		want[i] = filepath.Join(root, filepath.FromSlash(want[i]))
	}
	if !reflect.DeepEqual(files, want) {
		t.Errorf("files %q, want %q", files, want)
	}
	if len(failed) != 2 || failed[0].Path != filepath.Join(root, "self") || failed[1].Path != filepath.Join(root, "sub", "up") {
		t.Errorf("failed %v, want self then sub/up", failed)
	}
	files, _, err = dataset.Walk(root+"/**/*.png", dataset.WalkOptions{})
	if err != nil || slices.Contains(files, filepath.Join(root, ".hidden", "x.png")) {
		t.Errorf("without Hidden: %q, %v", files, err)
	}
}

func TestGlobFailuresFollowThePolicy(t *testing.T) {
	root := loopTree(t)
	f, err := dataset.Glob(root+"/**/*.png", dataset.FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	loaded := func(_ int, img image.Image) (image.Rectangle, error) { return img.Bounds(), nil }
	var skipped []dataset.Skipped
	good := 0
	for r := range dataset.Stream(context.Background(), f, nil, 2, loaded) {
		if r.Err != nil {
			if err := dataset.Skip.Handle(&skipped, f.Name(r.Index), r.Err); err != nil {
				t.Fatal(err)
			}
			continue
		}
		good++
	}
	if good != 3 || len(skipped) != 2 || skipped[0].Name != filepath.Join(root, "self") || skipped[1].Name != filepath.Join(root, "sub", "up") {
		t.Errorf("%d images, skipped %v; want 3 images and the two loops by absolute path", good, skipped)
	}
	_, err = f.Image(f.Len() - 1)
	if err := dataset.Fail.Handle(nil, f.Name(f.Len()-1), err); err == nil || !strings.Contains(err.Error(), filepath.Join(root, "sub", "up")) {
		t.Errorf("Fail policy: %v, want an error naming the path", err)
	}
}

func TestGlobFailuresWithLabels(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"cat/a.png": "png", "dog/b.png": "png"})
	for link, target := range map[string]string{"cat/loop": "..", "zzz": "zzz"} {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	f, err := dataset.Glob(root+"/**/*.png", dataset.FolderOptions{Labels: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Classes(); !reflect.DeepEqual(got, []string{"cat", "dog"}) {
		t.Errorf("Classes = %q: a failure must not add a class", got)
	}
	type item struct {
		name  string
		label int
		ok    bool
	}
	var got []item
	for i := range f.Len() {
		l, ok := f.Label(i)
		got = append(got, item{f.Name(i), l, ok})
	}
	want := []item{
		{filepath.Join(root, "cat", "a.png"), 0, true},
		{filepath.Join(root, "dog", "b.png"), 1, true},
		{filepath.Join(root, "cat", "loop"), 0, true}, // inside class cat
		{filepath.Join(root, "zzz"), 0, false},        // in no class folder
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("items %v, want %v", got, want)
	}
}

func TestGlobOnlyFailures(t *testing.T) {
	root := t.TempDir()
	if err := os.Symlink("self", filepath.Join(root, "self")); err != nil {
		t.Fatal(err)
	}
	_, err := dataset.Glob(root+"/*", dataset.FolderOptions{})
	if !errors.Is(err, dataset.ErrNoMatch) || !errors.Is(err, syscall.ELOOP) || !strings.Contains(err.Error(), filepath.Join(root, "self")) {
		t.Errorf("err = %v, want ErrNoMatch and the ELOOP failure by absolute path", err)
	}
}

// TestGlobUnreadableFolder makes a sub-folder unreadable with chmod 000.
// Root reads it anyway, so as root the listing runs in a child process
// (this test binary again) with the uid and gid of nobody (65534), where
// the folder gives EACCES as it does to any user.
func TestGlobUnreadableFolder(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a.png": "png", "secret/b.png": "png", "z/c.png": "png"})
	secret := filepath.Join(root, "secret")
	if err := os.Chmod(secret, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(secret, 0o755) })
	pattern := root + "/**/*.png"

	var lines []string
	if os.Geteuid() != 0 {
		f, err := dataset.Glob(pattern, dataset.FolderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		lines = describe(f)
	} else {
		lines = globAsNobody(t, root, pattern)
	}
	want := []string{
		"file " + filepath.Join(root, "a.png"),
		"file " + filepath.Join(root, "z", "c.png"),
		"fail " + secret + " open permission=true",
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("listing:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// describe lists a folder's items as "file PATH" and "fail PATH OP
// permission=BOOL" lines.
func describe(f *dataset.Folder) []string {
	var out []string
	for i := range f.Len() {
		_, err := f.Image(i)
		var we *dataset.WalkError
		if errors.As(err, &we) {
			out = append(out, fmt.Sprintf("fail %s %s permission=%v", f.Name(i), we.Op, errors.Is(err, fs.ErrPermission)))
		} else {
			out = append(out, "file "+f.Name(i))
		}
	}
	return out
}

// globAsNobody runs TestGlobAsNobodyChild in a copy of this test binary as
// uid/gid 65534 and returns its listing.
func globAsNobody(t *testing.T, root, pattern string) []string {
	t.Helper()
	// nobody needs to reach root (t.TempDir makes 0700 folders) and to run
	// the binary (go test builds it in a 0700 folder too).
	for d := root; d != filepath.Dir(d) && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "dataset.test")
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err == nil {
		_, err = io.Copy(out, in)
		err = errors.Join(err, out.Close())
	}
	in.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestGlobAsNobodyChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SWAV_TEST_GLOB_AS_NOBODY="+pattern)
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process as nobody: %v\n%s", err, output)
	}
	var lines []string
	for _, l := range strings.Split(string(output), "\n") {
		if s, ok := strings.CutPrefix(l, "LISTING "); ok {
			lines = append(lines, s)
		}
	}
	return lines
}

// TestGlobAsNobodyChild is the child process of TestGlobUnreadableFolder;
// run directly it does nothing.
func TestGlobAsNobodyChild(t *testing.T) {
	pattern := os.Getenv("SWAV_TEST_GLOB_AS_NOBODY")
	if pattern == "" {
		return
	}
	f, err := dataset.Glob(pattern, dataset.FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range describe(f) {
		fmt.Println("LISTING " + l)
	}
}
