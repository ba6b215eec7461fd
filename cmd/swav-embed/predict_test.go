package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/linearprobe"
)

// trainProbe trains a probe with the CLI on folders left/ and right/ (8 images each)
// embedded by the default model, and returns its path and the test folder.
func trainProbe(t *testing.T) (probe, testDir string) {
	t.Helper()
	dir := t.TempDir()
	for _, split := range []string{"train", "test"} {
		writeClass(t, filepath.Join(dir, split), "left", true, 8)
		writeClass(t, filepath.Join(dir, split), "right", false, 8)
	}
	probe = filepath.Join(dir, "p.swav")
	if err := run(t, "probe", "--train", filepath.Join(dir, "train/**/*.png"), "--test", filepath.Join(dir, "test/**/*.png"),
		"--epochs", "10", "--save-probe", probe); err != nil {
		t.Fatal(err)
	}
	return probe, filepath.Join(dir, "test")
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

func TestPredictCSVMatchesTheGoAPI(t *testing.T) {
	probePath, testDir := trainProbe(t)
	out := filepath.Join(t.TempDir(), "preds.csv")
	// The 16 test images plus an undecodable file: reported, left out, the run goes on.
	if err := run(t, "predict", "--probe", probePath, filepath.Join(testDir, "**/*.png"), "../../imageio/testdata/bad/truncated.png",
		"--out", out, "--top-k", "5"); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, out)
	// --top-k 5 is clamped to the probe's 2 classes.
	if got := strings.Join(rows[0], ","); got != "path,class,probability,class_2,probability_2" {
		t.Fatalf("header %q", got)
	}
	if len(rows) != 1+16 {
		t.Fatalf("%d rows, want a header and 16 predictions", len(rows))
	}
	// The same predictions through the Go API: model, EmbedFiles, Probe.TopK.
	probe, err := linearprobe.LoadProbe(probePath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := swav.LoadDefault(swav.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range rows[1:] {
		paths = append(paths, r[0])
	}
	res, err := m.EmbedFiles(context.Background(), paths)
	if err != nil || res.Err() != nil {
		t.Fatal(err, res.Err())
	}
	vecs := res.Vectors
	correct := 0
	for i, r := range rows[1:] {
		if strings.Contains(r[0], "truncated") {
			t.Fatalf("the bad file has a row: %v", r)
		}
		top, err := probe.TopK(vecs[i], 2)
		if err != nil {
			t.Fatal(err)
		}
		p1, _ := strconv.ParseFloat(r[2], 64)
		p2, _ := strconv.ParseFloat(r[4], 64)
		if r[1] != top[0].Class || r[3] != top[1].Class || math.Abs(p1-float64(top[0].Probability)) > 1e-5 || math.Abs(p2-float64(top[1].Probability)) > 1e-5 {
			t.Errorf("%s: CLI %v, Go API %+v", r[0], r[1:], top)
		}
		if p1 < p2 || math.Abs(p1+p2-1) > 1e-4 {
			t.Errorf("%s: probabilities %v, %v are not ranked or do not sum to 1", r[0], p1, p2)
		}
		if filepath.Base(filepath.Dir(r[0])) == r[1] {
			correct++
		}
	}
	// The two classes (bright left or right half) are far apart: the probe separates them.
	if correct < 15 {
		t.Errorf("%d of 16 test images classified as their folder", correct)
	}
}

func TestPredictJSONLAndStdout(t *testing.T) {
	probePath, testDir := trainProbe(t)
	out := filepath.Join(t.TempDir(), "preds.jsonl")
	if err := run(t, "predict", "--probe", probePath, filepath.Join(testDir, "left/*.png"), "--out", out, "--top-k", "1"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		var row struct {
			Path  string `json:"path"`
			Class string `json:"class"`
			Top   []struct {
				Index       int     `json:"index"`
				Class       string  `json:"class"`
				Probability float64 `json:"probability"`
			} `json:"top"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if len(row.Top) != 1 || row.Top[0].Class != row.Class || row.Top[0].Probability <= 0.5 || !strings.HasSuffix(row.Path, ".png") {
			t.Errorf("line %d: %+v", n+1, row)
		}
	}
	if n != 8 {
		t.Errorf("%d JSONL lines, want 8", n)
	}

	// No --out: CSV on standard output.
	stdout := filepath.Join(t.TempDir(), "stdout")
	sf, err := os.Create(stdout)
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = sf
	err = run(t, "predict", "--probe", probePath, filepath.Join(testDir, "right/a.png"))
	os.Stdout = saved
	sf.Close()
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, stdout)
	if len(rows) != 2 || rows[0][0] != "path" || !strings.HasSuffix(rows[1][0], "a.png") || len(rows[1]) != 5 {
		t.Errorf("standard output: %v", rows)
	}
}

func TestPredictErrors(t *testing.T) {
	probePath, testDir := trainProbe(t)
	dir := t.TempDir()
	imgs := filepath.Join(testDir, "**/*.png")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no probe", []string{"predict", imgs}, "--probe"},
		// The probe was trained on the default model's 128-d features; tiny.swav gives 8.
		{"other model", []string{"predict", "--probe", probePath, "--model", "../../infer/testdata/tiny.swav", imgs}, "128-dimensional"},
		// Same length (the default model's projection is 128-d too), other vectors.
		{"other vectors", []string{"predict", "--probe", probePath, "--vectors", "projection", imgs}, "features vectors of embedded:models/default.swav"},
		{"a model as the probe", []string{"predict", "--probe", "../../infer/testdata/tiny.swav", imgs}, "linear-probe"},
		{"bad extension", []string{"predict", "--probe", probePath, imgs, "--out", filepath.Join(dir, "p.npy")}, ".csv or .jsonl"},
		{"format contradicts", []string{"predict", "--probe", probePath, imgs, "--out", filepath.Join(dir, "p.csv"), "--format", "jsonl"}, "contradicts"},
		{"top-k 0", []string{"predict", "--probe", probePath, imgs, "--top-k", "0"}, "--top-k"},
		{"fail on a bad file", []string{"predict", "--probe", probePath, "../../imageio/testdata/bad/truncated.png", imgs,
			"--on-error", "fail", "--out", filepath.Join(dir, "f.csv")}, "truncated.png"},
		{"only bad files", []string{"predict", "--probe", probePath, "../../imageio/testdata/bad/truncated.png", "--out", filepath.Join(dir, "g.csv")}, "no image"},
	} {
		if err := run(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed runs left %d files in the output directory", len(entries))
	}
}

// perturbed writes a copy of the default model whose first convolution's weights are
// scaled elementwise by 1 + scale·r, r a fixed ±1 pattern.
func perturbed(t *testing.T, dir string, scale float32) string {
	t.Helper()
	f, err := checkpoint.Load("../../models/default.swav")
	if err != nil {
		t.Fatal(err)
	}
	changed := false
	for i, ten := range f.Tensors {
		if len(ten.Shape) != 4 || changed {
			continue
		}
		v, err := ten.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		for j := range v {
			v[j] *= 1 + scale*float32(1-2*(j*7%3%2))
		}
		f.Tensors[i] = checkpoint.Float32Tensor(ten.Name, ten.Shape, v)
		changed = true
	}
	if !changed {
		t.Fatal("the default model has no rank-4 tensor")
	}
	path := filepath.Join(dir, fmt.Sprintf("perturbed-%g.swav", scale))
	if err := checkpoint.Save(path, f, checkpoint.EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPredictChecksTheModel: a saved probe records its model's fingerprint; predict
// accepts the same model (a float32 copy with rounding-sized changes) and refuses a
// model of the same shape that computes other vectors, naming the one to use.
func TestPredictChecksTheModel(t *testing.T) {
	probePath, testDir := trainProbe(t)
	p, err := linearprobe.LoadProbe(probePath)
	if err != nil {
		t.Fatal(err)
	}
	if p.Source == nil || p.Source.Model != swav.DefaultModelName || p.Source.Vectors != "features" ||
		len(p.Source.Fingerprint) != 4*128 {
		t.Fatalf("saved probe's source: %+v", p.Source)
	}
	dir := t.TempDir()
	imgs := filepath.Join(testDir, "**/*.png")
	near := perturbed(t, dir, 1e-3)
	if err := run(t, "predict", "--probe", probePath, "--model", near, imgs, "--out", filepath.Join(dir, "near.csv")); err != nil {
		t.Errorf("a model within rounding of the probe's was refused: %v", err)
	}
	far := perturbed(t, dir, 0.9)
	err = run(t, "predict", "--probe", probePath, "--model", far, imgs, "--out", filepath.Join(dir, "far.csv"))
	if !errors.Is(err, linearprobe.ErrSourceMismatch) || !strings.Contains(err.Error(), "computes different vectors") ||
		!strings.Contains(err.Error(), "--model "+swav.DefaultModelName) {
		t.Errorf("another model of the same shape: %v", err)
	}
	t.Logf("refused as: %v", err)
}
