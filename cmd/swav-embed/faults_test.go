package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/pretrain"
)

// mustFail runs the CLI, expects an error mentioning every want within limit, and
// returns it.
func mustFail(t *testing.T, limit time.Duration, args []string, want ...string) error {
	t.Helper()
	start := time.Now()
	err := run(t, args...)
	if elapsed := time.Since(start); elapsed > limit {
		t.Errorf("%q took %v to fail, want under %v", args, elapsed, limit)
	}
	if err == nil {
		t.Fatalf("%q: no error, want one mentioning %q", args, want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q: error %q does not mention %q", args, err, w)
		}
	}
	return err
}

// names lists dir's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// trainImages writes 16 small two-class PNGs and returns their glob.
func trainImages(t *testing.T, dir string) string {
	t.Helper()
	writeClass(t, filepath.Join(dir, "imgs"), "a", true, 8)
	writeClass(t, filepath.Join(dir, "imgs"), "b", false, 8)
	return filepath.Join(dir, "imgs/**/*.png")
}

// TestPretrainOutIsDirectory: --out naming a directory fails at once, naming it, and
// writes nothing (the measured failure trained a whole epoch first).
func TestPretrainOutIsDirectory(t *testing.T) {
	dir := t.TempDir()
	glob := trainImages(t, dir)
	out := filepath.Join(dir, "models")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	mustFail(t, 10*time.Second, []string{"pretrain", "--data", glob, "--out", out, "--arch", "small", "--batch-size", "8",
		"--epochs", "1", "--nmb-prototypes", "20"}, out, "is a directory")
	if got := names(t, out); len(got) != 0 {
		t.Errorf("the failed run wrote %q into %s", got, out)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"imgs", "models"}) {
		t.Errorf("the failed run left %q in %s", got, dir)
	}
	mustFail(t, 10*time.Second, []string{"pretrain", "--data", glob, "--out", filepath.Join(dir, "m.swav"), "--metrics", out,
		"--arch", "small", "--batch-size", "8", "--epochs", "1"}, "metrics path", out, "is a directory")
}

// initModel writes an inference model (kind swav-model) for the images of glob.
func initModel(t *testing.T, glob, path string) {
	t.Helper()
	if err := run(t, "init", "--data", glob, "--arch", "small", "--out", path); err != nil {
		t.Fatal(err)
	}
}

// asTraining writes a copy of the model at src to dst as a training checkpoint (the
// kind and training state pretrain writes).
func asTraining(t *testing.T, src, dst string, step int64) {
	t.Helper()
	f, err := checkpoint.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	f.Header.Kind = pretrain.KindTraining
	f.Header.Training = &checkpoint.Training{Step: step, Epoch: 1}
	f.Tensors = append(f.Tensors, checkpoint.Float32Tensor("optimizer/momentum", []int{2}, []float32{1, 2}))
	if err := checkpoint.Save(dst, f, checkpoint.EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExportRefusesToReplaceTrainingCheckpoint: `export m.swav --out m.swav` on a
// training checkpoint, or onto another one, is refused naming the file and --force, and
// leaves it byte for byte; --force replaces it; and resuming from the export is refused.
func TestExportRefusesToReplaceTrainingCheckpoint(t *testing.T) {
	dir := t.TempDir()
	glob := trainImages(t, dir)
	modelPath := filepath.Join(dir, "model.swav")
	initModel(t, glob, modelPath)
	train := filepath.Join(dir, "train.swav")
	other := filepath.Join(dir, "other.swav")
	asTraining(t, modelPath, train, 30)
	asTraining(t, modelPath, other, 20)
	orig, origOther := readBytes(t, train), readBytes(t, other)

	mustFail(t, 10*time.Second, []string{"export", train, "--out", train}, train, "training checkpoint", "step 30", "--force")
	if !bytes.Equal(readBytes(t, train), orig) {
		t.Fatal("the refused export changed the training checkpoint")
	}
	// Refused before the (slow) batch-norm pass, which would fail on this glob.
	mustFail(t, 10*time.Second, []string{"export", train, "--out", train, "--bn-data", filepath.Join(dir, "none/*.png")}, train, "--force")
	mustFail(t, 10*time.Second, []string{"export", modelPath, "--out", other}, other, "training checkpoint", "step 20")
	if !bytes.Equal(readBytes(t, other), origOther) {
		t.Fatal("the refused export changed the other training checkpoint")
	}

	if err := run(t, "export", train, "--out", train, "--force"); err != nil {
		t.Fatalf("export --force: %v", err)
	}
	f, err := checkpoint.Load(train)
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.Kind != pretrain.KindModel {
		t.Errorf("after export --force the kind is %q, want %q", f.Header.Kind, pretrain.KindModel)
	}
	exported := readBytes(t, train)

	// Resuming from what is now an export: a clear error, before any training.
	mustFail(t, 10*time.Second, []string{"pretrain", "--data", glob, "--out", train, "--resume", "--arch", "small",
		"--batch-size", "8", "--epochs", "1"}, train, "inference-only", "optimiser state")
	if !bytes.Equal(readBytes(t, train), exported) {
		t.Error("the refused resume changed the export")
	}
	for _, n := range names(t, dir) {
		if strings.HasSuffix(n, ".tmp") || strings.Contains(n, "metrics") {
			t.Errorf("left behind: %s", n)
		}
	}
}

// TestEmbedFailureLeavesNoOutput: a run that fails (--on-error fail and a bad file) or
// embeds nothing (every file bad) leaves neither the output, nor its sidecar, nor a
// temporary file; a 0-row file is never committed.
func TestEmbedFailureLeavesNoOutput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"fail on a bad file", []string{"../../testdata/images/sunset.jpg", "../../imageio/testdata/bad/truncated.png", "--on-error", "fail"},
			[]string{"truncated.png"}},
		{"every file bad", []string{"../../imageio/testdata/bad/*", "--on-error", "skip"},
			[]string{"no image could be embedded", "not written"}},
	} {
		for _, ext := range []string{"npy", "jsonl", "csv"} {
			t.Run(tc.name+"/"+ext, func(t *testing.T) {
				dir := t.TempDir()
				out := filepath.Join(dir, "emb."+ext)
				args := append([]string{"embed", "--out", out}, tc.args...)
				mustFail(t, 30*time.Second, args, tc.want...)
				if got := names(t, dir); len(got) != 0 {
					t.Errorf("the failed run left %q", got)
				}
			})
		}
	}
}

// TestCountFlagsMustBePositive: zero or negative --batch, --batch-size, --workers (and
// the other counts) are refused, naming the flag and value, before anything runs, in
// every command that has them.
func TestCountFlagsMustBePositive(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	for _, args := range [][]string{
		{"embed", "../../testdata/images/*", "--out", out + ".npy", "--batch", "0"},
		{"embed", "../../testdata/images/*", "--out", out + ".npy", "--batch", "-4"},
		{"embed", "../../testdata/images/*", "--out", out + ".npy", "--workers", "0"},
		{"embed", "../../testdata/images/*", "--out", out + ".npy", "--workers", "-1"},
		{"probe", "--raw-pixels", "--train", "x/*.png", "--test", "y/*.png", "--batch", "0"},
		{"probe", "--raw-pixels", "--train", "x/*.png", "--test", "y/*.png", "--workers", "-2"},
		{"pretrain", "--idx", "x.gz", "--out", out + ".swav", "--batch-size", "0"},
		{"pretrain", "--idx", "x.gz", "--out", out + ".swav", "--batch-size", "-64"},
		{"pretrain", "--idx", "x.gz", "--out", out + ".swav", "--workers", "0"},
		{"pretrain", "--idx", "x.gz", "--out", out + ".swav", "--workers", "-1"},
		{"pretrain", "--idx", "x.gz", "--out", out + ".swav", "--steps", "0"},
		{"pretrain", "--idx", "x.gz", "--out", out + ".swav", "--steps", "-5"},
		{"export", "m.swav", "--out", out + ".swav", "--bn-images", "0"},
		{"predict", "--probe", "p.swav", "../../testdata/images/*", "--out", out + ".csv", "--batch-size", "0"},
		{"predict", "--probe", "p.swav", "../../testdata/images/*", "--out", out + ".csv", "--workers", "-1"},
		{"cluster", "../../testdata/images/*", "--out", out + ".csv", "--batch-size", "-1"},
		{"cluster", "../../testdata/images/*", "--out", out + ".csv", "--workers", "0"},
		{"bench", "pretrain", "--batch", "0"},
		{"bench", "pretrain", "--steps", "-1"},
		{"bench", "pretrain", "--nmb-prototypes", "0"},
		{"bench", "embed", "--batch", "-8"},
		{"bench", "embed", "--batches", "0"},
	} {
		flag, value := args[len(args)-2], args[len(args)-1]
		mustFail(t, 2*time.Second, args, flag+" is "+value, "at least 1")
	}
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("refused commands wrote %q", got)
	}
	// The defaults pass the check.
	for _, cmd := range []string{"embed", "probe", "pretrain", "export", "predict", "cluster"} {
		root := newRoot()
		c, _, err := root.Find([]string{cmd})
		if err != nil {
			t.Fatal(err)
		}
		if err := checkCountFlags(c); err != nil {
			t.Errorf("%s with its default flags: %v", cmd, err)
		}
	}
}
