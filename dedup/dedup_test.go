package dedup

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/swav-go/swav/neighbors"
)

// planted returns 300 random 64-d vectors (pairwise cosine about 0 ± 0.13) in which rows
// of want are near-copies of their group's first row (noise of cosine ≈ 0.99).
func planted(t *testing.T) (*neighbors.Set, [][]int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(21, 22))
	const n, dim = 300, 64
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = float32(rng.NormFloat64())
		}
	}
	want := [][]int{{3, 150}, {10, 11, 200, 299}, {42, 43, 44}}
	for _, g := range want {
		for _, i := range g[1:] {
			for j := range vecs[i] {
				vecs[i][j] = vecs[g[0]][j] + float32(0.1*rng.NormFloat64())
			}
		}
	}
	paths := make([]string, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("img/%03d.png", i)
	}
	s, err := neighbors.NewSet(paths, vecs)
	if err != nil {
		t.Fatal(err)
	}
	return s, want
}

func rows(groups []Group) [][]int {
	var out [][]int
	for _, g := range groups {
		var r []int
		for _, m := range g {
			r = append(r, m.Index)
		}
		out = append(out, r)
	}
	return out
}

func TestFindPlantedGroups(t *testing.T) {
	s, want := planted(t)
	ix, err := neighbors.Build(context.Background(), s, neighbors.IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, sr := range map[string]neighbors.Searcher{"exact": nil, "index": ix} {
		groups, err := Find(context.Background(), s, Options{Threshold: 0.9, Searcher: sr, Workers: 3})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(rows(groups)) != fmt.Sprint(want) {
			t.Errorf("%s: groups %v, want %v", name, rows(groups), want)
			continue
		}
		for _, g := range groups {
			if g[0].Similarity != 1 || g[0].Path != s.Paths[g[0].Index] {
				t.Errorf("%s: first member %+v", name, g[0])
			}
			for _, m := range g[1:] {
				if m.Similarity < 0.9 || m.Similarity > 1 {
					t.Errorf("%s: member %+v: similarity to the first outside [0.9, 1]", name, m)
				}
			}
		}
	}
	// At a threshold above the copies' similarity nothing is a duplicate.
	groups, err := Find(context.Background(), s, Options{Threshold: 0.999})
	if err != nil || len(groups) != 0 {
		t.Errorf("threshold 0.999: %v %v, want no group", rows(groups), err)
	}
}

// TestFindChains: union-find joins a chain a–b–c even when a and c are below the
// threshold, and the CSV reports c's similarity to a.
func TestFindChains(t *testing.T) {
	// Unit vectors at 0°, 20°, 40° and 90°: cos 20° = 0.9397, cos 40° = 0.7660.
	s, err := neighbors.NewSet([]string{"a.png", "b.png", "c.png", "d.png"},
		[][]float32{{1, 0}, {0.9396926, 0.3420201}, {0.7660444, 0.6427876}, {0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := Find(context.Background(), s, Options{Threshold: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, groups); err != nil {
		t.Fatal(err)
	}
	want := "group,path,similarity\n1,a.png,1.0000\n1,b.png,0.9397\n1,c.png,0.7660\n"
	if b.String() != want {
		t.Errorf("CSV:\n%s\nwant:\n%s", b.String(), want)
	}
	if got := Sizes(groups); fmt.Sprint(got) != "[[3 1]]" {
		t.Errorf("Sizes = %v", got)
	}
}

func TestFindErrors(t *testing.T) {
	s, _ := planted(t)
	for _, th := range []float32{-1, 1.5} {
		if _, err := Find(context.Background(), s, Options{Threshold: th}); err == nil || !strings.Contains(err.Error(), "threshold") {
			t.Errorf("threshold %v: %v", th, err)
		}
	}
	other, _ := neighbors.NewSet([]string{"x"}, [][]float32{{1}})
	ix, err := neighbors.Build(context.Background(), other, neighbors.IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Find(context.Background(), s, Options{Searcher: ix}); err == nil {
		t.Error("an index of other embeddings was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Find(ctx, s, Options{}); err != context.Canceled {
		t.Errorf("cancelled: %v", err)
	}
}
