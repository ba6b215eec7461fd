package dataparallel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// nhwc returns a [n, h, w, c] float32 tensor with channel ch distributed as
// offset[ch] + scale·N(0, 1), and its values as float64 for the reference.
func nhwc(rng *rand.Rand, n, h, w, c int, offset []float64, scale float64) (*tensors.Tensor, []float64) {
	vals := make([][][][]float32, n)
	var flat []float64
	for i := range vals {
		vals[i] = make([][][]float32, h)
		for y := range vals[i] {
			vals[i][y] = make([][]float32, w)
			for x := range vals[i][y] {
				vals[i][y][x] = make([]float32, c)
				for ch := range c {
					v := float32(offset[ch] + scale*rng.NormFloat64())
					vals[i][y][x][ch] = v
					flat = append(flat, float64(v)) // the float32 value, exactly
				}
			}
		}
	}
	return tensors.FromValue(vals), flat
}

// momentsFloat64 is the batch's per-channel mean and biased variance in float64, two-pass.
func momentsFloat64(flat []float64, c int) (mean, variance []float64) {
	mean, variance = make([]float64, c), make([]float64, c)
	count := float64(len(flat) / c)
	for i, v := range flat {
		mean[i%c] += v / count
	}
	for i, v := range flat {
		d := v - mean[i%c]
		variance[i%c] += d * d / count
	}
	return mean, variance
}

// runMoments returns, for float32 shards, the replica-0 mean and variance of Moments with
// a Simulated collective (shift optional), and those of the concatenated batch computed
// as model's batch norm does (mean, then mean of squared deviations).
func runMoments(t *testing.T, backend backends.Backend, shards []*tensors.Tensor, shift []float32) (mean, variance, wantMean, wantVar []float64) {
	t.Helper()
	n := len(shards)
	exec, err := graph.NewExec(backend, func(in []*graph.Node) []*graph.Node {
		var s *graph.Node
		if shift != nil {
			s = graph.Const(in[0].Graph(), shift)
		}
		m, v := Moments(in, Simulated{N: n}, s, 0, 1, 2)
		all := graph.Concatenate(in, 0)
		gm := graph.ReduceMean(all, 0, 1, 2)
		gv := graph.ReduceMean(graph.Square(graph.Sub(all, graph.ExpandLeftToRank(gm, 4))), 0, 1, 2)
		return []*graph.Node{m[0], v[0], gm, gv, m[n-1], v[n-1]}
	})
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, n)
	for r, s := range shards {
		args[r] = s
	}
	out, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	vec := func(x *tensors.Tensor) []float64 {
		var v []float64
		for _, e := range x.Value().([]float32) {
			v = append(v, float64(e))
		}
		return v
	}
	if !slices.Equal(vec(out[0]), vec(out[4])) || !slices.Equal(vec(out[1]), vec(out[5])) {
		t.Fatalf("replicas 0 and %d got different moments", n-1)
	}
	return vec(out[0]), vec(out[1]), vec(out[2]), vec(out[3])
}

// TestMomentsEqualGlobalBatch: synchronised BN statistics from per-shard Σx, Σx² equal
// the statistics of the concatenated batch (computed by the graph as batch norm does,
// and in float64 by hand), for 1, 2 and 4 replicas, with and without a shift.
func TestMomentsEqualGlobalBatch(t *testing.T) {
	backend := newBackend(t)
	rng := rand.New(rand.NewPCG(8, 64))
	offset := []float64{0.5, -2, 3, 0, 1}
	for _, n := range []int{1, 2, 4} {
		shards := make([]*tensors.Tensor, n)
		var flat []float64
		for r := range shards {
			var f []float64
			shards[r], f = nhwc(rng, 2, 3, 3, 5, offset, 1.5)
			flat = append(flat, f...)
		}
		refMean, refVar := momentsFloat64(flat, 5)
		for _, shift := range [][]float32{nil, {0.4, -2.1, 3, 0.2, 1}} {
			name := fmt.Sprintf("n=%d shift=%v", n, shift)
			mean, variance, gMean, gVar := runMoments(t, backend, shards, shift)
			for ch := range 5 {
				for _, c := range []struct {
					what      string
					got, want float64
				}{
					{"mean vs graph", mean[ch], gMean[ch]}, {"variance vs graph", variance[ch], gVar[ch]},
					{"mean vs float64", mean[ch], refMean[ch]}, {"variance vs float64", variance[ch], refVar[ch]},
				} {
					if math.Abs(c.got-c.want) > 1e-5*math.Max(1, math.Abs(c.want)) {
						t.Errorf("%s channel %d: %s: %.7g, want %.7g", name, ch, c.what, c.got, c.want)
					}
				}
			}
		}
	}
}

// TestMomentsShiftCancellation: activations with mean 1000 and std 0.01 in float32.
// Σx²/N − mean² then cancels every significant digit of the variance (1e-4), which the
// running-mean shift restores.
func TestMomentsShiftCancellation(t *testing.T) {
	backend := newBackend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	offset := []float64{1000, 1000}
	shards := make([]*tensors.Tensor, 4)
	var flat []float64
	for r := range shards {
		var f []float64
		shards[r], f = nhwc(rng, 2, 3, 3, 2, offset, 0.01)
		flat = append(flat, f...)
	}
	_, refVar := momentsFloat64(flat, 2)
	_, unshifted, _, _ := runMoments(t, backend, shards, nil)
	_, shifted, _, _ := runMoments(t, backend, shards, []float32{1000, 1000})
	for ch := range 2 {
		if rel := math.Abs(shifted[ch]-refVar[ch]) / refVar[ch]; rel > 1e-3 {
			t.Errorf("channel %d with shift: variance %.6g, want %.6g (relative error %.2g)", ch, shifted[ch], refVar[ch], rel)
		}
		if rel := math.Abs(unshifted[ch]-refVar[ch]) / refVar[ch]; rel < 0.5 {
			t.Errorf("channel %d without shift: variance %.6g within %.2g of %.6g; expected float32 cancellation", ch, unshifted[ch], rel, refVar[ch])
		}
	}
}

func TestMomentsPanics(t *testing.T) {
	backend := newBackend(t)
	g := graph.NewGraph(backend, "moments")
	x := graph.Const(g, [][]float32{{1, 2}})
	if r := catch(func() { Moments(nil, Simulated{N: 1}, nil, 0) }); r == nil {
		t.Error("no shards: no panic")
	}
	if r := catch(func() { Moments([]*graph.Node{x}, Simulated{N: 1}, nil) }); r == nil {
		t.Error("no axes: no panic")
	}
	if r := catch(func() { Moments([]*graph.Node{x}, Simulated{N: 3}, nil, 0) }); r == nil {
		t.Error("1 shard for 3 replicas: no panic")
	}
}

// TestMomentsGradientEqualsGlobalBatch: the gradient of a function of the synchronised
// moments with respect to each shard equals the gradient of the same function of the
// concatenated batch's moments with respect to that shard's rows — the backward pass of
// synchronised batch norm reaches every replica's activations.
func TestMomentsGradientEqualsGlobalBatch(t *testing.T) {
	backend := newBackend(t)
	const n, rows, c = 3, 4, 2
	rng := rand.New(rand.NewPCG(6, 7))
	shards := make([][][]float64, n)
	args := make([]any, n)
	for r := range shards {
		shards[r] = randomMatrix(rng, rows, c, -2, 2)
		args[r] = tensors.FromValue(shards[r])
	}
	loss := func(m, v *graph.Node) *graph.Node {
		return graph.ReduceAllSum(graph.Add(graph.Mul(m, m), graph.Sqrt(graph.AddScalar(v, 1e-3))))
	}
	exec, err := graph.NewExec(backend, func(in []*graph.Node) []*graph.Node {
		m, v := Moments(in, Simulated{N: n}, nil, 0)
		sharded := graph.Gradient(loss(m[0], v[0]), in...)
		all := graph.Concatenate(in, 0)
		gm := graph.ReduceMean(all, 0)
		gv := graph.ReduceMean(graph.Square(graph.Sub(all, graph.ExpandLeftToRank(gm, 2))), 0)
		global := graph.Gradient(loss(gm, gv), in...)
		return append(sharded, global...)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	for r := range n {
		got, want := toMatrix(t, out[r]), toMatrix(t, out[n+r])
		if d := maxAbsDiff(t, "gradient", got, want); d > 1e-10 {
			t.Errorf("shard %d: gradient through the synchronised moments differs from the global batch's by %.3g", r, d)
		}
		nonzero := false
		for _, row := range want {
			for _, g := range row {
				nonzero = nonzero || g != 0
			}
		}
		if !nonzero {
			t.Errorf("shard %d: zero gradient, the comparison proves nothing", r)
		}
	}
}
