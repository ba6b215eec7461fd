package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// hostileTree writes four good images and three paths a walk cannot read:
// an unreadable folder (chmod 000), a symbolic link back to an ancestor
// folder (so "**" would otherwise loop), and a link to itself (ELOOP).
func hostileTree(t *testing.T) (root string, good, bad []string) {
	t.Helper()
	root = t.TempDir()
	writeClass(t, root, "a", true, 2)
	writeClass(t, root, "b", false, 2)
	writeClass(t, root, "secret", true, 1)
	for link, target := range map[string]string{"a/up": "..", "self": "self"} {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(root, "secret")
	if err := os.Chmod(secret, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(secret, 0o755) })
	for _, p := range []string{"a/a.png", "a/b.png", "b/a.png", "b/b.png"} {
		good = append(good, filepath.Join(root, filepath.FromSlash(p)))
	}
	bad = []string{filepath.Join(root, "a", "up"), secret, filepath.Join(root, "self")}
	return root, good, bad
}

// cliAsUser runs `swav-embed args...` in a child process (this test binary
// again, running TestEmbedWalkChild) and returns its combined output and
// whether the command failed. As root the child runs as nobody (uid/gid 65534),
// for whom chmod 000 makes a folder unreadable, as for any user but root.
func cliAsUser(t *testing.T, root string, args ...string) (string, bool) {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestEmbedWalkChild$", "-test.count=1")
	encoded, _ := json.Marshal(args)
	cmd.Env = append(os.Environ(), "SWAV_TEST_EMBED_ARGS="+string(encoded), "HOME="+root)
	cmd.Dir, _ = os.Getwd()
	if os.Geteuid() == 0 {
		// nobody must reach root (t.TempDir makes 0700 folders), write the
		// output there, and run the binary (go test builds it in a 0700
		// folder, so run a copy).
		for d := root; d != filepath.Dir(d) && d != os.TempDir(); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o777); err != nil {
				t.Fatal(err)
			}
		}
		copyBin := filepath.Join(root, "swav-embed.test")
		if err := copyFile(bin, copyBin); err != nil {
			t.Fatal(err)
		}
		cmd.Path, cmd.Args[0] = copyBin, copyBin
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	return string(out), strings.Contains(string(out), "COMMAND FAILED: ")
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// TestEmbedWalkChild is the child process of the tests in this file; run
// directly it does nothing.
func TestEmbedWalkChild(t *testing.T) {
	encoded := os.Getenv("SWAV_TEST_EMBED_ARGS")
	if encoded == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(encoded), &args); err != nil {
		t.Fatal(err)
	}
	// As main runs it, so that messages reach standard error.
	if code := runMain(args, os.Stderr); code != 0 {
		fmt.Printf("COMMAND FAILED: exit status %d\n", code)
	}
}

func TestEmbedWalkErrors(t *testing.T) {
	root, good, bad := hostileTree(t)
	out := filepath.Join(root, "emb.jsonl")
	log, failed := cliAsUser(t, root, "embed", root+"/**/*.png", "--out", out, "--batch", "2")
	if failed {
		t.Fatalf("embed failed:\n%s", log)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var row struct {
			Path string `json:"path"`
		}
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("row %q: %v", line, err)
		}
		rows = append(rows, row.Path)
	}
	if strings.Join(rows, "\n") != strings.Join(good, "\n") {
		t.Errorf("embedded %q, want the good images %q, each once", rows, good)
	}
	if !strings.Contains(log, fmt.Sprintf("skipped %d:", len(bad))) {
		t.Errorf("skip report does not count %d entries:\n%s", len(bad), log)
	}
	for _, b := range bad {
		// The path once: the walk error names it.
		if !strings.Contains(log, "\n  walking "+b+": ") || strings.Contains(log, b+": walking "+b) {
			t.Errorf("skip report has no entry for %s, naming it once:\n%s", b, log)
		}
	}
	for _, reason := range []string{"open: permission denied", "symbolic link loop", "too many levels of symbolic links"} {
		if !strings.Contains(log, reason) {
			t.Errorf("skip report does not give the reason %q:\n%s", reason, log)
		}
	}

	// --on-error fail stops at the first path, by absolute path, before
	// writing anything.
	failOut := filepath.Join(root, "fail.jsonl")
	log, failed = cliAsUser(t, root, "embed", root+"/**/*.png", "--out", failOut, "--on-error", "fail")
	if !failed || !strings.Contains(log, "walking "+bad[0]+": enter: symbolic link loop") {
		t.Errorf("--on-error fail: want a failure naming %s:\n%s", bad[0], log)
	}
	if _, err := os.Stat(failOut); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--on-error fail left %s (%v)", failOut, err)
	}
}

func TestProbeAndPretrainWalkErrors(t *testing.T) {
	root, _, bad := hostileTree(t)
	test := filepath.Join(root, "test")
	writeClass(t, test, "a", true, 2)
	writeClass(t, test, "b", false, 2)
	// probe: the walk failures of the training folder are skipped and
	// listed; "secret" (unreadable) adds no class.
	log, failed := cliAsUser(t, root, "probe", "--train", root+"/{a,b,secret,self}/**/*.png", "--test", test+"/**/*.png",
		"--epochs", "2", "--report", filepath.Join(root, "report.json"))
	if failed {
		t.Fatalf("probe failed:\n%s", log)
	}
	for _, b := range bad {
		if !strings.Contains(log, "\n  walking "+b+": ") || strings.Contains(log, b+": walking "+b) {
			t.Errorf("probe does not report %s, naming it once:\n%s", b, log)
		}
	}
	report, err := os.ReadFile(filepath.Join(root, "report.json"))
	if err != nil || strings.Contains(string(report), "secret") {
		t.Errorf("probe report (%v) names the unreadable folder as a class:\n%s", err, report)
	}

	// pretrain --data: one batch holds every item, so every failure is met.
	args := []string{"pretrain", "--data", root + "/{a,b,secret,self}/**/*.png", "--arch", "small", "--batch-size", "7",
		"--epochs", "1", "--max-steps", "1", "--nmb-prototypes", "8", "--queue-length", "0"}
	log, failed = cliAsUser(t, root, append(args, "--out", filepath.Join(root, "skip.swav"), "--on-error", "skip")...)
	if failed {
		t.Fatalf("pretrain --on-error skip failed:\n%s", log)
	}
	for _, b := range bad {
		if !strings.Contains(log, "walking "+b+": ") {
			t.Errorf("pretrain does not report %s:\n%s", b, log)
		}
	}
	log, failed = cliAsUser(t, root, append(args, "--out", filepath.Join(root, "fail.swav"), "--on-error", "fail")...)
	if !failed || !strings.Contains(log, "walking "+root) {
		t.Errorf("pretrain --on-error fail: want a failure naming a path under %s:\n%s", root, log)
	}
}
