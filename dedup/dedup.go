// Package dedup groups near-duplicate images by their embeddings: every pair of rows
// whose cosine similarity reaches a threshold is joined (union-find), and each connected
// group of two or more rows is reported with its members' similarity to the group's
// first member.
//
// Pairs come from exhaustive search (every pair, exact) or, for large sets, from the K
// nearest neighbours of each row in a neighbors.Index (a group whose members are not
// within each other's K nearest can then be split, and approximate search may miss a
// pair; the transitive joins of union-find make both rare).
//
// DefaultThreshold (0.95) was chosen by measurement (go run ./dedup/calibrate): see its
// comment for what it separates, and what the default model cannot.
package dedup

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/swav-go/swav/neighbors"
)

// DefaultThreshold is the cosine similarity from which two images count as duplicates.
//
// Measured by `go run ./dedup/calibrate` with the embedded default model's features, each
// image against an augmented copy of itself (random crop keeping 80–95 % of each side,
// horizontal flip half the time, brightness and contrast ×U(0.8, 1.2), JPEG re-encoding
// at quality 60–90) and against every other image:
//
//   - the photos of testdata/images (9, five copies each): at 0.95 precision 1.000 and
//     recall 0.911 (no pair of different photos reaches 0.95; the best F1, 0.966, is at
//     0.947);
//   - the first 3000 Fashion-MNIST test images: at 0.95 recall 0.928 but precision 0.006:
//     the default model places 10 % of all pairs of different images at 0.95 or more
//     (same-class garments look alike to it), and raising the threshold only trades
//     recall away (the best F1, 0.027, is at 0.988: precision 0.014, recall 0.243). Its
//     projection output (best F1 0.056) and mean-centred features (0.035) do no better;
//     dedup of such images needs a model that tells instances apart.
//
// BENCHMARKS.md ("dedup") has the table. Another model needs its own measurement.
const DefaultThreshold = 0.95

// DefaultK is the number of neighbours asked of an index per row.
const DefaultK = 32

// Options configure Find; the zero value uses exact search at DefaultThreshold.
type Options struct {
	// Threshold is the cosine similarity from which two rows are duplicates
	// (default DefaultThreshold; it must be in (−1, 1]).
	Threshold float32
	// Searcher, when it is an approximate index, supplies each row's K nearest
	// neighbours; nil or a *neighbors.Exact compares every pair.
	Searcher neighbors.Searcher
	// K is the neighbours asked of an index per row (default DefaultK).
	K int
	// Workers search rows in parallel (default GOMAXPROCS).
	Workers int
}

// Member is one image of a group.
type Member struct {
	// Index is its row in the Set.
	Index int
	// Path is its file.
	Path string
	// Similarity is its cosine similarity to the group's first member (1 for the first).
	Similarity float32
}

// Group is a set of near-duplicates, members in row order.
type Group []Member

// Find returns the groups of near-duplicates of s: ordered by their first member's row,
// members in row order. Rows without a duplicate are in no group.
func Find(ctx context.Context, s *neighbors.Set, opts Options) ([]Group, error) {
	if opts.Threshold == 0 {
		opts.Threshold = DefaultThreshold
	}
	if !(opts.Threshold > -1 && opts.Threshold <= 1) {
		return nil, fmt.Errorf("dedup: threshold %v outside (−1, 1]", opts.Threshold)
	}
	if opts.K <= 0 {
		opts.K = DefaultK
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	var pairs func(i int) ([]neighbors.Result, error)
	switch sr := opts.Searcher.(type) {
	case nil, *neighbors.Exact:
		exact := neighbors.NewExact(s)
		pairs = func(i int) ([]neighbors.Result, error) { return exact.Above(i, opts.Threshold), nil }
	default:
		if sr.Set() != s {
			return nil, fmt.Errorf("dedup: the searcher is over other embeddings than the set")
		}
		pairs = func(i int) ([]neighbors.Result, error) {
			rs, err := sr.Search(s.Row(i), opts.K+1)
			if err != nil {
				return nil, err
			}
			out := rs[:0]
			for _, r := range rs {
				if r.Index != i && r.Similarity >= opts.Threshold {
					out = append(out, r)
				}
			}
			return out, nil
		}
	}
	n := s.Len()
	found := make([][]int, n) // found[i]: rows j > i or j < i paired with i
	var wg sync.WaitGroup
	errs := make([]error, opts.Workers)
	for w := range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += opts.Workers {
				if ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				rs, err := pairs(i)
				if err != nil {
					errs[w] = fmt.Errorf("dedup: row %d (%s): %w", i, s.Paths[i], err)
					return
				}
				for _, r := range rs {
					found[i] = append(found[i], r.Index)
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	uf := newUnionFind(n)
	for i, js := range found {
		for _, j := range js {
			uf.union(i, j)
		}
	}
	byRoot := map[int][]int{}
	var roots []int
	for i := range n {
		r := uf.find(i)
		if _, ok := byRoot[r]; !ok {
			roots = append(roots, r)
		}
		byRoot[r] = append(byRoot[r], i)
	}
	var groups []Group
	for _, r := range roots { // in order of each group's first row
		rows := byRoot[r]
		if len(rows) < 2 {
			continue
		}
		first := s.Row(rows[0])
		g := make(Group, len(rows))
		for k, i := range rows {
			g[k] = Member{Index: i, Path: s.Paths[i], Similarity: dotUnit(first, s.Row(i))}
		}
		g[0].Similarity = 1
		groups = append(groups, g)
	}
	return groups, nil
}

// dotUnit is the cosine similarity of two unit vectors.
func dotUnit(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// unionFind is a disjoint-set forest with path halving and union by size.
type unionFind struct {
	parent, size []int
}

func newUnionFind(n int) *unionFind {
	u := &unionFind{parent: make([]int, n), size: make([]int, n)}
	for i := range u.parent {
		u.parent[i], u.size[i] = i, 1
	}
	return u
}

func (u *unionFind) find(i int) int {
	for u.parent[i] != i {
		u.parent[i] = u.parent[u.parent[i]]
		i = u.parent[i]
	}
	return i
}

func (u *unionFind) union(a, b int) {
	a, b = u.find(a), u.find(b)
	if a == b {
		return
	}
	if u.size[a] < u.size[b] {
		a, b = b, a
	}
	u.parent[b] = a
	u.size[a] += u.size[b]
}

// WriteCSV writes "group,path,similarity" and one line per member, groups numbered from
// 1 in order; similarity is to the group's first member.
func WriteCSV(w io.Writer, groups []Group) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"group", "path", "similarity"}); err != nil {
		return fmt.Errorf("dedup: write CSV: %w", err)
	}
	for gi, g := range groups {
		for _, m := range g {
			rec := []string{strconv.Itoa(gi + 1), m.Path, strconv.FormatFloat(float64(m.Similarity), 'f', 4, 32)}
			if err := cw.Write(rec); err != nil {
				return fmt.Errorf("dedup: write CSV: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("dedup: write CSV: %w", err)
	}
	return nil
}

// Sizes returns how many groups have each size, smallest size first, as (size, count)
// pairs.
func Sizes(groups []Group) [][2]int {
	count := map[int]int{}
	for _, g := range groups {
		count[len(g)]++
	}
	var out [][2]int
	for size, c := range count {
		out = append(out, [2]int{size, c})
	}
	slices.SortFunc(out, func(a, b [2]int) int { return a[0] - b[0] })
	return out
}
