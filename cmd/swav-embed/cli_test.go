package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/swav-go/swav/checkpoint"
)

// cliEnv, set in the environment of this test binary, makes it run as swav-embed (main,
// on its command line) instead of running the tests: the tests in this file run the
// command as a user does, in a child process, and check its exit status and its
// standard output and error.
const cliEnv = "SWAV_EMBED_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}

// cliCmd is `swav-embed args...` as a child process in dir (the package folder when
// empty), reading stdin.
func cliCmd(t *testing.T, dir string, stdin io.Reader, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Args = append([]string{"swav-embed"}, args...) // what main parses
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	cmd.Dir, cmd.Stdin = dir, stdin
	return cmd
}

// cli runs `swav-embed args...` in dir and returns its standard output and error and its
// exit status.
func cli(t *testing.T, dir string, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := cliCmd(t, dir, stdin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("swav-embed %q: %v", args, err)
	}
	return o.String(), e.String(), code
}

// photoTree writes a folder as a camera or phone leaves it: upper-case extensions, a
// sub-folder, a hidden folder, a file that is no image.
func photoTree(t *testing.T) (root string, images []string) {
	t.Helper()
	root = t.TempDir()
	for from, to := range map[string]string{
		"../../testdata/images/sunset.jpg":     "DCIM/IMG_0001.JPG",
		"../../testdata/images/moon.png":       "DCIM/sub/Moon.PNG",
		"../../testdata/images/lighthouse.jpg": "DCIM/.thumbnails/t.jpg",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, to)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyFile(from, filepath.Join(root, to)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "DCIM", "notes.txt"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, []string{filepath.Join(root, "DCIM", "IMG_0001.JPG"), filepath.Join(root, "DCIM", "sub", "Moon.PNG")}
}

// jsonlPaths returns the paths of embed's JSON Lines output, checking each row's width.
func jsonlPaths(t *testing.T, text string) []string {
	t.Helper()
	var paths []string
	for line := range strings.Lines(text) {
		var row struct {
			Path      string    `json:"path"`
			Embedding []float32 `json:"embedding"`
		}
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("row %q: %v", line, err)
		}
		if len(row.Embedding) != 128 {
			t.Fatalf("row of %s has %d values, want 128", row.Path, len(row.Embedding))
		}
		paths = append(paths, row.Path)
	}
	return paths
}

// TestCLIDirectoryAndCase: a directory argument embeds every image below it (upper-case
// extensions included, the hidden folder and the text file left out); '*.jpg' matches
// IMG_0001.JPG.
func TestCLIDirectoryAndCase(t *testing.T) {
	root, images := photoTree(t)
	out := filepath.Join(t.TempDir(), "emb.jsonl")
	_, stderr, code := cli(t, "", nil, "embed", filepath.Join(root, "DCIM"), "--out", out)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := jsonlPaths(t, string(data)); !slices.Equal(got, images) {
		t.Errorf("a directory embedded %q, want %q", got, images)
	}
	_, stderr, code = cli(t, "", nil, "embed", filepath.ToSlash(root)+"/DCIM/*.jpg", "--out", out)
	if code != 0 {
		t.Fatalf("'*.jpg': exit %d:\n%s", code, stderr)
	}
	data, _ = os.ReadFile(out)
	if got := jsonlPaths(t, string(data)); !slices.Equal(got, images[:1]) {
		t.Errorf("'*.jpg' embedded %q, want %q", got, images[:1])
	}
	// A directory without images is an error that says what it looked for.
	empty := t.TempDir()
	_, stderr, code = cli(t, "", nil, "embed", empty, "--out", out)
	if code != 1 || !strings.Contains(stderr, "directory "+empty+" holds no image (.jpg") {
		t.Errorf("empty directory: exit %d, stderr %q", code, stderr)
	}
}

// TestCLIStdout: --out - writes CSV (default) or JSON Lines to standard output and
// nothing else there, leaves no file named "-", and refuses npy, which needs a sidecar.
func TestCLIStdout(t *testing.T) {
	dir := t.TempDir()
	img, _ := filepath.Abs("../../testdata/images/sunset.jpg")
	stdout, stderr, code := cli(t, dir, nil, "embed", img, "--out", "-")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil {
		t.Fatalf("standard output is not CSV: %v\n%s", err, stdout)
	}
	if len(rows) != 2 || len(rows[0]) != 129 || rows[0][0] != "path" || rows[0][1] != "v0" || rows[1][0] != img {
		t.Errorf("CSV on standard output: %d rows, first %.80q", len(rows), rows)
	}
	if !strings.Contains(stderr, "→ standard output") {
		t.Errorf("the summary does not go to standard error: %q", stderr)
	}
	stdout, stderr, code = cli(t, dir, nil, "embed", img, "--out", "-", "--format", "jsonl")
	if code != 0 {
		t.Fatalf("jsonl: exit %d:\n%s", code, stderr)
	}
	if got := jsonlPaths(t, stdout); !slices.Equal(got, []string{img}) {
		t.Errorf("JSON Lines on standard output hold %q", got)
	}
	stdout, stderr, code = cli(t, dir, nil, "embed", img, "--out", "-", "--format", "npy")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "--format npy cannot go to standard output") || !strings.Contains(stderr, "sidecar") {
		t.Errorf("npy to standard output: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("--out - left %q in the working folder", got)
	}
}

// TestCLIFormatMustAgree: --format contradicting --out's extension is a usage error
// naming both, writing nothing; --format without --out names the default file by it.
func TestCLIFormatMustAgree(t *testing.T) {
	dir := t.TempDir()
	img, _ := filepath.Abs("../../testdata/images/sunset.jpg")
	_, stderr, code := cli(t, dir, nil, "embed", img, "--out", "x.npy", "--format", "csv")
	if code != 2 || !strings.Contains(stderr, "--format csv contradicts --out x.npy") {
		t.Errorf("exit %d, stderr %q; want 2 and both named", code, stderr)
	}
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("a refused run wrote %q", got)
	}
	// Agreeing, or an extension that says nothing: fine.
	for _, args := range [][]string{{"--out", "x.CSV", "--format", "csv"}, {"--out", "x.txt", "--format", "jsonl"}, {"--format", "csv"}} {
		if _, stderr, code := cli(t, dir, nil, append([]string{"embed", img}, args...)...); code != 0 {
			t.Errorf("%q: exit %d:\n%s", args, code, stderr)
		}
	}
	if got := names(t, dir); !slices.Equal(got, []string{"embeddings.csv", "x.CSV", "x.txt"}) {
		t.Errorf("wrote %q, want embeddings.csv (the default name with --format csv), x.CSV and x.txt", got)
	}
}

// TestCLIFromFile: --from-file FILE and --from-file - read one path per line, skipping
// blank lines and # comments, trimming spaces, expanding a listed directory, dropping a
// repeat; a listed file that is missing is skipped and reported by its path, once.
func TestCLIFromFile(t *testing.T) {
	root, images := photoTree(t)
	missing := filepath.Join(root, "gone.png")
	list := strings.Join([]string{
		"# photos to embed",
		"",
		"  " + images[0] + "  ",
		"\t",
		filepath.Join(root, "DCIM", "sub"), // a directory: Moon.PNG
		images[0],                          // a repeat
		missing,
		"# end",
	}, "\n") + "\n"
	listFile := filepath.Join(root, "list.txt")
	if err := os.WriteFile(listFile, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "emb.jsonl")
	for _, tc := range []struct {
		name  string
		flag  string
		stdin io.Reader
	}{{"file", listFile, nil}, {"standard input", "-", strings.NewReader(list)}} {
		_, stderr, code := cli(t, "", tc.stdin, "embed", "--from-file", tc.flag, "--out", out)
		if code != 0 {
			t.Fatalf("%s: exit %d:\n%s", tc.name, code, stderr)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonlPaths(t, string(data)); !slices.Equal(got, images) {
			t.Errorf("%s: embedded %q, want %q", tc.name, got, images)
		}
		// Reported once, as skipped, without the report adding the path in front of
		// the decoder's error, which names it (imageio's own message about a missing
		// file still repeats it after "stat").
		lines := 0
		for line := range strings.Lines(stderr) {
			if strings.Contains(line, missing) {
				lines++
				if strings.HasPrefix(line, "  "+missing+": ") {
					t.Errorf("%s: the skip report names the path before the error that names it: %q", tc.name, line)
				}
			}
		}
		if lines != 1 || !strings.Contains(stderr, "skipped 1:\n  image "+missing) {
			t.Errorf("%s: the missing file is on %d lines, want one skip entry:\n%s", tc.name, lines, stderr)
		}
	}
	// A list of nothing but comments is an error naming the list.
	if err := os.WriteFile(listFile, []byte("# nothing\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := cli(t, "", nil, "embed", "--from-file", listFile, "--out", out); code != 1 || !strings.Contains(stderr, listFile+" lists no path") {
		t.Errorf("empty list: exit %d, stderr %q", code, stderr)
	}
	// A directory is refused as a list, by name.
	if _, stderr, code := cli(t, "", nil, "embed", "--from-file", root, "--out", out); code != 1 || !strings.Contains(stderr, root) {
		t.Errorf("directory as list: exit %d, stderr %q", code, stderr)
	}
}

// TestCLIExitStatus: 0 on success, 2 on usage errors (unknown flag, unknown command with
// a suggestion, wrong argument count, no input), 1 on a runtime error; a failing file is
// named once in the error line.
func TestCLIExitStatus(t *testing.T) {
	out := filepath.Join(t.TempDir(), "e.csv")
	bad, _ := filepath.Abs("../../imageio/testdata/bad/truncated.png")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"embed", "../../testdata/images/sunset.jpg", "--out", out}, 0, ""},
		{[]string{"embed", "--no-such-flag"}, 2, "unknown flag: --no-such-flag"},
		{[]string{"embedd", "x"}, 2, `unknown command "embedd" for "swav-embed": did you mean embed?`},
		{[]string{"bench", "nope"}, 2, `unknown command "nope" for "swav-embed bench"`},
		{[]string{"index"}, 2, "accepts 1 arg(s), received 0"},
		{[]string{"embed", "--out", out}, 2, "give the images"},
		{[]string{"embed", "--batch-size", "many"}, 2, "invalid argument"},
		{[]string{"embed", "x.png", "--batch-size", "0"}, 2, "--batch-size is 0: it must be at least 1"},
		{[]string{"embed", "x.png", "--on-error", "ignore"}, 2, "--on-error"},
		{[]string{"embed", "x.png", "--vectors", "logits"}, 2, "--vectors"},
		{[]string{"embed", "no-such-dir/*.jpg", "--out", out}, 1, `pattern "no-such-dir/*.jpg" matches no file`},
		{[]string{"embed", "no-such-file.png", "--out", out}, 1, "no-such-file.png does not exist"},
		{[]string{"embed", bad, "--out", out, "--on-error", "fail"}, 1, "truncated.png"},
	} {
		_, stderr, code := cli(t, "", nil, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
		if code != 0 && strings.Count(stderr, "swav-embed: ") != 1 {
			t.Errorf("%q: want one error line, got %q", tc.args, stderr)
		}
		if strings.Contains(tc.want, "truncated") && strings.Count(stderr, bad) != 1 {
			t.Errorf("%q: the failing file is named %d times: %q", tc.args, strings.Count(stderr, bad), stderr)
		}
	}
}

// TestCLIVersion: --version prints the module version, the Go version and the
// checkpoint format, and exits 0.
func TestCLIVersion(t *testing.T) {
	stdout, stderr, code := cli(t, "", nil, "--version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"swav-embed ", runtime.Version(), fmt.Sprintf("checkpoint format %d", checkpoint.FormatVersion)} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--version output %q lacks %q", stdout, want)
		}
	}
}

// TestCLIQuietAndProgress: without a terminal, progress comes as plain lines (no bar,
// no carriage returns) and the summary follows; --quiet leaves standard error empty on a
// clean run but still lists skipped files.
func TestCLIQuietAndProgress(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "e.npy")
	// Fashion-MNIST-like images: nothing for the default model to warn about.
	writeClass(t, dir, "imgs", true, 5)
	imgs := filepath.Join(dir, "imgs")
	_, stderr, code := cli(t, "", nil, "embed", imgs, "--out", out, "--batch-size", "1")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if strings.ContainsAny(stderr, "\r█") || !strings.Contains(stderr, "embed: 1/5 (20%)") || !strings.Contains(stderr, "embedded 5 images") {
		t.Errorf("progress without a terminal: want plain lines and the summary, got %q", stderr)
	}
	_, stderr, code = cli(t, "", nil, "--quiet", "embed", imgs, "--out", out)
	if code != 0 || stderr != "" {
		t.Errorf("--quiet: exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	_, stderr, code = cli(t, "", nil, "embed", "-q", imgs, "../../imageio/testdata/bad/truncated.png", "--out", out)
	if code != 0 || !strings.HasPrefix(stderr, "skipped 1:\n") || strings.Contains(stderr, "embedded") {
		t.Errorf("-q with a bad file: exit %d, stderr %q; want only the skip report", code, stderr)
	}
}

// TestCLIDeprecatedAliases: --batch and --output still work, with a note naming the new
// flag, and give the same vectors as --batch-size and --vectors.
func TestCLIDeprecatedAliases(t *testing.T) {
	dir := t.TempDir()
	old, cur := filepath.Join(dir, "old.csv"), filepath.Join(dir, "new.csv")
	_, stderr, code := cli(t, "", nil, "embed", "../../testdata/images/*", "--out", old, "--batch", "2", "--output", "projection")
	if code != 0 || !strings.Contains(stderr, "Flag --batch has been deprecated, use --batch-size") || !strings.Contains(stderr, "Flag --output has been deprecated, use --vectors") {
		t.Fatalf("old names: exit %d, stderr %q", code, stderr)
	}
	if _, stderr, code := cli(t, "", nil, "embed", "../../testdata/images/*", "--out", cur, "--batch-size", "2", "--vectors", "projection"); code != 0 {
		t.Fatalf("new names: exit %d:\n%s", code, stderr)
	}
	a, b := readBytes(t, old), readBytes(t, cur)
	images, _ := filepath.Glob("../../testdata/images/*")
	if !bytes.Equal(a, b) || bytes.Count(a, []byte("\n")) != 1+len(images) {
		t.Errorf("--output projection and --vectors projection differ, or are not a header and %d rows:\n%.300s\n%.300s", len(images), a, b)
	}
}

// TestCLIInterrupt: Ctrl-C during embed exits 130 after removing the temporary output:
// neither --out, its sidecar nor a temporary file is left.
func TestCLIInterrupt(t *testing.T) {
	imgs := t.TempDir()
	for i := range 200 {
		if err := copyFile("../../testdata/images/moon.png", filepath.Join(imgs, fmt.Sprintf("%03d.png", i))); err != nil {
			t.Fatal(err)
		}
	}
	outDir := t.TempDir()
	cmd := cliCmd(t, "", nil, "embed", imgs, "--out", filepath.Join(outDir, "e.npy"), "--batch-size", "1", "--workers", "1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The first progress line (10 %) says the loop runs and the output is open.
	sc := bufio.NewScanner(stderr)
	var log []string
	for sc.Scan() {
		log = append(log, sc.Text())
		if strings.HasPrefix(sc.Text(), "embed: ") {
			break
		}
	}
	if during := names(t, outDir); len(during) == 0 {
		t.Fatalf("no temporary output while embedding; stderr:\n%s", strings.Join(log, "\n"))
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stderr)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("not stopped 20 s after SIGINT")
	}
	var exit *exec.ExitError
	if !errors.As(werr, &exit) || exit.ExitCode() != 130 {
		t.Errorf("after SIGINT: %v, want exit status 130; stderr:\n%s\n%s", werr, strings.Join(log, "\n"), rest)
	}
	if !strings.Contains(string(rest), "interrupt: stopping after cleanup") {
		t.Errorf("no word of the interruption on stderr:\n%s", rest)
	}
	if left := names(t, outDir); len(left) != 0 {
		t.Errorf("an interrupted embed left %q", left)
	}
}

// TestHelpDefaultsOnce: in every command's help, no flag shows two defaults or an empty
// "(default [])"; the deprecated aliases are hidden; the flags of one concept have one
// name (--batch-size, --vectors, --out) and --on-error one default.
func TestHelpDefaultsOnce(t *testing.T) {
	var visit func(c *cobra.Command)
	visit = func(c *cobra.Command) {
		usage := c.Flags().FlagUsages()
		for line := range strings.Lines(usage) {
			if strings.Count(line, "(default") > 1 || strings.Contains(line, "(default [])") {
				t.Errorf("%s: %s", c.CommandPath(), strings.TrimSpace(line))
			}
		}
		for _, hidden := range []string{"--batch ", "--output "} {
			if strings.Contains(usage, hidden) {
				t.Errorf("%s shows %s", c.CommandPath(), hidden)
			}
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "on-error" && f.DefValue != onErrorDefault && c.Name() != "pretrain" {
				t.Errorf("%s --on-error defaults to %q, want %q", c.CommandPath(), f.DefValue, onErrorDefault)
			}
			if f.Deprecated != "" && !f.Hidden {
				t.Errorf("%s: deprecated --%s is not hidden", c.CommandPath(), f.Name)
			}
		})
		for _, sub := range c.Commands() {
			visit(sub)
		}
	}
	visit(newRoot())
}

// TestOwnDefaults: a flag whose help states its default shows only that one; the others
// keep pflag's.
func TestOwnDefaults(t *testing.T) {
	fl := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fl.Int("hidden", -1, "hidden units (default: the architecture's)")
	fl.Float64Slice("scale", nil, "scales (default 0.14,0.05)")
	fl.IntSlice("crops", nil, "crops (default 2,6)")
	fl.String("arch", "auto", "network (default: by input size)")
	fl.Int("workers", 2, "goroutines")
	fl.StringSlice("model", nil, "models")
	ownDefaults(fl)
	want := map[string]string{
		"hidden":  "hidden units (default: the architecture's)\n",
		"scale":   "scales (default 0.14,0.05)\n",
		"crops":   "crops (default 2,6)\n",
		"arch":    "network (default: by input size)\n",
		"workers": "goroutines (default 2)\n",
		"model":   "models\n",
	}
	usage := fl.FlagUsages()
	for name, end := range want {
		found := false
		for line := range strings.Lines(usage) {
			if strings.Contains(line, "--"+name+" ") {
				found = true
				if !strings.HasSuffix(line, end) {
					t.Errorf("--%s: %q, want it to end %q", name, line, end)
				}
			}
		}
		if !found {
			t.Errorf("--%s not in the help:\n%s", name, usage)
		}
	}
	// The values themselves are untouched.
	if v, _ := fl.GetInt("hidden"); v != -1 {
		t.Errorf("--hidden is %d after ownDefaults, want -1", v)
	}
}

// TestProbeOnDirectories: probe --train DIR --test DIR reads class folders as
// torchvision's ImageFolder does (upper-case extensions included), as the globs do.
func TestProbeOnDirectories(t *testing.T) {
	dir := t.TempDir()
	for _, split := range []string{"train", "test"} {
		writeClass(t, filepath.Join(dir, split), "left", true, 6)
		writeClass(t, filepath.Join(dir, split), "right", false, 6)
	}
	// One training image with an upper-case extension still counts.
	if err := os.Rename(filepath.Join(dir, "train", "left", "a.png"), filepath.Join(dir, "train", "left", "A.PNG")); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report.json")
	_, stderr, code := cli(t, "", nil, "probe", "--raw-pixels", "--train", filepath.Join(dir, "train"), "--test", filepath.Join(dir, "test"),
		"--report", report, "--epochs", "5")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "features: train 12×784, test 12×784") {
		t.Errorf("want 12 training images (A.PNG too) and 12 test images of 28×28:\n%s", stderr)
	}
	var reps []struct {
		Top1    float64 `json:"top1"`
		Support []int   `json:"support"`
	}
	b := readBytes(t, report)
	if err := json.Unmarshal(b, &reps); err != nil || len(reps) != 1 || reps[0].Top1 != 1 || !slices.Equal(reps[0].Support, []int{6, 6}) {
		t.Errorf("report (%v): want one linear probe separating the two classes of 6 test images each:\n%s", err, b)
	}
	if !bytes.Contains(b, []byte(`"left"`)) || !bytes.Contains(b, []byte(`"right"`)) {
		t.Errorf("classes are not the folder names:\n%s", b)
	}
}

// TestExitStatusOf: 128 plus the signal number.
func TestExitStatusOf(t *testing.T) {
	for s, want := range map[os.Signal]int{syscall.SIGINT: 130, syscall.SIGTERM: 143, os.Interrupt: 130} {
		if got := exitStatusOf(s); got != want {
			t.Errorf("exitStatusOf(%v) = %d, want %d", s, got, want)
		}
	}
}

// TestPathNamedOnce: an error about a file names it once, whether or not the cause
// already does.
func TestPathNamedOnce(t *testing.T) {
	_, err := os.Open("/no/such/report.json")
	if got := withPath("report", "/no/such/report.json", err).Error(); got != "report: open /no/such/report.json: no such file or directory" {
		t.Errorf("with a PathError: %q", got)
	}
	if got := withPath("report", "r.json", errors.New("disk full")).Error(); got != "report r.json: disk full" {
		t.Errorf("with a bare cause: %q", got)
	}
	// As the user sees it: probe --report into a missing folder.
	dir := t.TempDir()
	for _, split := range []string{"train", "test"} {
		writeClass(t, filepath.Join(dir, split), "left", true, 2)
		writeClass(t, filepath.Join(dir, split), "right", false, 2)
	}
	report := filepath.Join(dir, "missing", "report.json")
	_, stderr, code := cli(t, "", nil, "probe", "--raw-pixels", "--no-linear", "--knn", "--train", filepath.Join(dir, "train"),
		"--test", filepath.Join(dir, "test"), "--report", report)
	if code != 1 || strings.Count(stderr, report) != 1 {
		t.Errorf("exit %d; want 1 and the report path named once:\n%s", code, stderr)
	}
}

// TestCLIFitWarning: colour photos given to the default (28×28 grayscale) model get one
// plain "warning:" line on standard error naming what to use instead; Fashion-MNIST
// images get none, and --quiet keeps the warning.
func TestCLIFitWarning(t *testing.T) {
	dir := t.TempDir()
	photos, _ := filepath.Abs("../../testdata/images")
	fashion, _ := filepath.Abs("../../testdata/fashion")
	for _, args := range [][]string{{"embed", photos, "--out", "p.csv"}, {"-q", "embed", photos, "--out", "q.csv"}} {
		_, stderr, code := cli(t, dir, nil, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d:\n%s", args, code, stderr)
		}
		if n := strings.Count(stderr, "warning:"); n != 1 || !strings.HasPrefix(stderr, "warning: ") {
			t.Errorf("%q: %d warnings, want 1 plain line (no log timestamp) first:\n%s", args, n, stderr)
		}
		if !strings.Contains(stderr, "swav_800ep_pretrain.pth.tar") || !strings.Contains(stderr, "swav-embed convert") {
			t.Errorf("%q: the warning does not say what to use:\n%s", args, stderr)
		}
	}
	_, stderr, code := cli(t, dir, nil, "embed", fashion, "--out", "f.csv")
	if code != 0 || strings.Contains(stderr, "warning") {
		t.Errorf("Fashion-MNIST images: exit %d, stderr:\n%s", code, stderr)
	}
}
