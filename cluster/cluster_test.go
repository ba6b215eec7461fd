package cluster

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestPurityNMIHandComputed(t *testing.T) {
	// Contingency (clusters × labels) [[2, 0], [1, 1]] over n = 4.
	pred := []int{0, 0, 1, 1}
	labels := []int{0, 0, 0, 1}
	tab, err := Contingency(pred, labels)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tab[0], []int{2, 0}) || !slices.Equal(tab[1], []int{1, 1}) {
		t.Errorf("contingency %v, want [[2 0] [1 1]]", tab)
	}
	// I = ½ ln(½ / (½·¾)) + ¼ ln(¼ / (½·¾)) + ¼ ln(¼ / (½·¼)) = ½ ln 4/3 + ¼ ln 2/3 + ¼ ln 2
	// H(C) = ln 2, H(L) = −(¾ ln ¾ + ¼ ln ¼); NMI = I / ((H(C)+H(L))/2) = 0.343711…
	mi := 0.5*math.Log(4.0/3) + 0.25*math.Log(2.0/3) + 0.25*math.Log(2)
	hl := -(0.75*math.Log(0.75) + 0.25*math.Log(0.25))
	want := mi / ((math.Log(2) + hl) / 2)
	for _, c := range []struct {
		name       string
		pred, labs []int
		purity     float64
		nmi        float64
	}{
		{"2×2", pred, labels, 0.75, want},
		{"2×2 literal", pred, labels, 0.75, 0.3437110184854508},
		// Clusters of sizes 3, 2, 1 against labels of sizes 2, 4 (computed separately).
		{"3×2", []int{0, 0, 0, 1, 1, 2}, []int{0, 0, 1, 1, 1, 1}, 5.0 / 6, 0.38625344285713004},
		{"perfect up to renaming", []int{2, 2, 0, 0, 1}, []int{0, 0, 1, 1, 2}, 1, 1},
		{"independent", []int{0, 0, 1, 1}, []int{0, 1, 0, 1}, 0.5, 0},
		{"one cluster, two classes", []int{0, 0, 0, 0}, []int{0, 1, 0, 1}, 0.5, 0},
		{"one cluster, one class", []int{0, 0, 0}, []int{0, 0, 0}, 1, 1},
	} {
		p, err := Purity(c.pred, c.labs)
		if err != nil {
			t.Fatal(err)
		}
		n, err := NMI(c.pred, c.labs)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(p-c.purity) > 1e-12 || math.Abs(n-c.nmi) > 1e-12 {
			t.Errorf("%s: purity %v, NMI %v; want %v, %v", c.name, p, n, c.purity, c.nmi)
		}
	}
	for _, bad := range [][2][]int{{{0, 1}, {0}}, {{}, {}}, {{0, -1}, {0, 0}}} {
		if _, err := NMI(bad[0], bad[1]); err == nil {
			t.Errorf("NMI(%v, %v) accepted", bad[0], bad[1])
		}
		if _, err := Purity(bad[0], bad[1]); err == nil {
			t.Errorf("Purity(%v, %v) accepted", bad[0], bad[1])
		}
	}
}

// blobs draws per points around each of the centres with the given spread, labelled by
// centre, in shuffled order.
func blobs(rng *rand.Rand, centres [][]float32, per int, spread float64) ([][]float32, []int) {
	var x [][]float32
	var labels []int
	for c, mu := range centres {
		for range per {
			row := make([]float32, len(mu))
			for j, m := range mu {
				row[j] = m + float32(rng.NormFloat64()*spread)
			}
			x = append(x, row)
			labels = append(labels, c)
		}
	}
	rng.Shuffle(len(x), func(i, j int) {
		x[i], x[j] = x[j], x[i]
		labels[i], labels[j] = labels[j], labels[i]
	})
	return x, labels
}

func TestKMeansRecoversSeparableBlobs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	centres := [][]float32{{10, 0, 0, 0}, {0, 10, 0, 0}, {0, 0, 10, 0}, {0, 0, 0, 10}, {-10, -10, 0, 0}}
	x, labels := blobs(rng, centres, 40, 0.5)
	r, err := KMeans(context.Background(), x, KMeansOptions{K: 5, Seed: 7, Restarts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Converged {
		t.Errorf("did not converge in %d iterations", r.Iterations)
	}
	p, _ := Purity(r.Assign, labels)
	n, _ := NMI(r.Assign, labels)
	if p != 1 || math.Abs(n-1) > 1e-12 {
		t.Fatalf("purity %v, NMI %v on separable blobs, want 1, 1", p, n)
	}
	// Each centroid is its blob's mean: within 4σ/√40 ≈ 0.32 of the true centre per axis.
	for k, c := range r.Centroids {
		var members []int
		for i, a := range r.Assign {
			if a == k {
				members = append(members, i)
			}
		}
		truth := centres[labels[members[0]]]
		for j := range c {
			if math.Abs(float64(c[j]-truth[j])) > 0.32 {
				t.Errorf("centroid %d = %v, its blob's centre %v", k, c, truth)
				break
			}
		}
	}
	var inertia float64
	for i, row := range x {
		inertia += sqDist(row, r.Centroids[r.Assign[i]])
		if math.Abs(float64(r.Distance[i])-sqDist(row, r.Centroids[r.Assign[i]])) > 1e-4 {
			t.Fatalf("distance %d is %v, not the squared distance to its centroid", i, r.Distance[i])
		}
	}
	if math.Abs(inertia-r.Inertia) > 1e-6*inertia {
		t.Errorf("inertia %v, sum of distances %v", r.Inertia, inertia)
	}
	again, _ := KMeans(context.Background(), x, KMeansOptions{K: 5, Seed: 7, Restarts: 3})
	if !slices.Equal(again.Assign, r.Assign) {
		t.Error("the same seed gave different assignments")
	}
}

func TestKMeansSmallCases(t *testing.T) {
	x := [][]float32{{0, 0}, {2, 0}, {0, 4}, {2, 4}}
	r, err := KMeans(context.Background(), x, KMeansOptions{K: 1})
	if err != nil {
		t.Fatal(err)
	}
	// One cluster: the mean (1, 2), inertia 4·(1² + 2²) = 20.
	if !slices.Equal(r.Centroids[0], []float32{1, 2}) || r.Inertia != 20 {
		t.Errorf("k=1: centroid %v, inertia %v; want [1 2], 20", r.Centroids[0], r.Inertia)
	}
	// Identical rows cannot fill two clusters by distance: the empty one is re-seeded.
	same := [][]float32{{1, 1}, {1, 1}, {1, 1}}
	r, err = KMeans(context.Background(), same, KMeansOptions{K: 2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := Sizes(r.Assign, 2)
	if err != nil || sizes[0] == 0 || sizes[1] == 0 || r.Inertia != 0 {
		t.Errorf("identical rows: sizes %v (%v), inertia %v; want both clusters used, inertia 0", sizes, err, r.Inertia)
	}
	// k = n puts every row alone.
	r, err = KMeans(context.Background(), x, KMeansOptions{K: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if sizes, _ := Sizes(r.Assign, 4); !slices.Equal(sizes, []int{1, 1, 1, 1}) || r.Inertia != 0 {
		t.Errorf("k=n: sizes %v, inertia %v", sizes, r.Inertia)
	}
}

func TestKMeansErrors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		x    [][]float32
		k    int
		want string
	}{
		{nil, 1, "no vectors"},
		{[][]float32{{1}, {1, 2}}, 1, "row 1 has 2 values"},
		{[][]float32{{1}, {float32(math.NaN())}}, 1, "NaN"},
		{[][]float32{{1}, {2}}, 3, "k=3"},
		{[][]float32{{1}, {2}}, 0, "k=0"},
	} {
		if _, err := KMeans(ctx, c.x, KMeansOptions{K: c.k}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("KMeans(%v, k=%d): %v, want an error containing %q", c.x, c.k, err, c.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := KMeans(cancelled, [][]float32{{1}, {2}}, KMeansOptions{K: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestAssignPrototypes(t *testing.T) {
	protos := Normalize([][]float32{{1, 0, 0}, {0, 1, 0}, {0, 0, 2}})
	z := Normalize([][]float32{{0.1, 0.9, 0}, {3, 4, 0}, {0, 0, -1}, {0, 1, 1}})
	assign, score, err := AssignPrototypes(z, protos)
	if err != nil {
		t.Fatal(err)
	}
	// Row 2 (0,0,-1) is at −1 from prototype 2 and 0 from the others: prototype 0 by
	// the tie rule. Row 3 ties prototypes 1 and 2 at 1/√2: prototype 1.
	if !slices.Equal(assign, []int{1, 1, 0, 1}) {
		t.Errorf("assignments %v, want [1 1 0 1]", assign)
	}
	wantScore := []float64{0.9 / math.Sqrt(0.82), 0.8, 0, 1 / math.Sqrt2}
	for i, s := range score {
		if math.Abs(float64(s)-wantScore[i]) > 1e-6 {
			t.Errorf("score %d = %v, want %v", i, s, wantScore[i])
		}
	}
	if _, _, err := AssignPrototypes(z, [][]float32{{1, 0}}); err == nil || !strings.Contains(err.Error(), "dimension 3 but the prototypes 2") {
		t.Errorf("dimension mismatch: %v", err)
	}
	if _, err := Sizes([]int{0, 3}, 3); err == nil {
		t.Error("Sizes accepted an assignment out of range")
	}
}

func TestNormalize(t *testing.T) {
	got := Normalize([][]float32{{3, 4}, {0, 0}})
	if !slices.Equal(got[0], []float32{0.6, 0.8}) || !slices.Equal(got[1], []float32{0, 0}) {
		t.Errorf("Normalize = %v", got)
	}
}
