package neighbors

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// layered is an HNSW graph (Malkov & Yashunin 2018, "Efficient and robust approximate
// nearest neighbor search using Hierarchical Navigable Small World graphs") over the rows
// of a Set: every row is a node of layer 0 and of each layer up to its random level.
// Similarity is the dot product of unit vectors (cosine similarity).
type layered struct {
	m     int         // links per node in layers ≥ 1; 2m in layer 0
	level []uint8     // top layer of each node
	links [][][]int32 // links[i][l]: the neighbours of node i in layer l ≤ level[i]
	entry int32       // a node of the top layer: every search starts there
}

// maxLevel bounds node levels (at mL = 1/ln 16 level 16 has probability 16⁻¹⁶).
const maxLevel = 32

// capacity is the most links a node keeps in layer l.
func (g *layered) capacity(l int) int {
	if l == 0 {
		return 2 * g.m
	}
	return g.m
}

// buildLayered inserts the rows of s in order (Algorithm 1 of the paper, with the
// neighbour-selection heuristic of Algorithm 4).
func buildLayered(ctx context.Context, s *Set, m, efConstruction int, seed int64, progress func(done, total int)) (*layered, error) {
	n := s.Len()
	g := &layered{m: m, level: make([]uint8, n), links: make([][][]int32, n)}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	ml := 1 / math.Log(float64(m))
	b := &beam{visited: make([]uint32, n)}
	for i := range n {
		if i%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if progress != nil && i > 0 {
				progress(i, n)
			}
		}
		lv := min(int(-math.Log(1-rng.Float64())*ml), maxLevel)
		g.level[i] = uint8(lv)
		g.links[i] = make([][]int32, lv+1)
		if i == 0 {
			g.entry = 0
			continue
		}
		q := s.Row(i)
		top := int(g.level[g.entry])
		ep := g.greedy(s, q, top, lv)
		eps := []Result{ep}
		for l := min(lv, top); l >= 0; l-- {
			found := b.search(g, s, q, eps, efConstruction, l)
			g.links[i][l] = g.selectNeighbors(s, found, g.capacity(l))
			for _, nb := range g.links[i][l] {
				g.connect(s, nb, int32(i), l)
			}
			eps = found
		}
		if lv > top {
			g.entry = int32(i)
		}
	}
	if progress != nil {
		progress(n, n)
	}
	return g, nil
}

// greedy descends from the entry point through layers top … above+1, moving to the most
// similar neighbour until none is more similar, and returns where it stops.
func (g *layered) greedy(s *Set, q []float32, top, above int) Result {
	ep := Result{Index: int(g.entry), Similarity: dot(q, s.Row(int(g.entry)))}
	for l := top; l > above; l-- {
		for moved := true; moved; {
			moved = false
			for _, nb := range g.links[ep.Index][l] {
				if sim := dot(q, s.Row(int(nb))); sim > ep.Similarity {
					ep = Result{Index: int(nb), Similarity: sim}
					moved = true
				}
			}
		}
	}
	return ep
}

// selectNeighbors keeps up to max of the candidates (best first), skipping one that is
// more similar to an already kept neighbour than to the query (Algorithm 4): links then
// point in diverse directions, which keeps clusters connected to each other.
func (g *layered) selectNeighbors(s *Set, cands []Result, max int) []int32 {
	out := make([]int32, 0, max)
	for _, c := range cands {
		if len(out) == max {
			break
		}
		row := s.Row(c.Index)
		keep := true
		for _, r := range out {
			if dot(row, s.Row(int(r))) > c.Similarity {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, int32(c.Index))
		}
	}
	return out
}

// connect adds the link node → to in layer l; when node then has more than its capacity
// it drops its least similar link (the paper's simple rule; re-running the heuristic of
// Algorithm 4 here, as hnswlib does, costs about M times more dot products).
func (g *layered) connect(s *Set, node, to int32, l int) {
	ls := append(g.links[node][l], to)
	if len(ls) > g.capacity(l) {
		row := s.Row(int(node))
		worst, worstSim := 0, float32(2)
		for i, nb := range ls {
			if sim := dot(row, s.Row(int(nb))); sim < worstSim {
				worst, worstSim = i, sim
			}
		}
		ls[worst] = ls[len(ls)-1]
		ls = ls[:len(ls)-1]
	}
	g.links[node][l] = ls
}

// search returns up to ef rows most similar to the unit query q, best first.
func (g *layered) search(s *Set, q []float32, ef int) []Result {
	ep := g.greedy(s, q, int(g.level[g.entry]), 0)
	b := &beam{visited: make([]uint32, s.Len())}
	return b.search(g, s, q, []Result{ep}, ef, 0)
}

// beam is the scratch state of a layer search; visited[i] == stamp marks node i as seen.
type beam struct {
	visited []uint32
	stamp   uint32
}

// search is Algorithm 2 of the paper: a best-first walk of layer l from eps that keeps
// the ef most similar nodes seen and stops when the best unexpanded candidate is less
// similar than the worst of them. The result is best first.
func (b *beam) search(g *layered, s *Set, q []float32, eps []Result, ef, l int) []Result {
	b.stamp++
	if b.stamp == 0 { // wrapped: forget every old mark
		clear(b.visited)
		b.stamp = 1
	}
	cand := resultHeap{}                 // best candidate on top
	best := resultHeap{worstOnTop: true} // the ef best found, worst on top
	for _, ep := range eps {
		if b.visited[ep.Index] == b.stamp {
			continue
		}
		b.visited[ep.Index] = b.stamp
		cand.push(ep)
		best.push(ep)
		if best.len() > ef {
			best.pop()
		}
	}
	for cand.len() > 0 {
		c := cand.pop()
		if best.len() >= ef && better(best.top(), c) {
			break
		}
		for _, nb := range g.links[c.Index][l] {
			if b.visited[nb] == b.stamp {
				continue
			}
			b.visited[nb] = b.stamp
			r := Result{Index: int(nb), Similarity: dot(q, s.Row(int(nb)))}
			if best.len() < ef || better(r, best.top()) {
				cand.push(r)
				best.push(r)
				if best.len() > ef {
					best.pop()
				}
			}
		}
	}
	out := best.items
	sortResults(out)
	return out
}

// encode appends the graph's links: per node its level then, for each layer up to it,
// the link count and the links, all unsigned varints.
func (g *layered) encode(out []byte) []byte {
	for i := range g.links {
		out = binary.AppendUvarint(out, uint64(g.level[i]))
		for _, ls := range g.links[i] {
			out = binary.AppendUvarint(out, uint64(len(ls)))
			for _, nb := range ls {
				out = binary.AppendUvarint(out, uint64(nb))
			}
		}
	}
	return out
}

// decodeLayered reads what encode wrote for n nodes, checking every value so that a
// damaged or hostile file cannot make a search index out of range: levels at most
// maxLevel, link counts within capacity, links to nodes that exist in that layer, the
// entry on the top layer, no trailing bytes.
func decodeLayered(b []byte, n, m int, entry int32) (*layered, error) {
	if m < 2 || m > 1<<10 {
		return nil, fmt.Errorf("M %d outside [2, 1024]", m)
	}
	if n <= 0 || entry < 0 || int(entry) >= n {
		return nil, fmt.Errorf("entry node %d of %d", entry, n)
	}
	g := &layered{m: m, level: make([]uint8, n), links: make([][][]int32, n), entry: entry}
	next := func(what string, node int) (uint64, error) {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, fmt.Errorf("node %d: %s: truncated or bad varint", node, what)
		}
		b = b[k:]
		return v, nil
	}
	for i := range n {
		lv, err := next("level", i)
		if err != nil {
			return nil, err
		}
		if lv > maxLevel {
			return nil, fmt.Errorf("node %d: level %d above %d", i, lv, maxLevel)
		}
		g.level[i] = uint8(lv)
		g.links[i] = make([][]int32, lv+1)
		for l := range g.links[i] {
			c, err := next("link count", i)
			if err != nil {
				return nil, err
			}
			if c > uint64(g.capacity(l)) {
				return nil, fmt.Errorf("node %d: %d links in layer %d, at most %d", i, c, l, g.capacity(l))
			}
			ls := make([]int32, c)
			for j := range ls {
				v, err := next("link", i)
				if err != nil {
					return nil, err
				}
				if v >= uint64(n) {
					return nil, fmt.Errorf("node %d: link to node %d of %d", i, v, n)
				}
				ls[j] = int32(v)
			}
			g.links[i][l] = ls
		}
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d bytes after the last node", len(b))
	}
	top := g.level[entry]
	for i := range n {
		if g.level[i] > top {
			return nil, fmt.Errorf("node %d is above the entry node's level %d", i, top)
		}
		for l, ls := range g.links[i] {
			for _, nb := range ls {
				if int(g.level[nb]) < l {
					return nil, fmt.Errorf("node %d links to node %d in layer %d, which it is not in", i, nb, l)
				}
			}
		}
	}
	return g, nil
}

// errEmpty is returned by Build for a set without rows.
var errEmpty = errors.New("neighbors: cannot index an empty set")

// resultHeap is a binary heap of results: the worst on top when worstOnTop, else the
// best.
type resultHeap struct {
	items      []Result
	worstOnTop bool
}

func (h *resultHeap) len() int    { return len(h.items) }
func (h *resultHeap) top() Result { return h.items[0] }

// above reports whether a belongs nearer the top than b.
func (h *resultHeap) above(a, b Result) bool {
	if h.worstOnTop {
		return better(b, a)
	}
	return better(a, b)
}

func (h *resultHeap) push(r Result) {
	h.items = append(h.items, r)
	for i := len(h.items) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.above(h.items[i], h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *resultHeap) pop() Result {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	for i := 0; ; {
		m := i
		if l := 2*i + 1; l < last && h.above(h.items[l], h.items[m]) {
			m = l
		}
		if r := 2*i + 2; r < last && h.above(h.items[r], h.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
	return top
}
