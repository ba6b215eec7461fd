package main

import (
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swav-go/swav/embedio"
)

// TestDedupPlantedEmbeddings: an embeddings file whose vectors are random except for two
// planted groups of near-copies; dedup must report exactly those groups, and draw one
// contact sheet per group.
func TestDedupPlantedEmbeddings(t *testing.T) {
	dir := t.TempDir()
	images, err := filepath.Glob("../../testdata/images/*")
	if err != nil || len(images) != 9 {
		t.Fatalf("testdata/images: %v %v", images, err)
	}
	rng := rand.New(rand.NewPCG(31, 32))
	vecs := make([][]float32, len(images))
	for i := range vecs {
		vecs[i] = make([]float32, 32)
		for j := range vecs[i] {
			vecs[i][j] = float32(rng.NormFloat64())
		}
	}
	groups := [][]int{{0, 5}, {2, 3, 8}}
	for _, g := range groups {
		for _, i := range g[1:] {
			for j := range vecs[i] {
				vecs[i][j] = vecs[g[0]][j] + float32(0.05*rng.NormFloat64())
			}
		}
	}
	emb := filepath.Join(dir, "planted.jsonl")
	w, err := embedio.Create(emb, embedio.FormatJSONL, 32)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range images {
		if err := w.Write(p, vecs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "groups.csv")
	sheets := filepath.Join(dir, "sheets")
	if _, _, err := runOut(t, "dedup", "--emb", emb, "--threshold", "0.9", "--out", out, "--sheets", sheets); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var want []string
	for gi, g := range groups {
		for k, i := range g {
			line := strings.Join([]string{string(rune('1' + gi)), images[i]}, ",")
			if k == 0 {
				line += ",1.0000"
			}
			want = append(want, line)
		}
	}
	if len(lines) != len(want)+1 || lines[0] != "group,path,similarity" {
		t.Fatalf("groups CSV:\n%s\nwant the header and %d members", b, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i+1], w) {
			t.Errorf("line %d = %q, want %q…", i+2, lines[i+1], w)
		}
	}
	entries, err := os.ReadDir(sheets)
	if err != nil || len(entries) != 2 {
		t.Fatalf("sheets: %v %v, want 2 files", entries, err)
	}
	for k, e := range entries {
		if want := []string{"group-0001.png", "group-0002.png"}[k]; e.Name() != want {
			t.Errorf("sheet %d named %s, want %s", k, e.Name(), want)
		}
		f, err := os.Open(filepath.Join(sheets, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		// 64-px cells, 4-px gaps: at least one cell per member, side by side.
		if n := len(groups[k]); err != nil || cfg.Width < n*64 || cfg.Height < 64 {
			t.Errorf("%s: %+v %v, want a PNG at least %d×64", e.Name(), cfg, err, n*64)
		}
	}
	// A threshold above every pair leaves no group.
	stdout, stderr, err := runOut(t, "dedup", "--emb", emb, "--threshold", "0.9999", "--out", "-")
	if err != nil || stdout != "group,path,similarity\n" || !strings.Contains(stderr, "0 groups") {
		t.Errorf("threshold 0.9999: %v %q %q", err, stdout, stderr)
	}
}

// TestDedupImages embeds files: two byte-identical copies are one group.
func TestDedupImages(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{"a.jpg": "sunset.jpg", "b.jpg": "sunset.jpg", "c.png": "moon.png", "d.png": "balloon.png"} {
		data, err := os.ReadFile(filepath.Join("../../testdata/images", src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdout, _, err := runOut(t, "dedup", filepath.Join(dir, "*"), "--threshold", "0.9999", "--out", "-")
	if err != nil {
		t.Fatal(err)
	}
	want := "group,path,similarity\n1," + filepath.Join(dir, "a.jpg") + ",1.0000\n1," + filepath.Join(dir, "b.jpg") + ",1.0000\n"
	if stdout != want {
		t.Errorf("dedup of files:\n%s\nwant:\n%s", stdout, want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dedup", filepath.Join(dir, "*")}, "--out is required"},
		{[]string{"dedup", "--out", "-"}, "not both and not neither"},
		{[]string{"dedup", filepath.Join(dir, "*"), "--out", "-", "--threshold", "1.5"}, "--threshold 1.5"},
	} {
		if _, _, err := runOut(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
