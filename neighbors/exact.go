package neighbors

import (
	"fmt"
	"math"
	"slices"
)

// Result is one neighbour of a query.
type Result struct {
	// Index is the neighbour's row in the Set.
	Index int
	// Similarity is the cosine similarity to the query, in [-1, 1].
	Similarity float32
}

// Searcher finds the k rows of a Set most similar to a query vector, most similar first.
// Exact and Index implement it.
type Searcher interface {
	// Search returns min(k, Len()) neighbours of query, most similar first, ties by
	// lower index. The query need not be normalised; a query of the wrong length, or one
	// that is zero or not finite, is an error.
	Search(query []float32, k int) ([]Result, error)
	// Set returns the searched embeddings.
	Set() *Set
}

// Exact is brute-force search: one dot product per row over the unit vectors, the top k
// kept in a heap. It is safe for concurrent use.
type Exact struct {
	set *Set
}

// NewExact returns exhaustive search over s.
func NewExact(s *Set) *Exact { return &Exact{set: s} }

// Set implements Searcher.
func (e *Exact) Set() *Set { return e.set }

// Search implements Searcher.
func (e *Exact) Search(query []float32, k int) ([]Result, error) {
	q, err := unitQuery(query, e.set.Dim)
	if err != nil {
		return nil, err
	}
	return e.searchUnit(q, k, -1), nil
}

// searchUnit is Search for a unit query, skipping row skip (−1 for none).
func (e *Exact) searchUnit(q []float32, k, skip int) []Result {
	s := e.set
	k = min(k, s.Len())
	if k <= 0 {
		return nil
	}
	h := topK{items: make([]Result, 0, k)}
	for i := range s.Len() {
		if i == skip {
			continue
		}
		h.offer(Result{Index: i, Similarity: dot(q, s.Row(i))})
	}
	return h.sorted()
}

// Above returns every row whose cosine similarity to row i is at least threshold (row i
// itself excluded), most similar first, ties by lower index.
func (e *Exact) Above(i int, threshold float32) []Result {
	s := e.set
	q := s.Row(i)
	var out []Result
	for j := range s.Len() {
		if j == i {
			continue
		}
		if sim := dot(q, s.Row(j)); sim >= threshold {
			out = append(out, Result{Index: j, Similarity: sim})
		}
	}
	sortResults(out)
	return out
}

// unitQuery checks a query's length and returns a unit-norm copy.
func unitQuery(query []float32, dim int) ([]float32, error) {
	if len(query) != dim {
		return nil, fmt.Errorf("neighbors: query has %d values, the embeddings %d (was it embedded with another model?)", len(query), dim)
	}
	var ss float64
	for i, v := range query {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("neighbors: query value %d is %v", i, v)
		}
		ss += float64(v) * float64(v)
	}
	if ss == 0 {
		return nil, fmt.Errorf("neighbors: query is a zero vector")
	}
	inv := 1 / math.Sqrt(ss)
	q := make([]float32, dim)
	for i, v := range query {
		q[i] = float32(float64(v) * inv)
	}
	return q, nil
}

// dot returns Σ a[i]·b[i] with four accumulators; len(b) must be at least len(a).
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// better reports whether a ranks before b: higher similarity, then lower index.
func better(a, b Result) bool {
	if a.Similarity != b.Similarity {
		return a.Similarity > b.Similarity
	}
	return a.Index < b.Index
}

// sortResults orders results best first.
func sortResults(rs []Result) {
	slices.SortFunc(rs, func(a, b Result) int {
		switch {
		case better(a, b):
			return -1
		case better(b, a):
			return 1
		}
		return 0
	})
}

// topK keeps the k best results offered, in a heap whose root is the worst kept.
type topK struct {
	items []Result
}

// offer considers r.
func (h *topK) offer(r Result) {
	if len(h.items) < cap(h.items) {
		h.items = append(h.items, r)
		h.up(len(h.items) - 1)
		return
	}
	if !better(r, h.items[0]) {
		return
	}
	h.items[0] = r
	h.down(0)
}

// up restores the heap property from leaf i.
func (h *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !better(h.items[p], h.items[i]) { // parent is already worse or equal
			return
		}
		h.items[p], h.items[i] = h.items[i], h.items[p]
		i = p
	}
}

// down restores the heap property from node i.
func (h *topK) down(i int) {
	n := len(h.items)
	for {
		worst := i
		if l := 2*i + 1; l < n && better(h.items[worst], h.items[l]) {
			worst = l
		}
		if r := 2*i + 2; r < n && better(h.items[worst], h.items[r]) {
			worst = r
		}
		if worst == i {
			return
		}
		h.items[i], h.items[worst] = h.items[worst], h.items[i]
		i = worst
	}
}

// sorted returns the kept results best first (it consumes the heap).
func (h *topK) sorted() []Result {
	out := h.items
	sortResults(out)
	h.items = nil
	return out
}
