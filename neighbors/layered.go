package neighbors

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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

// buildLayered inserts the rows of s (Algorithm 1 of the paper, with the
// neighbour-selection heuristic of Algorithm 4) on workers goroutines. Levels are drawn
// from seed before any insertion; with one worker rows are inserted in order and the
// graph is reproducible, with more the order of concurrent insertions varies.
//
// Concurrency follows hnswlib: a mutex per node guards its links (readers copy them
// under it), and an insertion above the current top layer holds the entry lock
// throughout, so the entry point only moves up.
func buildLayered(ctx context.Context, s *Set, m, efConstruction, workers int, seed int64, progress func(done, total int)) (*layered, error) {
	n := s.Len()
	g := &layered{m: m, level: make([]uint8, n), links: make([][][]int32, n)}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	ml := 1 / math.Log(float64(m))
	for i := range n {
		lv := min(int(-math.Log(1-rng.Float64())*ml), maxLevel)
		g.level[i] = uint8(lv)
		g.links[i] = make([][]int32, lv+1)
	}
	bd := &builder{g: g, s: s, efc: efConstruction, locks: make([]sync.Mutex, n)}
	var next, done atomic.Int64
	next.Store(1) // row 0 is the first entry point
	var progressMu sync.Mutex
	errs := make([]error, max(workers, 1))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := &beam{visited: make([]uint32, n), locks: bd.locks}
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				bd.insert(b, int32(i))
				if d := done.Add(1); progress != nil && d%1000 == 0 {
					progressMu.Lock()
					progress(int(d), n)
					progressMu.Unlock()
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
	if progress != nil {
		progress(n, n)
	}
	return g, nil
}

// builder is the shared state of a concurrent build.
type builder struct {
	g       *layered
	s       *Set
	efc     int
	locks   []sync.Mutex // locks[i] guards g.links[i][·]
	entryMu sync.RWMutex // guards g.entry
}

// insert links row i into the graph.
func (bd *builder) insert(b *beam, i int32) {
	g, s := bd.g, bd.s
	lv := int(g.level[i])
	bd.entryMu.RLock()
	entry := g.entry
	bd.entryMu.RUnlock()
	if lv > int(g.level[entry]) {
		bd.entryMu.Lock()
		defer bd.entryMu.Unlock()
		entry = g.entry
	}
	top := int(g.level[entry])
	q := s.Row(int(i))
	ep := g.greedy(b, s, q, entry, top, lv)
	eps := []Result{ep}
	for l := min(lv, top); l >= 0; l-- {
		found := b.search(g, s, q, eps, bd.efc, l)
		sel := g.selectNeighbors(s, found, g.capacity(l))
		bd.locks[i].Lock()
		g.links[i][l] = sel
		bd.locks[i].Unlock()
		for _, nb := range sel {
			bd.locks[nb].Lock()
			g.connect(s, nb, i, l)
			bd.locks[nb].Unlock()
		}
		eps = found
	}
	if lv > top {
		g.entry = i // under entryMu, held since the level check
	}
}

// greedy descends from entry through layers top … above+1, moving to the most similar
// neighbour until none is more similar, and returns where it stops.
func (g *layered) greedy(b *beam, s *Set, q []float32, entry int32, top, above int) Result {
	ep := Result{Index: int(entry), Similarity: dot(q, s.Row(int(entry)))}
	for l := top; l > above; l-- {
		for moved := true; moved; {
			moved = false
			for _, nb := range b.neighbours(g, int32(ep.Index), l) {
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
	b := &beam{visited: make([]uint32, s.Len())}
	ep := g.greedy(b, s, q, g.entry, int(g.level[g.entry]), 0)
	return b.search(g, s, q, []Result{ep}, ef, 0)
}

// beam is the scratch state of a layer search; visited[i] == stamp marks node i as seen.
// During a build, locks guard the links it reads (copied into buf under the node's lock).
type beam struct {
	visited []uint32
	stamp   uint32
	locks   []sync.Mutex
	buf     []int32
}

// neighbours returns node's links in layer l: the graph's own slice after the build, a
// copy taken under the node's lock during it (valid until the next call).
func (b *beam) neighbours(g *layered, node int32, l int) []int32 {
	if b.locks == nil {
		return g.links[node][l]
	}
	b.locks[node].Lock()
	b.buf = append(b.buf[:0], g.links[node][l]...)
	b.locks[node].Unlock()
	return b.buf
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
		for _, nb := range b.neighbours(g, int32(c.Index), l) {
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
