package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/swav-go/swav/cluster"
	"github.com/swav-go/swav/infer"
)

// writeFlat writes n 28×28 grayscale PNGs of one class, all near the value v (a little
// noise so that no two are identical).
func writeFlat(t *testing.T, dir, class string, v uint8, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, class), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for p := range img.Pix {
			img.Pix[p] = v + uint8((p*31+i*7)%9)
		}
		f, err := os.Create(filepath.Join(dir, class, strconv.Itoa(i)+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// writeIDX writes an uncompressed IDX image file of n 28×28 images, image i filled with
// pixel(i), and the matching labels file (named as Fashion-MNIST's are) with label(i).
func writeIDX(t *testing.T, dir string, n int, pixel, label func(i int) byte) (images string) {
	t.Helper()
	images = filepath.Join(dir, "toy-images-idx3-ubyte")
	img := binary.BigEndian.AppendUint32(nil, 0x803)
	for _, d := range []uint32{uint32(n), 28, 28} {
		img = binary.BigEndian.AppendUint32(img, d)
	}
	lab := binary.BigEndian.AppendUint32(nil, 0x801)
	lab = binary.BigEndian.AppendUint32(lab, uint32(n))
	for i := range n {
		for p := range 28 * 28 {
			img = append(img, pixel(i)+byte(p%5))
		}
		lab = append(lab, label(i))
	}
	if err := os.WriteFile(images, img, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "toy-labels-idx1-ubyte"), lab, 0o644); err != nil {
		t.Fatal(err)
	}
	return images
}

func readReport(t *testing.T, path string) clusterReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r clusterReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// TestClusterKMeansSeparatesDarkAndBright: k-means (k=2) on folders of dark and bright
// images finds the folders exactly; the CSV, report and contact sheets agree.
func TestClusterKMeansSeparatesDarkAndBright(t *testing.T) {
	dir := t.TempDir()
	writeFlat(t, filepath.Join(dir, "imgs"), "dark", 10, 6)
	writeFlat(t, filepath.Join(dir, "imgs"), "bright", 230, 6)
	out, report, sheets, sheet := filepath.Join(dir, "c.csv"), filepath.Join(dir, "r.json"), filepath.Join(dir, "sheets"), filepath.Join(dir, "all.png")
	if err := run(t, "cluster", "--folder-labels", filepath.Join(dir, "imgs/**/*.png"), "--method", "kmeans", "--k", "2",
		"--out", out, "--report", report, "--sheets", sheets, "--sheet", sheet, "--per-cluster", "4"); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, out)
	if strings.Join(rows[0], ",") != "path,cluster,score,label" || len(rows) != 13 {
		t.Fatalf("header %v and %d rows, want path,cluster,score,label and 12 rows", rows[0], len(rows)-1)
	}
	byFolder := map[string]string{}
	for _, r := range rows[1:] {
		if r[3] != filepath.Base(filepath.Dir(r[0])) {
			t.Errorf("row %v: label is not the folder", r)
		}
		if c, ok := byFolder[r[3]]; ok && c != r[1] {
			t.Errorf("folder %s split across clusters %s and %s", r[3], c, r[1])
		}
		byFolder[r[3]] = r[1]
		if s, err := strconv.ParseFloat(r[2], 64); err != nil || s < -1 || s > 1.000001 {
			t.Errorf("row %v: score is not a cosine similarity", r)
		}
	}
	if byFolder["dark"] == byFolder["bright"] {
		t.Errorf("dark and bright share cluster %s", byFolder["dark"])
	}
	rep := readReport(t, report)
	if rep.Images != 12 || rep.Clusters != 2 || rep.NonEmpty != 2 || rep.Sizes[0] != 6 || rep.Sizes[1] != 6 ||
		rep.Purity == nil || *rep.Purity != 1 || math.Abs(*rep.NMI-1) > 1e-12 {
		t.Errorf("report %+v, want 12 images in clusters of 6 and 6, purity and NMI 1", rep)
	}
	// One sheet per cluster: 4 thumbnails of 96 px in one row under a caption.
	for c := range 2 {
		f, err := os.Open(filepath.Join(sheets, "cluster-00"+strconv.Itoa(c)+".png"))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != 4+4*(96+4) || cfg.Height != 4+19+96+4 {
			t.Errorf("sheet of cluster %d: %+v %v, want %d×%d", c, cfg, err, 4+4*100, 4+19+96+4)
		}
	}
	// The combined sheet: a row (caption and 4 thumbnails of 48 px) per cluster.
	f, err := os.Open(sheet)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width != 4+4*52 || cfg.Height != 4+2*(19+48+4) {
		t.Errorf("combined sheet %+v %v, want %d×%d", cfg, err, 4+4*52, 4+2*71)
	}
}

// TestClusterPrototypesMatchTheModel checks prototype assignment on tiny.swav against the
// model's projection and prototypes computed through package infer.
func TestClusterPrototypesMatchTheModel(t *testing.T) {
	const model = "../../infer/testdata/tiny.swav"
	dir := t.TempDir()
	images := writeIDX(t, dir, 12, func(i int) byte { return byte(i * 20) }, func(i int) byte { return byte(i % 3) })
	out, report := filepath.Join(dir, "c.jsonl"), filepath.Join(dir, "r.json")
	if err := run(t, "cluster", "--model", model, "--idx", images, "--class-names", "a,b,c", "--out", out, "--report", report); err != nil {
		t.Fatal(err)
	}
	m, err := infer.Load(model, infer.Options{Output: infer.Projection})
	if err != nil {
		t.Fatal(err)
	}
	protos, err := m.Prototypes()
	if err != nil || len(protos) != 10 {
		t.Fatalf("%d prototypes, %v", len(protos), err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 12 {
		t.Fatalf("%d JSONL lines, want 12", len(lines))
	}
	var pred, labels []int
	for i, line := range lines {
		var r clusterRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Path != "toy-images-idx3-ubyte#"+strconv.Itoa(i) || r.Label != []string{"a", "b", "c"}[i%3] {
			t.Errorf("line %d: %+v", i, r)
		}
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for p := range img.Pix {
			img.Pix[p] = byte(i*20) + byte(p%5)
		}
		z, err := m.Embed(context.Background(), []image.Image{img})
		if err != nil {
			t.Fatal(err)
		}
		best, bestS := -1, math.Inf(-1)
		for k, c := range protos {
			var s float64
			for j := range c {
				s += float64(z[0][j]) * float64(c[j])
			}
			if s > bestS {
				best, bestS = k, s
			}
		}
		if r.Cluster != best || math.Abs(float64(r.Score)-bestS) > 1e-5 {
			t.Errorf("image %d: cluster %d score %v, want prototype %d at %v", i, r.Cluster, r.Score, best, bestS)
		}
		pred, labels = append(pred, r.Cluster), append(labels, i%3)
	}
	// --limit keeps the first images only.
	limited := filepath.Join(dir, "l.csv")
	if err := run(t, "cluster", "--model", model, "--idx", images, "--limit", "5", "--out", limited); err != nil {
		t.Fatal(err)
	}
	if rows := readCSV(t, limited); len(rows) != 6 || rows[5][0] != "toy-images-idx3-ubyte#4" {
		t.Errorf("--limit 5: %v", rows)
	}
	rep := readReport(t, report)
	wantP, _ := cluster.Purity(pred, labels)
	wantN, _ := cluster.NMI(pred, labels)
	if rep.Method != "prototypes" || rep.Clusters != 10 || rep.Purity == nil || *rep.Purity != wantP || *rep.NMI != wantN {
		t.Errorf("report %+v, want 10 prototype clusters, purity %v, NMI %v", rep, wantP, wantN)
	}
}

func TestClusterErrors(t *testing.T) {
	dir := t.TempDir()
	imgs := "../../testdata/images/*"
	idx := writeIDX(t, t.TempDir(), 4, func(i int) byte { return byte(i) }, func(i int) byte { return byte(i) }) // labels 0-3
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no --out", []string{"cluster", imgs}, "--out"},
		{"bad method", []string{"cluster", imgs, "--out", "-", "--method", "dbscan"}, "prototypes, kmeans"},
		{"--k with prototypes", []string{"cluster", imgs, "--out", "-", "--k", "3"}, "--k applies"},
		{"k beyond the images", []string{"cluster", imgs, "--out", filepath.Join(dir, "a.csv"), "--method", "kmeans", "--k", "50"}, "exceeds"},
		{"no input", []string{"cluster", "--out", "-"}, "globs"},
		{"globs and idx", []string{"cluster", imgs, "--idx", "x", "--out", "-"}, "not both"},
		{"labels without idx", []string{"cluster", imgs, "--labels", "x", "--out", "-"}, "--labels goes with --idx"},
		{"folder labels with idx", []string{"cluster", "--idx", "x", "--folder-labels", "--out", "-"}, "--folder-labels goes with a glob"},
		{"negative limit", []string{"cluster", imgs, "--limit", "-1", "--out", "-"}, "--limit"},
		{"too few class names", []string{"cluster", "--idx", idx, "--class-names", "a,b", "--out", "-"}, "gives 2 names"},
		{"bad extension", []string{"cluster", imgs, "--out", filepath.Join(dir, "a.txt")}, ".csv or .jsonl"},
	} {
		if err := run(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed runs left %d files", len(entries))
	}
}
