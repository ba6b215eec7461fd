package linearprobe

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Default values used by KNNOptions fields left at their zero value.
const (
	// DefaultTemperature is the temperature T of the exp(similarity/T)
	// vote weights.
	DefaultTemperature = 0.07
	// maxSimilarityValues bounds the size (in float32 values) of one
	// block of the test×train similarity matrix.
	maxSimilarityValues = 1 << 24
)

// DefaultKs returns the neighbourhood sizes used when KNNOptions.K is empty:
// {20, 200}.
func DefaultKs() []int { return []int{20, 200} }

// KNNOptions configures KNN. The zero value selects every default.
type KNNOptions struct {
	// K lists the neighbourhood sizes to evaluate; all are served by a single
	// nearest-neighbour search. A K larger than the training set uses every
	// training sample. Default DefaultKs() ({20, 200}).
	K []int
	// Temperature is T in the vote weight exp(cosine similarity / T).
	// Default DefaultTemperature (0.07).
	Temperature float64
	// BatchSize is the number of test samples whose similarities to the whole
	// training set are computed by one graph execution. Default: as many as
	// fit a 64 MiB similarity block, at most 256.
	BatchSize int
}

// KNN classifies every test sample by weighted k-nearest-neighbour voting
// over the training set (Wu et al. 2018; DINO): features are L2-normalised,
// the K training samples with the highest cosine similarity s vote for their
// class with weight exp(s/T), and classes are ranked by total vote (ties go
// to the lower class index). It returns one Report per requested K, keyed by
// K, with Method "knn-k<K>".
//
// Similarities are computed on backend as a GoMLX matrix product, a block of
// test samples at a time; neighbour selection and voting run in Go. Test
// classes are matched to training classes as in Probe.Evaluate.
func KNN(ctx context.Context, backend backends.Backend, train, test Dataset, opts KNNOptions) (map[int]*Report, error) {
	if backend == nil {
		return nil, fmt.Errorf("linearprobe: KNN needs a backend")
	}
	if err := train.Validate(); err != nil {
		return nil, fmt.Errorf("linearprobe: invalid kNN training set: %w", err)
	}
	if err := test.validate(1); err != nil {
		return nil, fmt.Errorf("linearprobe: invalid kNN test set: %w", err)
	}
	if test.D != train.D {
		return nil, fmt.Errorf("linearprobe: kNN test features have dimension %d, training features %d", test.D, train.D)
	}
	ks := opts.K
	if len(ks) == 0 {
		ks = DefaultKs()
	}
	maxK := 0
	for _, k := range ks {
		if k <= 0 {
			return nil, fmt.Errorf("linearprobe: kNN K=%d must be positive", k)
		}
		maxK = max(maxK, min(k, train.N))
	}
	temperature := opts.Temperature
	if temperature == 0 {
		temperature = DefaultTemperature
	}
	if !(temperature > 0) || math.IsInf(temperature, 0) {
		return nil, fmt.Errorf("linearprobe: kNN temperature %g must be positive and finite", temperature)
	}
	batch := opts.BatchSize
	if batch < 0 {
		return nil, fmt.Errorf("linearprobe: kNN BatchSize=%d must be positive", batch)
	}
	if batch == 0 {
		batch = min(256, max(1, maxSimilarityValues/train.N))
	}
	batch = min(batch, test.N)

	numClasses := train.NumClasses()
	labels, err := mapLabels(test, train.Classes, numClasses)
	if err != nil {
		return nil, err
	}
	classes := classNames(train.Classes, numClasses)

	neighbours, err := nearestNeighbours(ctx, backend, train, test, maxK, batch)
	if err != nil {
		return nil, err
	}

	reports := make(map[int]*Report, len(ks))
	votes := make([]float64, numClasses)
	for _, k := range ks {
		if _, done := reports[k]; done {
			continue
		}
		kk := min(k, train.N)
		ranked := make([][]int, test.N)
		for i := range test.N {
			clear(votes)
			for _, nb := range neighbours[i*maxK : i*maxK+kk] {
				votes[train.Labels[nb.index]] += math.Exp(float64(nb.sim) / temperature)
			}
			ranked[i] = topClasses(votes, 5)
		}
		reports[k] = newReport(fmt.Sprintf("knn-k%d", k), classes, labels, ranked)
	}
	return reports, nil
}

// neighbour is one candidate training sample of a kNN search.
type neighbour struct {
	sim   float32
	index int
}

// better orders neighbours by decreasing similarity, then increasing index.
func (a neighbour) better(b neighbour) bool {
	return a.sim > b.sim || (a.sim == b.sim && a.index < b.index)
}

// nearestNeighbours returns, for every test row, its k most similar
// training rows (cosine similarity), best first, flattened as test.N×k.
func nearestNeighbours(ctx context.Context, backend backends.Backend, train, test Dataset, k, batch int) ([]neighbour, error) {
	keys := tensors.FromFlatDataAndDimensions(l2Normalized(train), train.N, train.D)
	defer func() { _ = keys.FinalizeAll() }()
	queries := l2Normalized(test)

	similarity, err := graph.NewExec(backend, func(q, keys *graph.Node) *graph.Node {
		return graph.DotGeneral(q, []int{1}, nil, keys, []int{1}, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("linearprobe: building the kNN similarity graph: %w", err)
	}
	defer similarity.Finalize()

	out := make([]neighbour, test.N*k)
	qBuf := make([]float32, batch*test.D)
	workers := max(1, min(runtime.GOMAXPROCS(0), 8))
	for start := 0; start < test.N; start += batch {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("linearprobe: kNN cancelled: %w", err)
		}
		rows := min(batch, test.N-start)
		copy(qBuf, queries[start*test.D:(start+rows)*test.D])
		clear(qBuf[rows*test.D:])
		q := tensors.FromFlatDataAndDimensions(qBuf, batch, test.D)
		simT, err := similarity.Exec1(q, keys)
		_ = q.FinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("linearprobe: kNN similarities for test rows %d-%d: %w", start, start+rows-1, err)
		}
		err = tensors.ConstFlatData(simT, func(sims []float32) {
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := w; r < rows; r += workers {
						topNeighbours(sims[r*train.N:(r+1)*train.N], out[(start+r)*k:(start+r+1)*k])
					}
				}()
			}
			wg.Wait()
		})
		_ = simT.FinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("linearprobe: reading kNN similarities: %w", err)
		}
	}
	return out, nil
}

// topNeighbours fills dst with the len(dst) best entries of sims, best
// first, using a bounded min-heap (worst kept neighbour at the root).
func topNeighbours(sims []float32, dst []neighbour) {
	k := len(dst)
	heap := dst[:0]
	for i, s := range sims {
		nb := neighbour{sim: s, index: i}
		if len(heap) < k {
			heap = append(heap, nb)
			// Sift up: parents must be worse than children.
			for c := len(heap) - 1; c > 0; {
				p := (c - 1) / 2
				if !heap[p].better(heap[c]) {
					break
				}
				heap[p], heap[c] = heap[c], heap[p]
				c = p
			}
			continue
		}
		if !nb.better(heap[0]) {
			continue
		}
		heap[0] = nb
		for p := 0; ; {
			worst, l, r := p, 2*p+1, 2*p+2
			if l < k && heap[worst].better(heap[l]) {
				worst = l
			}
			if r < k && heap[worst].better(heap[r]) {
				worst = r
			}
			if worst == p {
				break
			}
			heap[p], heap[worst] = heap[worst], heap[p]
			p = worst
		}
	}
	slices.SortFunc(dst, func(a, b neighbour) int {
		if a.better(b) {
			return -1
		}
		if b.better(a) {
			return 1
		}
		return cmp.Compare(a.index, b.index)
	})
}

// l2Normalized returns a copy of d's features with every row scaled to unit
// L2 norm (all-zero rows stay zero).
func l2Normalized(d Dataset) []float32 {
	out := make([]float32, len(d.Features))
	for i := range d.N {
		row := d.Row(i)
		var sq float64
		for _, v := range row {
			sq += float64(v) * float64(v)
		}
		if sq == 0 {
			continue
		}
		inv := 1 / math.Sqrt(sq)
		dst := out[i*d.D : (i+1)*d.D]
		for j, v := range row {
			dst[j] = float32(float64(v) * inv)
		}
	}
	return out
}
