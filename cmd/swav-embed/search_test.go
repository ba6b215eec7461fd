package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio"
)

// runOut executes the CLI in-process and returns its standard output and error.
func runOut(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRoot()
	root.SetArgs(args)
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// embedImages embeds testdata/images with the default model into dir/emb.npy and returns
// the path, the listed paths and the raw vectors read back independently with npyio.
func embedImages(t *testing.T, dir string, globs ...string) (string, []string, [][]float32) {
	t.Helper()
	emb := filepath.Join(dir, "emb.npy")
	if len(globs) == 0 {
		globs = []string{"../../testdata/images/*"}
	}
	if err := run(t, append([]string{"embed", "--out", emb}, globs...)...); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(emb)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var flat []float32
	if err := npyio.Read(f, &flat); err != nil {
		t.Fatal(err)
	}
	side, err := os.ReadFile(emb + ".paths.txt")
	if err != nil {
		t.Fatal(err)
	}
	paths := strings.Split(strings.TrimSuffix(string(side), "\n"), "\n")
	dim := len(flat) / len(paths)
	vecs := make([][]float32, len(paths))
	for i := range vecs {
		vecs[i] = flat[i*dim : (i+1)*dim]
	}
	return emb, paths, vecs
}

func cos64(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

// readHits parses search's CSV output.
func readHits(t *testing.T, text string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "query,rank,path,similarity" {
		t.Fatalf("CSV header %v", recs)
	}
	return recs[1:]
}

func TestIndexAndSearchByPath(t *testing.T) {
	dir := t.TempDir()
	emb, paths, vecs := embedImages(t, dir)
	// Nine vectors: below the threshold no index is written unless forced.
	_, stderr, err := runOut(t, "index", emb)
	if err != nil || !strings.Contains(stderr, "no index written") {
		t.Fatalf("index of 9 vectors: %v, %q", err, stderr)
	}
	if _, err := os.Stat(emb + ".hnsw"); !os.IsNotExist(err) {
		t.Fatalf("an index was written below the threshold: %v", err)
	}
	// Exact search by path: the k most similar other images, by an independent ranking.
	query := paths[2]
	var want []int
	for i := range paths {
		if i != 2 {
			want = append(want, i)
		}
	}
	sort.SliceStable(want, func(a, b int) bool { return cos64(vecs[2], vecs[want[a]]) > cos64(vecs[2], vecs[want[b]]) })
	check := func(name, text string) {
		t.Helper()
		hits := readHits(t, text)
		if len(hits) != 4 {
			t.Fatalf("%s: %d hits, want 4:\n%s", name, len(hits), text)
		}
		for r, h := range hits {
			sim, _ := strconv.ParseFloat(h[3], 64)
			if h[0] != query || h[1] != strconv.Itoa(r+1) || h[2] != paths[want[r]] || math.Abs(sim-cos64(vecs[2], vecs[want[r]])) > 1e-5 {
				t.Errorf("%s: hit %d = %v, want rank %d %s at %.6f", name, r, h, r+1, paths[want[r]], cos64(vecs[2], vecs[want[r]]))
			}
		}
	}
	out, _, err := runOut(t, "search", "--emb", emb, "--path", query, "--k", "4", "--out", "-")
	if err != nil {
		t.Fatal(err)
	}
	check("exact", out)
	// With a forced index (found beside the file) the answers are the same.
	if _, _, err := runOut(t, "index", emb, "--force", "--m", "4"); err != nil {
		t.Fatal(err)
	}
	res := filepath.Join(dir, "hits.csv")
	if _, _, err := runOut(t, "search", "--emb", emb, "--path", query, "--k", "4", "--out", res); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	check("index", string(b))
	// The table names its columns and every hit.
	table, _, err := runOut(t, "search", "--emb", emb, "--path", query, "--k", "2")
	if err != nil || !strings.HasPrefix(table, "query") || strings.Count(table, "\n") != 3 || !strings.Contains(table, paths[want[0]]) {
		t.Errorf("table output (%v):\n%s", err, table)
	}
	// Re-embedding the file makes the index stale: refused when named, skipped otherwise.
	embedImages(t, dir, "../../testdata/images/*.png")
	if _, _, err := runOut(t, "search", "--emb", emb, "--index", emb+".hnsw", "--path", "../../testdata/images/moon.png"); err == nil ||
		!strings.Contains(err.Error(), "different embeddings") {
		t.Errorf("stale explicit index: %v", err)
	}
	_, stderr, err = runOut(t, "search", "--emb", emb, "--path", "../../testdata/images/moon.png", "--out", "-")
	if err != nil || !strings.Contains(stderr, "exact search") {
		t.Errorf("stale default index: %v, %q", err, stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"search", "--path", query}, "--emb is required"},
		{[]string{"search", "--emb", emb}, "not both and not neither"},
		{[]string{"search", "--emb", emb, "--path", "nope.png"}, "nope.png is not in"},
		{[]string{"search", "--emb", emb, "--path", query, "--out", "x.txt"}, "want a .csv or .jsonl"},
		{[]string{"search", "--emb", emb, "--path", query, "--k", "0"}, "--k 0"},
		{[]string{"index", filepath.Join(dir, "missing.npy")}, "missing.npy"},
	} {
		if _, _, err := runOut(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestSearchByImage(t *testing.T) {
	dir := t.TempDir()
	emb, _, _ := embedImages(t, dir)
	out := filepath.Join(dir, "hits.jsonl")
	if _, _, err := runOut(t, "search", "--emb", emb, "../../testdata/images/sunset.jpg", "../../testdata/images/leaf.gif", "--k", "3", "--out", out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d JSONL rows, want 2 queries × 3:\n%s", len(lines), b)
	}
	// An image that is in the file finds itself first, at similarity 1.
	for i, want := range map[int]string{0: "sunset.jpg", 3: "leaf.gif"} {
		var h hit
		if err := json.Unmarshal([]byte(lines[i]), &h); err != nil {
			t.Fatal(err)
		}
		if h.Rank != 1 || filepath.Base(h.Path) != want || h.Similarity < 0.9999 || !strings.HasSuffix(h.Query, want) {
			t.Errorf("row %d: %+v, want %s itself at rank 1, similarity 1", i, h, want)
		}
	}
	// The tiny model's 8-d features cannot be compared with the default model's 128.
	_, _, err = runOut(t, "search", "--emb", emb, "--model", "../../infer/testdata/tiny.swav", "../../testdata/images/sunset.jpg")
	if err == nil || !strings.Contains(err.Error(), "gives 8-d vectors (--vectors features) but") || !strings.Contains(err.Error(), "128-d") {
		t.Errorf("dimension mismatch: %v", err)
	}
}
