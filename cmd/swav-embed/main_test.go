package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio"
	"codeberg.org/sbinet/npyio/npy"
)

// run executes the CLI in-process.
func run(t *testing.T, args ...string) error {
	t.Helper()
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	return root.ExecuteContext(context.Background())
}

func TestEmbedNPY(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "emb.npy")
	// The sample images plus every kind of bad input: the run finishes with the rest.
	if err := run(t, "embed", "../../testdata/images/*", "../../imageio/testdata/bad/*", "--out", out, "--batch", "4"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := npy.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Trim(r.Header.Descr.Type, "'") != "<f4" || r.Header.Descr.Fortran || len(r.Header.Descr.Shape) != 2 || r.Header.Descr.Shape[1] != 128 {
		t.Fatalf("header %+v, want <f4, C order, (N, 128)", r.Header.Descr)
	}
	var data []float32
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	if err := npyio.Read(f, &data); err != nil {
		t.Fatal(err)
	}
	images, _ := filepath.Glob("../../testdata/images/*")
	n := r.Header.Descr.Shape[0]
	if n != len(images) || len(data) != n*128 {
		t.Fatalf("%d rows (%d values), want %d images", n, len(data), len(images))
	}
	paths, err := os.ReadFile(out + ".paths.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(paths), "\n"); got != n {
		t.Errorf("sidecar has %d paths, want %d", got, n)
	}
	if strings.Contains(string(paths), "/bad/") {
		t.Errorf("bad files listed in the sidecar:\n%s", paths)
	}
}

func TestEmbedFailOnError(t *testing.T) {
	out := filepath.Join(t.TempDir(), "emb.csv")
	err := run(t, "embed", "../../imageio/testdata/bad/truncated.png", "../../testdata/images/sunset.jpg", "--out", out, "--on-error", "fail")
	if err == nil || !strings.Contains(err.Error(), "truncated.png") {
		t.Fatalf("error %v, want one naming truncated.png", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed run left %s", out)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
		t.Errorf("a failed run left %d files", len(entries))
	}
}

func TestEmbedBadPattern(t *testing.T) {
	err := run(t, "embed", "no-such-dir/*.jpg", "--out", filepath.Join(t.TempDir(), "e.jsonl"))
	if err == nil || !strings.Contains(err.Error(), "no-such-dir/*.jpg") {
		t.Fatalf("error %v, want one naming the pattern", err)
	}
}

// writeClass writes n small noisy PNGs of one class: bright on the left half (left=true)
// or on the right half.
func writeClass(t *testing.T, dir, class string, left bool, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, class), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for p := range img.Pix {
			v := uint8((p*7 + i*13) % 40)
			if (p%28 < 14) == left {
				v += 180
			}
			img.Pix[p] = v
		}
		f, err := os.Create(filepath.Join(dir, class, string(rune('a'+i))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

func TestProbeRawPixelsOnFolders(t *testing.T) {
	dir := t.TempDir()
	for _, split := range []string{"train", "test"} {
		writeClass(t, filepath.Join(dir, split), "left", true, 8)
		writeClass(t, filepath.Join(dir, split), "right", false, 8)
	}
	report := filepath.Join(dir, "report.json")
	err := run(t, "probe", "--raw-pixels", "--train", filepath.Join(dir, "train/**/*.png"), "--test", filepath.Join(dir, "test/**/*.png"),
		"--knn", "--report", report, "--epochs", "5")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), `"top1": 1,`) != 3 {
		t.Errorf("linear, kNN-20 and kNN-200 do not all separate the two classes:\n%s", b)
	}
}

func TestPretrainFlagsErrors(t *testing.T) {
	if err := run(t, "pretrain", "--idx", "x.gz"); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("missing --out: %v", err)
	}
	if err := run(t, "pretrain", "--data", "a/*.png", "--idx", "x.gz", "--out", "m.swav"); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("--data and --idx: %v", err)
	}
}

// TestProbeFromSavedEmbeddings: embed labelled folders to .npy, then probe from the files.
func TestProbeFromSavedEmbeddings(t *testing.T) {
	dir := t.TempDir()
	for _, split := range []string{"train", "test"} {
		writeClass(t, filepath.Join(dir, split), "left", true, 6)
		writeClass(t, filepath.Join(dir, split), "right", false, 6)
		if err := run(t, "embed", filepath.Join(dir, split, "**/*.png"), "--out", filepath.Join(dir, split+".npy")); err != nil {
			t.Fatal(err)
		}
	}
	report := filepath.Join(dir, "report.json")
	if err := run(t, "probe", "--train-emb", filepath.Join(dir, "train.npy"), "--test-emb", filepath.Join(dir, "test.npy"),
		"--epochs", "5", "--report", report); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"n": 12`) || !strings.Contains(string(b), `"left"`) {
		t.Errorf("report does not cover the 12 test embeddings of classes left/right:\n%s", b)
	}
}

func TestInspect(t *testing.T) {
	root := newRoot()
	var out bytes.Buffer
	root.SetArgs([]string{"inspect", "../../infer/testdata/tiny.swav"})
	root.SetOut(&out)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind": "swav-model"`, `"input_size": 28`, "tensors,"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(t, "inspect", "../../imageio/testdata/bad/notimage.jpg"); err == nil || !strings.Contains(err.Error(), "notimage.jpg") {
		t.Errorf("inspect of a non-checkpoint: %v", err)
	}
}

// TestPretrainExportEmbed runs the whole CLI path on a tiny folder: pretrain two steps,
// resume to a third, export as float16, embed with the export.
func TestPretrainExportEmbed(t *testing.T) {
	dir := t.TempDir()
	writeClass(t, filepath.Join(dir, "imgs"), "a", true, 8)
	writeClass(t, filepath.Join(dir, "imgs"), "b", false, 8)
	ckpt := filepath.Join(dir, "m.swav")
	args := []string{"pretrain", "--data", filepath.Join(dir, "imgs/**/*.png"), "--out", ckpt, "--arch", "small",
		"--batch-size", "8", "--epochs", "2", "--nmb-prototypes", "20", "--queue-length", "16", "--epoch-queue-starts", "0"}
	if err := run(t, append(args, "--max-steps", "2")...); err != nil {
		t.Fatal(err)
	}
	if err := run(t, append(args, "--max-steps", "3", "--resume")...); err != nil {
		t.Fatal(err)
	}
	rows, err := os.ReadFile(ckpt + ".metrics.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(rows), "\n"); n != 3 {
		t.Errorf("%d metric rows after a resumed run of 3 steps", n)
	}
	export := filepath.Join(dir, "m16.swav")
	if err := run(t, "export", ckpt, "--out", export, "--float16"); err != nil {
		t.Fatal(err)
	}
	big, _ := os.Stat(ckpt)
	small, _ := os.Stat(export)
	if small.Size() >= big.Size()/2 {
		t.Errorf("float16 export %d bytes, training checkpoint %d: want less than half", small.Size(), big.Size())
	}
	out := filepath.Join(dir, "e.jsonl")
	if err := run(t, "embed", "--model", export, filepath.Join(dir, "imgs/**/*.png"), "--out", out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 16 {
		t.Errorf("%d embeddings, want 16", n)
	}
}
