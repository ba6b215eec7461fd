package main

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestMapFolderLabels maps two labelled folders: the PNG has the asked size and the
// points CSV is a centred PCA (mean 0, first axis with the larger variance) whose first
// axis separates the dark folder from the bright one.
func TestMapFolderLabels(t *testing.T) {
	dir := t.TempDir()
	writeFlat(t, filepath.Join(dir, "imgs"), "dark", 10, 6)
	writeFlat(t, filepath.Join(dir, "imgs"), "bright", 230, 6)
	out, points := filepath.Join(dir, "map.png"), filepath.Join(dir, "points.csv")
	if err := run(t, "map", "--folder-labels", filepath.Join(dir, "imgs/**/*.png"), "--out", out, "--points", points,
		"--width", "500", "--height", "400"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(f)
	f.Close()
	if err != nil || cfg.Width != 500 || cfg.Height != 400 {
		t.Errorf("map PNG %+v %v, want 500×400", cfg, err)
	}
	rows := readCSV(t, points)
	if strings.Join(rows[0], ",") != "path,x,y,group" || len(rows) != 13 {
		t.Fatalf("points header %v, %d rows", rows[0], len(rows)-1)
	}
	var sx, sy, sxx, syy float64
	minX := map[string]float64{"dark": math.Inf(1), "bright": math.Inf(1)}
	maxX := map[string]float64{"dark": math.Inf(-1), "bright": math.Inf(-1)}
	for _, r := range rows[1:] {
		x, _ := strconv.ParseFloat(r[1], 64)
		y, _ := strconv.ParseFloat(r[2], 64)
		sx, sy, sxx, syy = sx+x, sy+y, sxx+x*x, syy+y*y
		if r[3] != filepath.Base(filepath.Dir(r[0])) {
			t.Errorf("row %v: group is not the folder", r)
		}
		minX[r[3]], maxX[r[3]] = min(minX[r[3]], x), max(maxX[r[3]], x)
	}
	if math.Abs(sx/12) > 1e-4 || math.Abs(sy/12) > 1e-4 || sxx < syy {
		t.Errorf("points not a centred PCA: means %v, %v; sums of squares %v, %v", sx/12, sy/12, sxx, syy)
	}
	if !(maxX["dark"] < minX["bright"] || maxX["bright"] < minX["dark"]) {
		t.Errorf("the first axis does not separate the folders: dark in [%v, %v], bright in [%v, %v]",
			minX["dark"], maxX["dark"], minX["bright"], maxX["bright"])
	}
}

// TestMapIDXByCluster maps an IDX file coloured by k-means clusters.
func TestMapIDXByCluster(t *testing.T) {
	dir := t.TempDir()
	images := writeIDX(t, dir, 10, func(i int) byte { return byte(i * 25) }, func(i int) byte { return byte(i % 2) })
	out, points := filepath.Join(dir, "map.png"), filepath.Join(dir, "p.csv")
	if err := run(t, "map", "--idx", images, "--color", "cluster", "--k", "3", "--out", out, "--points", points); err != nil {
		t.Fatal(err)
	}
	groups := map[string]int{}
	for _, r := range readCSV(t, points)[1:] {
		groups[r[3]]++
	}
	if len(groups) != 3 || groups["cluster 0"]+groups["cluster 1"]+groups["cluster 2"] != 10 {
		t.Errorf("groups %v, want 10 points in clusters 0, 1 and 2", groups)
	}
	if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}
}

func TestMapErrors(t *testing.T) {
	dir := t.TempDir()
	imgs := "../../testdata/images/*"
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no --out", []string{"map", imgs}, "--out"},
		{"not a PNG", []string{"map", imgs, "--out", filepath.Join(dir, "m.jpg")}, ".png"},
		{"t-SNE", []string{"map", imgs, "--out", filepath.Join(dir, "m.png"), "--method", "tsne"}, "pca"},
		{"bad colour", []string{"map", imgs, "--out", filepath.Join(dir, "m.png"), "--color", "size"}, "label, cluster, none"},
		{"labels needed", []string{"map", imgs, "--out", filepath.Join(dir, "m.png"), "--color", "label"}, "needs labels"},
		{"one image", []string{"map", "../../testdata/images/moon.png", "--out", filepath.Join(dir, "m.png")}, "at least 2"},
		{"folder labels on a flat folder", []string{"map", "--folder-labels", imgs, "--out", filepath.Join(dir, "m.png")}, "class folder"},
	} {
		if err := run(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed runs left %d files", len(entries))
	}
}
