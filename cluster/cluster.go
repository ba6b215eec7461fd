// Package cluster groups embeddings without labels and scores groupings against labels.
//
// Two ways to cluster are provided. SwAV's prototypes are cluster centres learnt during
// pretraining: AssignPrototypes puts every L2-normalised projection-head output z in the
// cluster of its largest code z·cₖ (the argmax of the scores the Sinkhorn step turns into
// soft assignments during training). KMeans is Lloyd's algorithm from a seeded k-means++
// start, the usual alternative on backbone features; Normalize the rows first to cluster
// by cosine similarity.
//
// Purity and NMI measure a clustering against class labels; Contingency is the table both
// are computed from.
//
// Everything is plain Go on [][]float32 rows (the vectors infer.Model returns). Functions
// return errors for bad inputs (ragged rows, k out of range); none panics on user data.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// checkRows checks that x holds n ≥ 1 finite rows of one dimension d ≥ 1 and returns d.
func checkRows(x [][]float32, what string) (int, error) {
	if len(x) == 0 {
		return 0, fmt.Errorf("cluster: no %s", what)
	}
	d := len(x[0])
	if d == 0 {
		return 0, fmt.Errorf("cluster: %s have dimension 0", what)
	}
	for i, row := range x {
		if len(row) != d {
			return 0, fmt.Errorf("cluster: %s row %d has %d values, row 0 has %d", what, i, len(row), d)
		}
		for j, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return 0, fmt.Errorf("cluster: %s row %d value %d is %v", what, i, j, v)
			}
		}
	}
	return d, nil
}

// Normalize returns copies of the rows scaled to unit L2 norm (an all-zero row stays zero).
func Normalize(x [][]float32) [][]float32 {
	out := make([][]float32, len(x))
	for i, row := range x {
		var n float64
		for _, v := range row {
			n += float64(v) * float64(v)
		}
		r := make([]float32, len(row))
		if n > 0 {
			inv := 1 / math.Sqrt(n)
			for j, v := range row {
				r[j] = float32(float64(v) * inv)
			}
		}
		out[i] = r
	}
	return out
}

// dot is the inner product of two rows of equal length, accumulated in float64.
func dot(a, b []float32) float64 {
	var s float64
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return s
}

// AssignPrototypes returns, for every row of z, the index of the prototype with the
// largest inner product (ties go to the lower index) and that inner product. With
// L2-normalised rows and prototypes (as infer.Model's projection output and Prototypes()
// are) the score is the cosine similarity, SwAV's code before the Sinkhorn step.
func AssignPrototypes(z, prototypes [][]float32) (assign []int, score []float32, err error) {
	d, err := checkRows(z, "vectors")
	if err != nil {
		return nil, nil, err
	}
	pd, err := checkRows(prototypes, "prototypes")
	if err != nil {
		return nil, nil, err
	}
	if pd != d {
		return nil, nil, fmt.Errorf("cluster: vectors have dimension %d but the prototypes %d (prototypes live in the projection head's output space)", d, pd)
	}
	assign = make([]int, len(z))
	score = make([]float32, len(z))
	for i, row := range z {
		best, bestS := 0, math.Inf(-1)
		for k, c := range prototypes {
			if s := dot(row, c); s > bestS {
				best, bestS = k, s
			}
		}
		assign[i], score[i] = best, float32(bestS)
	}
	return assign, score, nil
}

// Sizes counts the members of each of k clusters. It returns an error when an assignment
// is outside [0, k).
func Sizes(assign []int, k int) ([]int, error) {
	sizes := make([]int, k)
	for i, a := range assign {
		if a < 0 || a >= k {
			return nil, fmt.Errorf("cluster: assignment %d of item %d is outside [0, %d)", a, i, k)
		}
		sizes[a]++
	}
	return sizes, nil
}

// KMeansOptions configure KMeans.
type KMeansOptions struct {
	// K is the number of clusters (required, 1 ≤ K ≤ number of rows).
	K int
	// Seed seeds the k-means++ start; equal seeds give equal results.
	Seed uint64
	// MaxIter bounds Lloyd's iterations (default 100).
	MaxIter int
	// Restarts runs k-means this many times from different starts and keeps the lowest
	// inertia (default 1).
	Restarts int
}

// KMeansResult is the outcome of KMeans.
type KMeansResult struct {
	// Assign holds each row's cluster in [0, K).
	Assign []int
	// Centroids holds the K cluster means.
	Centroids [][]float32
	// Distance holds each row's squared Euclidean distance to its centroid.
	Distance []float32
	// Inertia is the sum of Distance.
	Inertia float64
	// Iterations is the number of Lloyd iterations of the kept run.
	Iterations int
	// Converged says whether the kept run stopped because no assignment changed.
	Converged bool
}

// KMeans partitions the rows of x into opts.K clusters minimising the sum of squared
// Euclidean distances to the cluster means: a k-means++ start (each next centre drawn
// with probability proportional to the squared distance to the nearest chosen one),
// then Lloyd's iterations until no assignment changes or MaxIter. A cluster that empties
// is re-seeded with the row farthest from its centroid. ctx is checked every iteration.
func KMeans(ctx context.Context, x [][]float32, opts KMeansOptions) (*KMeansResult, error) {
	d, err := checkRows(x, "vectors")
	if err != nil {
		return nil, err
	}
	if opts.K < 1 || opts.K > len(x) {
		return nil, fmt.Errorf("cluster: k-means with k=%d on %d vectors: need 1 ≤ k ≤ %d", opts.K, len(x), len(x))
	}
	if opts.MaxIter <= 0 {
		opts.MaxIter = 100
	}
	if opts.Restarts <= 0 {
		opts.Restarts = 1
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed_c1a5_7e25))
	var best *KMeansResult
	for range opts.Restarts {
		r, err := lloyd(ctx, x, d, opts, rng)
		if err != nil {
			return nil, err
		}
		if best == nil || r.Inertia < best.Inertia {
			best = r
		}
	}
	return best, nil
}

// kmeansPP draws k initial centres by k-means++.
func kmeansPP(x [][]float32, k int, rng *rand.Rand) [][]float32 {
	n := len(x)
	centres := make([][]float32, 0, k)
	centres = append(centres, slices.Clone(x[rng.IntN(n)]))
	dist := make([]float64, n)
	for i := range dist {
		dist[i] = sqDist(x[i], centres[0])
	}
	for len(centres) < k {
		var total float64
		for _, v := range dist {
			total += v
		}
		next := 0
		if total > 0 {
			u := rng.Float64() * total
			for i, v := range dist {
				u -= v
				if u < 0 {
					next = i
					break
				}
				next = i // rounding: fall back to the last candidate
			}
		} else {
			next = rng.IntN(n) // every row coincides with a centre
		}
		c := slices.Clone(x[next])
		centres = append(centres, c)
		for i := range dist {
			dist[i] = min(dist[i], sqDist(x[i], c))
		}
	}
	return centres
}

func sqDist(a, b []float32) float64 {
	var s float64
	for i, v := range a {
		e := float64(v) - float64(b[i])
		s += e * e
	}
	return s
}

// nearest returns the index of the centre nearest to row and the squared distance. Ties
// keep the current centre cur (when cur ≥ 0), else go to the lower index, so a row never
// moves between equally near centres.
func nearest(row []float32, centres [][]float32, cur int) (int, float64) {
	best, bestD := 0, math.Inf(1)
	if cur >= 0 {
		best, bestD = cur, sqDist(row, centres[cur])
	}
	for k, c := range centres {
		if dd := sqDist(row, c); dd < bestD {
			best, bestD = k, dd
		}
	}
	return best, bestD
}

// lloyd runs one k-means from a k-means++ start.
func lloyd(ctx context.Context, x [][]float32, d int, opts KMeansOptions, rng *rand.Rand) (*KMeansResult, error) {
	n, k := len(x), opts.K
	centres := kmeansPP(x, k, rng)
	assign := make([]int, n)
	dist := make([]float64, n)
	for i := range assign {
		assign[i] = -1
	}
	r := &KMeansResult{}
	sums := make([][]float64, k)
	for j := range sums {
		sums[j] = make([]float64, d)
	}
	counts := make([]int, k)
	for it := 1; it <= opts.MaxIter; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		changed := 0
		for i, row := range x {
			a, dd := nearest(row, centres, assign[i])
			if a != assign[i] {
				changed++
				assign[i] = a
			}
			dist[i] = dd
		}
		r.Iterations = it
		if changed == 0 {
			r.Converged = true
			break
		}
		for j := range sums {
			clear(sums[j])
			counts[j] = 0
		}
		for i, row := range x {
			s := sums[assign[i]]
			for j, v := range row {
				s[j] += float64(v)
			}
			counts[assign[i]]++
		}
		for j := range centres {
			if counts[j] == 0 {
				continue
			}
			for t := range centres[j] {
				centres[j][t] = float32(sums[j][t] / float64(counts[j]))
			}
		}
		for j := range centres {
			if counts[j] > 0 {
				continue
			}
			// Re-seed an empty cluster with the row farthest from its centre, taken out of
			// a cluster with more than one member.
			far := -1
			for i := range x {
				if counts[assign[i]] > 1 && (far < 0 || dist[i] > dist[far]) {
					far = i
				}
			}
			if far < 0 {
				continue
			}
			counts[assign[far]]--
			copy(centres[j], x[far])
			assign[far], dist[far] = j, 0
			counts[j] = 1
		}
	}
	if !r.Converged {
		// MaxIter ended after a centre update: give every row its nearest final centre.
		for i, row := range x {
			assign[i], _ = nearest(row, centres, assign[i])
		}
	}
	r.Assign = assign
	r.Centroids = centres
	r.Distance = make([]float32, n)
	for i, row := range x {
		dd := sqDist(row, centres[assign[i]])
		r.Distance[i] = float32(dd)
		r.Inertia += dd
	}
	return r, nil
}

// Contingency counts, for every cluster c (row) and class l (column), the items of
// cluster c with label l. Rows are max(pred)+1 and columns max(labels)+1.
func Contingency(pred, labels []int) ([][]int, error) {
	if len(pred) != len(labels) {
		return nil, fmt.Errorf("cluster: %d assignments for %d labels", len(pred), len(labels))
	}
	if len(pred) == 0 {
		return nil, errors.New("cluster: no items to compare")
	}
	nc, nl := 0, 0
	for i := range pred {
		if pred[i] < 0 || labels[i] < 0 {
			return nil, fmt.Errorf("cluster: item %d has cluster %d and label %d, both must be ≥ 0", i, pred[i], labels[i])
		}
		nc, nl = max(nc, pred[i]+1), max(nl, labels[i]+1)
	}
	t := make([][]int, nc)
	for c := range t {
		t[c] = make([]int, nl)
	}
	for i := range pred {
		t[pred[i]][labels[i]]++
	}
	return t, nil
}

// Purity is the fraction of items whose label is the most common label of their cluster:
// Σ_c max_l n_cl / n. It is 1 for a perfect clustering and also rises with the number of
// clusters (one cluster per item scores 1), so read it with the cluster count.
func Purity(pred, labels []int) (float64, error) {
	t, err := Contingency(pred, labels)
	if err != nil {
		return 0, err
	}
	var hit int
	for _, row := range t {
		hit += slices.Max(row)
	}
	return float64(hit) / float64(len(pred)), nil
}

// NMI is the normalised mutual information of the clustering and the labels,
// I(C; L) / ((H(C) + H(L)) / 2) (the arithmetic normalisation, scikit-learn's default),
// in natural logarithms from the contingency table. It is 1 when the clustering equals
// the labels up to renaming, 0 when they are independent, and 1 when both put every item
// in a single group.
func NMI(pred, labels []int) (float64, error) {
	t, err := Contingency(pred, labels)
	if err != nil {
		return 0, err
	}
	n := float64(len(pred))
	rows := make([]float64, len(t))
	cols := make([]float64, len(t[0]))
	for c, row := range t {
		for l, v := range row {
			rows[c] += float64(v)
			cols[l] += float64(v)
		}
	}
	entropy := func(m []float64) float64 {
		var h float64
		for _, v := range m {
			if v > 0 {
				p := v / n
				h -= p * math.Log(p)
			}
		}
		return h
	}
	var mi float64
	for c, row := range t {
		for l, v := range row {
			if v > 0 {
				nv := float64(v)
				mi += nv / n * math.Log(nv*n/(rows[c]*cols[l]))
			}
		}
	}
	hc, hl := entropy(rows), entropy(cols)
	if hc == 0 && hl == 0 {
		return 1, nil
	}
	if hc == 0 || hl == 0 {
		return 0, nil
	}
	return max(0, min(1, mi/((hc+hl)/2))), nil
}
