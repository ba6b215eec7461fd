package linearprobe

import (
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// newBackend returns a SimpleGo backend with sequential op scheduling (the
// default parallel scheduling can hang under load).
func newBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := backends.NewWithConfig("go:ops_sequential")
	if err != nil {
		t.Fatalf("creating SimpleGo backend: %v", err)
	}
	t.Cleanup(b.Finalize)
	return b
}

// blobs draws perClass samples of numClasses Gaussian blobs in dim
// dimensions: class c is centred at sep·e_c (unit std), which makes them
// linearly separable with overwhelming probability for sep ≥ 10.
func blobs(rng *rand.Rand, numClasses, dim, perClass int, sep float64) Dataset {
	n := numClasses * perClass
	d := Dataset{N: n, D: dim, Features: make([]float32, n*dim), Labels: make([]int, n)}
	for i := range n {
		c := i % numClasses
		d.Labels[i] = c
		for j := range dim {
			v := rng.NormFloat64()
			if j == c {
				v += sep
			}
			d.Features[i*dim+j] = float32(v)
		}
	}
	return d
}

func TestValidate(t *testing.T) {
	good := Dataset{Features: []float32{1, 2, 3, 4, 5, 6}, N: 3, D: 2, Labels: []int{0, 1, 1}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid dataset rejected: %v", err)
	}
	named := good
	named.Classes = []string{"cat", "dog", "eel"}
	if err := named.Validate(); err != nil {
		t.Fatalf("valid named dataset rejected: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(d *Dataset)
		want string
	}{
		{"feature count", func(d *Dataset) { d.Features = d.Features[:5] }, "5 feature values"},
		{"label count", func(d *Dataset) { d.Labels = d.Labels[:2] }, "2 labels"},
		{"zero N", func(d *Dataset) { d.N, d.Features, d.Labels = 0, nil, nil }, "N=0"},
		{"zero D", func(d *Dataset) { d.D = 0 }, "D=0"},
		{"negative label", func(d *Dataset) { d.Labels[0] = -1 }, "label -1"},
		{"label beyond names", func(d *Dataset) { d.Classes = []string{"a", "b"}; d.Labels[2] = 2 }, "label 2"},
		{"single class", func(d *Dataset) { d.Labels = []int{0, 0, 0} }, "1 class(es), need at least 2"},
		{"single named class", func(d *Dataset) { d.Classes = []string{"a"}; d.Labels = []int{0, 0, 0} }, "need at least 2"},
		{"duplicate names", func(d *Dataset) { d.Classes = []string{"a", "a"} }, `"a" is used by classes 0 and 1`},
		{"empty name", func(d *Dataset) { d.Classes = []string{"a", ""} }, "empty name"},
		{"NaN feature", func(d *Dataset) { d.Features[3] = float32(math.NaN()) }, "feature 1 of sample 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := good
			d.Features = slices.Clone(good.Features)
			d.Labels = slices.Clone(good.Labels)
			tc.edit(&d)
			err := d.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestStandardizationStats(t *testing.T) {
	// Column 0: 1, 3, 5 → mean 3, population std sqrt(8/3).
	// Column 1: constant 7 → mean 7, std replaced by 1 (centred only).
	// Column 2: -2, 0, 2 → mean 0, std sqrt(8/3).
	d := Dataset{N: 3, D: 3, Labels: []int{0, 1, 0}, Features: []float32{
		1, 7, -2,
		3, 7, 0,
		5, 7, 2,
	}}
	mean, std := standardization(d)
	want := math.Sqrt(8.0 / 3)
	for j, w := range []float64{3, 7, 0} {
		if math.Abs(float64(mean[j])-w) > 1e-6 {
			t.Errorf("mean[%d] = %v, want %v", j, mean[j], w)
		}
	}
	for j, w := range []float64{want, 1, want} {
		if math.Abs(float64(std[j])-w) > 1e-6 {
			t.Errorf("std[%d] = %v, want %v", j, std[j], w)
		}
	}

	// The stats end up in the probe and are applied at prediction time.
	be := newBackend(t)
	p, err := TrainLinear(context.Background(), be, d, LinearOptions{Epochs: 2, LRs: []float64{0.1}, WeightDecays: []float64{0}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Mean, mean) || !slices.Equal(p.Std, std) {
		t.Fatalf("probe stats mean=%v std=%v, want %v %v", p.Mean, p.Std, mean, std)
	}
	x := []float32{4, 9, 1}
	_, scores, err := p.Predict(x, 1)
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float64, p.C)
	for c := range p.C {
		logits[c] = float64(p.B[c])
		for j := range p.D {
			logits[c] += (float64(x[j]) - float64(mean[j])) / float64(std[j]) * float64(p.W[j*p.C+c])
		}
	}
	z := math.Exp(logits[0]) + math.Exp(logits[1])
	for c := range p.C {
		if want := math.Exp(logits[c]) / z; math.Abs(float64(scores[c])-want) > 1e-5 {
			t.Errorf("score[%d] = %v, want %v", c, scores[c], want)
		}
	}

	raw, err := TrainLinear(context.Background(), be, d, LinearOptions{Epochs: 1, LRs: []float64{0.1}, WeightDecays: []float64{0}, NoStandardize: true})
	if err != nil {
		t.Fatal(err)
	}
	if raw.Mean != nil || raw.Std != nil {
		t.Fatalf("NoStandardize probe has stats %v %v", raw.Mean, raw.Std)
	}
}

// TestLossAndGradsMatchAutodiff checks the hand-written gradients of the
// training graph against GoMLX's automatic differentiation, and the loss
// against a plain-Go cross-entropy.
func TestLossAndGradsMatchAutodiff(t *testing.T) {
	be := newBackend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	const batch, dim, numClasses = 5, 4, 3
	randn := func(n int, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(scale * rng.NormFloat64())
		}
		return v
	}
	x, w, b := randn(batch*dim, 1), randn(dim*numClasses, 0.5), randn(numClasses, 0.5)
	y := []int32{0, 2, 1, 2, 0}
	mask := []float32{1, 1, 0, 1, 1} // the third row is padding

	exec, err := graph.NewExec(be, func(in []*graph.Node) []*graph.Node {
		loss, gw, gb := lossAndGrads(in[0], in[1], in[2], in[3], in[4])
		auto := graph.Gradient(loss, in[3], in[4])
		return []*graph.Node{loss, gw, gb, auto[0], auto[1]}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, batch, dim), tensors.FromFlatDataAndDimensions(y, batch),
		tensors.FromFlatDataAndDimensions(mask, batch), tensors.FromFlatDataAndDimensions(w, dim, numClasses),
		tensors.FromFlatDataAndDimensions(b, numClasses))
	if err != nil {
		t.Fatal(err)
	}
	flat := func(i int) []float32 { return tensors.MustCopyFlatData[float32](outs[i]) }

	var wantLoss float64
	for r := range batch {
		if mask[r] == 0 {
			continue
		}
		logits := make([]float64, numClasses)
		for c := range numClasses {
			logits[c] = float64(b[c])
			for j := range dim {
				logits[c] += float64(x[r*dim+j]) * float64(w[j*numClasses+c])
			}
		}
		var z float64
		for _, l := range logits {
			z += math.Exp(l)
		}
		wantLoss -= logits[y[r]] - math.Log(z)
	}
	wantLoss /= 4
	if got := flat(0)[0]; math.Abs(float64(got)-wantLoss) > 1e-5 {
		t.Errorf("loss = %v, want %v", got, wantLoss)
	}
	for _, pair := range [][2]int{{1, 3}, {2, 4}} {
		got, want := flat(pair[0]), flat(pair[1])
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-5 {
				t.Fatalf("gradient output %d element %d = %v, autodiff says %v", pair[0], i, got[i], want[i])
			}
		}
	}
}

// TestSGDStepUpdate checks one in-graph update against the momentum-SGD
// formulas evaluated in Go.
func TestSGDStepUpdate(t *testing.T) {
	be := newBackend(t)
	const dim, numClasses = 2, 2
	w := []float32{0.5, -0.5, 0.25, 0}
	b := []float32{0.1, -0.1}
	vW := []float32{1, 2, 3, 4}
	vB := []float32{-1, 1}
	x := []float32{1, 2}
	y := []int32{1}
	const lr, wd, momentum = 0.1, 0.01, 0.9
	step, err := graph.NewExec(be, sgdStep)
	if err != nil {
		t.Fatal(err)
	}
	defer step.Finalize()
	outs, err := step.Exec(
		tensors.FromFlatDataAndDimensions(w, dim, numClasses), tensors.FromFlatDataAndDimensions(b, numClasses),
		tensors.FromFlatDataAndDimensions(vW, dim, numClasses), tensors.FromFlatDataAndDimensions(vB, numClasses),
		tensors.FromFlatDataAndDimensions(x, 1, dim), tensors.FromFlatDataAndDimensions(y, 1),
		tensors.FromFlatDataAndDimensions([]float32{1}, 1), float32(lr), float32(wd), float32(momentum))
	if err != nil {
		t.Fatal(err)
	}
	// logits = x·W + b = [1·0.5 + 2·0.25 + 0.1, 1·(-0.5) + 2·0 − 0.1] = [1.1, −0.6].
	p1 := 1 / (1 + math.Exp(1.1-(-0.6)))
	g := []float64{1 - p1, p1 - 1} // softmax − onehot(1)
	wantW := make([]float64, 4)
	wantVW := make([]float64, 4)
	for j := range dim {
		for c := range numClasses {
			i := j*numClasses + c
			wantVW[i] = momentum*float64(vW[i]) + float64(x[j])*g[c] + wd*float64(w[i])
			wantW[i] = float64(w[i]) - lr*wantVW[i]
		}
	}
	wantVB := []float64{momentum*float64(vB[0]) + g[0], momentum*float64(vB[1]) + g[1]}
	wantB := []float64{float64(b[0]) - lr*wantVB[0], float64(b[1]) - lr*wantVB[1]}
	for k, want := range [][]float64{wantW, wantB, wantVW, wantVB} {
		got := tensors.MustCopyFlatData[float32](outs[k])
		for i := range want {
			if math.Abs(float64(got[i])-want[i]) > 1e-5 {
				t.Errorf("output %d element %d = %v, want %v", k, i, got[i], want[i])
			}
		}
	}
}

func TestTrainLinearSeparableBlobs(t *testing.T) {
	be := newBackend(t)
	rng := rand.New(rand.NewPCG(11, 12))
	const numClasses, dim = 4, 16
	train := blobs(rng, numClasses, dim, 150, 10)
	test := blobs(rng, numClasses, dim, 50, 10)
	var stages []string
	lastDone := map[string]int{}
	p, err := TrainLinear(context.Background(), be, train, LinearOptions{
		Epochs: 10, Seed: 1,
		Progress: func(stage string, done, total int) {
			if done <= lastDone[stage] || done > total {
				t.Errorf("progress %s %d/%d after %d", stage, done, total, lastDone[stage])
			}
			if lastDone[stage] == 0 {
				stages = append(stages, stage)
			}
			lastDone[stage] = done
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stages, []string{"select", "train"}) || lastDone["select"] != 40 || lastDone["train"] != 10 {
		t.Errorf("progress stages %v, last %v; want select to 40 (4 grid points × 10) then train to 10", stages, lastDone)
	}
	if len(p.Grid) != 4 {
		t.Errorf("grid has %d results, want 4", len(p.Grid))
	}
	r, err := p.Evaluate(test)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("blobs: lr=%g wd=%g top1=%.4f", p.LR, p.WeightDecay, r.Top1)
	if r.Top1 < 0.99 {
		t.Errorf("top-1 on separable blobs = %.4f, want ≥ 0.99", r.Top1)
	}
	if r.Top5 < r.Top1 || r.Top5 != 1 {
		t.Errorf("top-5 = %v with 4 classes, want 1 (and ≥ top-1 %v)", r.Top5, r.Top1)
	}
	checkReportConsistent(t, r, test.Labels)

	// Same seed → bit-identical probe.
	again, err := TrainLinear(context.Background(), be, train, LinearOptions{Epochs: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.W, p.W) || !slices.Equal(again.B, p.B) {
		t.Error("training with the same seed is not deterministic")
	}
}

// checkReportConsistent verifies the confusion matrix against the labels
// it was built from: rows sum to class counts, the diagonal matches
// PerClass, and the trace matches Top1.
func checkReportConsistent(t *testing.T, r *Report, labels []int) {
	t.Helper()
	counts := make([]int, len(r.Classes))
	for _, l := range labels {
		counts[l]++
	}
	trace, total := 0, 0
	for c, row := range r.Confusion {
		sum := 0
		for _, v := range row {
			sum += v
		}
		if sum != counts[c] || r.Support[c] != counts[c] {
			t.Errorf("class %d: confusion row sums to %d, support %d, want %d", c, sum, r.Support[c], counts[c])
		}
		if counts[c] > 0 && math.Abs(r.PerClass[c]-float64(row[c])/float64(counts[c])) > 1e-12 {
			t.Errorf("class %d: per-class accuracy %v, diagonal %d/%d", c, r.PerClass[c], row[c], counts[c])
		}
		trace += row[c]
		total += sum
	}
	if total != r.N || math.Abs(r.Top1-float64(trace)/float64(total)) > 1e-12 {
		t.Errorf("top-1 %v, but confusion trace %d / total %d (N=%d)", r.Top1, trace, total, r.N)
	}
}

func TestReportHandChecked(t *testing.T) {
	classes := []string{"a", "b", "c", "d", "e", "f"}
	labels := []int{0, 0, 0, 1, 1, 2, 5}
	ranked := [][]int{
		{0, 1, 2, 3, 4, 5}, // a → a ✓
		{1, 0, 2, 3, 4, 5}, // a → b, a in top-5
		{1, 2, 3, 4, 5, 0}, // a → b, a only 6th
		{1, 0, 2, 3, 4, 5}, // b → b ✓
		{2, 1, 0, 3, 4, 5}, // b → c, b in top-5
		{2, 0, 1, 3, 4, 5}, // c → c ✓
		{5, 0, 1, 2, 3, 4}, // f → f ✓
	}
	r := newReport("hand", classes, labels, ranked)
	// Top-1: 4 of 7. Top-5: all but the third sample = 6 of 7.
	if r.Top1 != 4.0/7 || r.Top5 != 6.0/7 || r.N != 7 {
		t.Fatalf("top1=%v top5=%v n=%d, want 4/7, 6/7, 7", r.Top1, r.Top5, r.N)
	}
	wantPer := []float64{1.0 / 3, 0.5, 1, 0, 0, 1}
	if !slices.Equal(r.PerClass, wantPer) {
		t.Errorf("per-class = %v, want %v", r.PerClass, wantPer)
	}
	if want := []int{3, 2, 1, 0, 0, 1}; !slices.Equal(r.Support, want) {
		t.Errorf("support = %v, want %v", r.Support, want)
	}
	wantConf := [][]int{
		{1, 2, 0, 0, 0, 0},
		{0, 1, 1, 0, 0, 0},
		{0, 0, 1, 0, 0, 0},
		{0, 0, 0, 0, 0, 0},
		{0, 0, 0, 0, 0, 0},
		{0, 0, 0, 0, 0, 1},
	}
	for i := range wantConf {
		if !slices.Equal(r.Confusion[i], wantConf[i]) {
			t.Errorf("confusion row %d = %v, want %v", i, r.Confusion[i], wantConf[i])
		}
	}
	checkReportConsistent(t, r, labels)

	text := r.Text()
	for _, want := range []string{"hand: top-1 57.14%  top-5 85.71%", "a", "33.33%"} {
		if !strings.Contains(text, want) {
			t.Errorf("Text() lacks %q:\n%s", want, text)
		}
	}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"method", "top1", "top5", "per_class", "support", "confusion", "classes", "n"} {
		if _, ok := back[key]; !ok {
			t.Errorf("JSON lacks %q: %s", key, raw)
		}
	}
}

func TestTopClassesTies(t *testing.T) {
	got := topClasses([]float32{1, 3, 3, 0, 2, 3}, 4)
	if want := []int{1, 2, 5, 4}; !slices.Equal(got, want) {
		t.Errorf("topClasses = %v, want %v", got, want)
	}
	if got := topClasses([]float64{0.5, 0.25}, 5); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("topClasses with k > C = %v", got)
	}
}

func TestKNNHandComputed(t *testing.T) {
	be := newBackend(t)
	// Training points (unnormalised on purpose: KNN must L2-normalise).
	// Cosine similarity to the query direction (1, 0):
	//   A0 = (3, 0)    → 1.0
	//   B0 = (4, 3)    → 0.8
	//   B1 = (8, -6)   → 0.8
	//   A1 = (-2, 0)   → -1.0
	train := Dataset{N: 4, D: 2, Classes: []string{"A", "B"},
		Features: []float32{3, 0, 4, 3, 8, -6, -2, 0}, Labels: []int{0, 1, 1, 0}}
	test := Dataset{N: 1, D: 2, Classes: []string{"A", "B"}, Features: []float32{5, 0}, Labels: []int{1}}

	// T = 0.1, K = 3: A votes e^10 ≈ 22026, B votes 2·e^8 ≈ 5962 → A,
	// although B holds the majority of the 3 neighbours.
	// K = 1: A. K = 9 (clamped to 4): A gets e^10 + e^-10, still A.
	reports, err := KNN(context.Background(), be, train, test, KNNOptions{K: []int{1, 3, 9}, Temperature: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{1, 3, 9} {
		r := reports[k]
		if r == nil || r.Confusion[1][0] != 1 || r.Top1 != 0 || r.Method != "knn-k"+strconv.Itoa(k) {
			t.Fatalf("K=%d report %+v, want the sample (true B) predicted as A", k, r)
		}
		if r.Top5 != 1 {
			t.Errorf("K=%d top-5 = %v, want 1 with 2 classes", k, r.Top5)
		}
	}
	// T = 1, K = 3: A votes e^1 ≈ 2.72, B votes 2·e^0.8 ≈ 4.45 → B.
	reports, err = KNN(context.Background(), be, train, test, KNNOptions{K: []int{3}, Temperature: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r := reports[3]; r.Top1 != 1 || r.Confusion[1][1] != 1 {
		t.Fatalf("T=1 K=3: %+v, want B predicted", r)
	}

	// Default options: K {20, 200} both clamp to the 4 training points.
	reports, err = KNN(context.Background(), be, train, test, KNNOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 2 || reports[20] == nil || reports[200] == nil {
		t.Fatalf("default K reports: %v", reports)
	}
}

func TestTopNeighbours(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	sims := make([]float32, 1000)
	for i := range sims {
		sims[i] = float32(rng.IntN(50)) // many ties
	}
	got := make([]neighbour, 37)
	topNeighbours(sims, got)
	idx := make([]int, len(sims))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case sims[a] > sims[b]:
			return -1
		case sims[a] < sims[b]:
			return 1
		}
		return 0
	})
	for i, nb := range got {
		if nb.index != idx[i] || nb.sim != sims[idx[i]] {
			t.Fatalf("neighbour %d = %+v, want index %d sim %v", i, nb, idx[i], sims[idx[i]])
		}
	}
}

func TestKNNMatchesBruteForce(t *testing.T) {
	be := newBackend(t)
	rng := rand.New(rand.NewPCG(7, 8))
	train := blobs(rng, 5, 6, 40, 2)
	test := blobs(rng, 5, 6, 30, 2)
	// A small BatchSize forces several padded similarity blocks.
	reports, err := KNN(context.Background(), be, train, test, KNNOptions{K: []int{7}, BatchSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	trainN, testN := l2Normalized(train), l2Normalized(test)
	ranked := make([][]int, test.N)
	for i := range test.N {
		type cand struct {
			sim float64
			idx int
		}
		cands := make([]cand, train.N)
		for j := range train.N {
			var s float64
			for k := range train.D {
				s += float64(testN[i*train.D+k]) * float64(trainN[j*train.D+k])
			}
			cands[j] = cand{s, j}
		}
		slices.SortStableFunc(cands, func(a, b cand) int {
			if a.sim > b.sim {
				return -1
			}
			if a.sim < b.sim {
				return 1
			}
			return 0
		})
		votes := make([]float64, 5)
		for _, c := range cands[:7] {
			votes[train.Labels[c.idx]] += math.Exp(c.sim / DefaultTemperature)
		}
		ranked[i] = topClasses(votes, 5)
	}
	want := newReport("knn-k7", classNames(nil, 5), test.Labels, ranked)
	got := reports[7]
	if got.Top1 != want.Top1 || got.Top5 != want.Top5 {
		t.Fatalf("kNN top1/top5 = %v/%v, brute force %v/%v", got.Top1, got.Top5, want.Top1, want.Top5)
	}
	for c := range want.Confusion {
		if !slices.Equal(got.Confusion[c], want.Confusion[c]) {
			t.Fatalf("confusion row %d = %v, brute force %v", c, got.Confusion[c], want.Confusion[c])
		}
	}
	checkReportConsistent(t, got, test.Labels)
}

func TestErrors(t *testing.T) {
	be := newBackend(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(9, 10))
	train := blobs(rng, 3, 4, 20, 10)
	train.Classes = []string{"x", "y", "z"}

	single := Dataset{N: 3, D: 1, Features: []float32{1, 2, 3}, Labels: []int{0, 0, 0}}
	if _, err := TrainLinear(ctx, be, single, LinearOptions{}); err == nil || !strings.Contains(err.Error(), "need at least 2") {
		t.Errorf("single-class training: %v", err)
	}
	namedSingle := Dataset{N: 3, D: 1, Features: []float32{1, 2, 3}, Labels: []int{1, 1, 1}, Classes: []string{"p", "q"}}
	if _, err := TrainLinear(ctx, be, namedSingle, LinearOptions{}); err == nil || !strings.Contains(err.Error(), "single class") {
		t.Errorf("training with one class present: %v", err)
	}
	bad := train
	bad.Labels = bad.Labels[:10]
	if _, err := TrainLinear(ctx, be, bad, LinearOptions{}); err == nil || !strings.Contains(err.Error(), "labels") {
		t.Errorf("mismatched label count: %v", err)
	}
	for _, opts := range []LinearOptions{
		{Epochs: -1}, {BatchSize: -5}, {LRs: []float64{-0.1}}, {WeightDecays: []float64{math.NaN()}},
		{Momentum: 1}, {ValFraction: 0.7},
	} {
		if _, err := TrainLinear(ctx, be, train, opts); err == nil {
			t.Errorf("options %+v accepted", opts)
		}
	}
	if _, err := TrainLinear(ctx, nil, train, LinearOptions{}); err == nil {
		t.Error("nil backend accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := TrainLinear(cancelled, be, train, LinearOptions{Epochs: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}

	p, err := TrainLinear(ctx, be, train, LinearOptions{Epochs: 3, LRs: []float64{0.1}, WeightDecays: []float64{0}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Grid) != 0 {
		t.Errorf("single-pair grid recorded %v", p.Grid)
	}
	// Unknown class by name.
	test := blobs(rng, 3, 4, 5, 10)
	test.Classes = []string{"x", "y", "w"}
	if _, err := p.Evaluate(test); !errors.Is(err, ErrUnknownClass) || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("unknown class by name: %v", err)
	}
	if _, err := KNN(ctx, be, train, test, KNNOptions{}); !errors.Is(err, ErrUnknownClass) {
		t.Errorf("kNN unknown class by name: %v", err)
	}
	// Unknown class by index (no names on the test side).
	test.Classes = nil
	test.Labels[0] = 3
	if _, err := p.Evaluate(test); !errors.Is(err, ErrUnknownClass) || !strings.Contains(err.Error(), "label 3") {
		t.Errorf("unknown class by index: %v", err)
	}
	// Dimension mismatch.
	wide := Dataset{N: 1, D: 5, Features: make([]float32, 5), Labels: []int{0}}
	if _, err := p.Evaluate(wide); err == nil || !strings.Contains(err.Error(), "dimension 5") {
		t.Errorf("dimension mismatch: %v", err)
	}
	if _, err := KNN(ctx, be, train, wide, KNNOptions{}); err == nil {
		t.Error("kNN dimension mismatch accepted")
	}
	if _, _, err := p.Predict(make([]float32, 7), 2); err == nil {
		t.Error("Predict with a wrong-sized input accepted")
	}
	if _, err := KNN(ctx, be, train, train, KNNOptions{K: []int{0}}); err == nil {
		t.Error("K=0 accepted")
	}
	if _, err := KNN(ctx, be, train, train, KNNOptions{Temperature: -1}); err == nil {
		t.Error("negative temperature accepted")
	}
}

// TestEvaluateMatchesClassesByName shuffles the class order of the test set:
// the report must be identical once names are matched.
func TestEvaluateMatchesClassesByName(t *testing.T) {
	be := newBackend(t)
	rng := rand.New(rand.NewPCG(13, 14))
	train := blobs(rng, 3, 4, 30, 10)
	train.Classes = []string{"x", "y", "z"}
	test := blobs(rng, 3, 4, 10, 10)
	test.Classes = train.Classes
	p, err := TrainLinear(context.Background(), be, train, LinearOptions{Epochs: 5, LRs: []float64{0.1}, WeightDecays: []float64{0}})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := p.Evaluate(test)
	if err != nil {
		t.Fatal(err)
	}
	// Rename: new index 0 = "z", 1 = "x", 2 = "y", plus an unused extra class.
	perm := map[int]int{2: 0, 0: 1, 1: 2}
	shuffled := test
	shuffled.Classes = []string{"z", "x", "y", "unused"}
	shuffled.Labels = make([]int, test.N)
	for i, l := range test.Labels {
		shuffled.Labels[i] = perm[l]
	}
	got, err := p.Evaluate(shuffled)
	if err != nil {
		t.Fatal(err)
	}
	if got.Top1 != ref.Top1 || !slices.Equal(got.Classes, ref.Classes) || !slices.Equal(got.Support, ref.Support) {
		t.Fatalf("renamed test set gives %+v, want %+v", got, ref)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	be := newBackend(t)
	rng := rand.New(rand.NewPCG(15, 16))
	train := blobs(rng, 3, 5, 40, 4)
	train.Classes = []string{"red", "green", "blue"}
	test := blobs(rng, 3, 5, 20, 4)
	test.Classes = train.Classes
	p, err := TrainLinear(context.Background(), be, train, LinearOptions{Epochs: 4, LRs: []float64{0.1, 0.01}, WeightDecays: []float64{1e-4}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "probe.ckpt")
	if err := SaveProbe(path, p); err != nil {
		t.Fatal(err)
	}
	q, err := LoadProbe(path)
	if err != nil {
		t.Fatal(err)
	}
	if q.D != p.D || q.C != p.C || q.LR != p.LR || q.WeightDecay != p.WeightDecay || q.Epochs != p.Epochs ||
		q.BatchSize != p.BatchSize || q.Momentum != p.Momentum || !q.NamedClasses ||
		!slices.Equal(q.Classes, p.Classes) || !slices.Equal(q.Grid, p.Grid) ||
		!slices.Equal(q.W, p.W) || !slices.Equal(q.B, p.B) || !slices.Equal(q.Mean, p.Mean) || !slices.Equal(q.Std, p.Std) {
		t.Fatalf("loaded probe differs:\n got %+v\nwant %+v", q, p)
	}
	c1, s1, err := p.Predict(test.Features, test.N)
	if err != nil {
		t.Fatal(err)
	}
	c2, s2, err := q.Predict(test.Features, test.N)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c1, c2) || !slices.Equal(s1, s2) {
		t.Fatal("loaded probe predicts differently")
	}

	// A raw-feature probe round-trips without stats.
	raw, err := TrainLinear(context.Background(), be, train, LinearOptions{Epochs: 1, LRs: []float64{0.1}, WeightDecays: []float64{0}, NoStandardize: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveProbe(path, raw); err != nil {
		t.Fatal(err)
	}
	back, err := LoadProbe(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Mean != nil || back.Std != nil || !slices.Equal(back.W, raw.W) {
		t.Fatalf("raw probe round trip: %+v", back)
	}

	f, err := p.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	f.Header.Kind = "swav-model"
	if _, err := ProbeFromCheckpoint(f); err == nil || !strings.Contains(err.Error(), "kind") {
		t.Errorf("wrong kind accepted: %v", err)
	}
	if _, err := LoadProbe(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("loading a missing file succeeded")
	}
}

func TestWriteConfusionPNG(t *testing.T) {
	r := newReport("demo", []string{"cat", "dog", "a-very-long-class-name-that-gets-cut"}, []int{0, 0, 1, 2, 2, 2},
		[][]int{{0, 1, 2}, {0, 1, 2}, {1, 0, 2}, {2, 0, 1}, {2, 0, 1}, {1, 0, 2}})
	path := filepath.Join(t.TempDir(), "confusion.png")
	if err := r.WriteConfusionPNG(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decoding the written PNG: %v", err)
	}
	// Recompute the layout: 3 classes → 48 px cells, labels on.
	labelWidth := maxLabelRunes*glyphWidth + 2*labelPadding
	left, top, cell := labelWidth, glyphHeight+2*labelPadding+labelWidth, 48
	b := img.Bounds()
	if b.Dx() < left+3*cell || b.Dy() != top+3*cell+labelPadding {
		t.Fatalf("image is %v, want at least %d×%d", b, left+3*cell, top+3*cell+labelPadding)
	}
	// Predictions per true class: row 0 → [2 0 0], row 1 → [0 1 0],
	// row 2 → [0 1 2]. Sample cell corners (away from the count text).
	shade := func(tc, pc int) uint32 {
		r, g, b, _ := img.At(left+pc*cell+1, top+tc*cell+1).RGBA()
		return r + g + b
	}
	full, empty, twoThirds := shade(0, 0), shade(0, 1), shade(2, 2)
	if !(full < twoThirds && twoThirds < empty) {
		t.Errorf("cell shades (lower is darker): fraction 1 → %d, 2/3 → %d, 0 → %d; want increasing", full, twoThirds, empty)
	}
	if r, g, b, _ := img.At(left+cell+1, top+1).RGBA(); r != 0xffff || g != 0xffff || b != 0xffff {
		t.Errorf("empty cell is not white: %x %x %x", r, g, b)
	}
	// Some label ink must exist left of the matrix.
	inked := false
	for y := top; y < top+cell && !inked; y++ {
		for x := 0; x < left; x++ {
			if r, _, _, _ := img.At(x, y).RGBA(); r < 0x8000 {
				inked = true
				break
			}
		}
	}
	if !inked {
		t.Error("no class label drawn next to the first row")
	}
	if err := (&Report{}).WriteConfusionPNG(path); err == nil {
		t.Error("empty report accepted")
	}
}

// TestTinyTrainingSet covers a training set too small to hold out a
// validation split: the first grid pair is used without a search.
func TestTinyTrainingSet(t *testing.T) {
	be := newBackend(t)
	train := Dataset{N: 2, D: 1, Features: []float32{0, 1}, Labels: []int{1, 0}, Classes: []string{"hi", "lo"}}
	p, err := TrainLinear(context.Background(), be, train, LinearOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Grid != nil || p.LR != DefaultLRs()[0] || p.WeightDecay != DefaultWeightDecays()[0] {
		t.Errorf("tiny set: grid %v, lr %g, wd %g; want no search and the first pair", p.Grid, p.LR, p.WeightDecay)
	}
	pred, _, err := p.Predict([]float32{-0.5, 2}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pred, []int{1, 0}) {
		t.Errorf("tiny set predictions %v, want [1 0]", pred)
	}
}
