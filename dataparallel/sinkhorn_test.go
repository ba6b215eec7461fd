package dataparallel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"

	"github.com/swav-go/swav/swavloss"
)

// runSharded executes, in one graph, the sharded Sinkhorn over shards with a
// Simulated collective, swavloss.Sinkhorn of the concatenated shards, and swavloss.Sinkhorn
// of each shard alone (what a data-parallel run without the all-reduces would compute).
// It returns the three as B×K matrices, rows in shard order.
func runSharded(t *testing.T, shards [][][]float64, dtype dtypes.DType, epsilon float64, iterations int) (sharded, single, localOnly [][]float64) {
	t.Helper()
	n := len(shards)
	exec, err := graph.NewExec(newBackend(t), func(in []*graph.Node) []*graph.Node {
		q := Sinkhorn(in, Simulated{N: n}, epsilon, iterations)
		out := []*graph.Node{graph.Concatenate(q, 0), swavloss.Sinkhorn(graph.Concatenate(in, 0), epsilon, iterations)}
		local := make([]*graph.Node, n)
		for r, s := range in {
			local[r] = swavloss.Sinkhorn(s, epsilon, iterations)
		}
		return append(out, graph.Concatenate(local, 0))
	})
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, n)
	for r, s := range shards {
		args[r] = toTensor(t, s, dtype)
	}
	out, err := exec.Exec(args...)
	if err != nil {
		t.Fatalf("executing: %v", err)
	}
	for _, o := range out {
		if o.DType() != dtype {
			t.Fatalf("result in %s, want %s", o.DType(), dtype)
		}
	}
	return toMatrix(t, out[0]), toMatrix(t, out[1]), toMatrix(t, out[2])
}

// distributedSinkhornFloat64 transcribes the reference's distributed_sinkhorn
// (main_swav.py) in float64 for world size len(shards): each rank r holds shards[r]
// (b×K); dist.all_reduce is the sum over ranks; columns stay local. It returns the ranks'
// codes stacked in rank order.
func distributedSinkhornFloat64(shards [][][]float64, epsilon float64, iterations int) [][]float64 {
	ranks, b, k := len(shards), len(shards[0]), len(shards[0][0])
	globalB := float64(b * ranks)
	q := make([][][]float64, ranks) // q[r][k][j], K×b per rank
	for r := range q {
		q[r] = make([][]float64, k)
		for p := range k {
			q[r][p] = make([]float64, b)
			for j := range b {
				q[r][p][j] = math.Exp(shards[r][j][p] / epsilon)
			}
		}
	}
	total := 0.0 // sum_Q, all-reduced
	for r := range q {
		for p := range k {
			for j := range b {
				total += q[r][p][j]
			}
		}
	}
	for r := range q {
		for p := range k {
			for j := range b {
				q[r][p][j] /= total
			}
		}
	}
	for range iterations {
		rows := make([]float64, k) // sum_of_rows, all-reduced
		for r := range q {
			for p := range k {
				for j := range b {
					rows[p] += q[r][p][j]
				}
			}
		}
		for r := range q {
			for p := range k {
				for j := range b {
					q[r][p][j] /= rows[p] * float64(k)
				}
			}
			for j := range b { // columns: local
				col := 0.0
				for p := range k {
					col += q[r][p][j]
				}
				for p := range k {
					q[r][p][j] /= col * globalB
				}
			}
		}
	}
	var out [][]float64
	for r := range q {
		for j := range b {
			row := make([]float64, k)
			for p := range k {
				row[p] = q[r][p][j] * globalB
			}
			out = append(out, row)
		}
	}
	return out
}

// TestShardedSinkhornEqualsSingleDevice is the global-batch semantics: Sinkhorn over n
// shards with all-reduced total and row sums gives exactly the codes of swavloss.Sinkhorn
// on the concatenated B×K scores (1e-10 in float64, 1e-5 in float32), and the
// reference's distributed_sinkhorn transcribed in plain Go; while Sinkhorn on each shard
// alone (no all-reduce) gives different codes, so the comparison can fail.
func TestShardedSinkhornEqualsSingleDevice(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 64))
	for _, tc := range []struct {
		n, b, k, iterations int
		epsilon             float64
	}{
		{4, 8, 10, 3, 0.05}, // the paper's ε and iterations
		{2, 16, 3, 3, 0.05},
		{3, 5, 12, 1, 0.05},
		{8, 4, 6, 5, 0.05},
		{4, 8, 10, 0, 0.05}, // only the all-reduced total mass
		{1, 8, 5, 3, 0.05},  // one replica: the single-device function
		{4, 6, 8, 3, 0.02},
	} {
		shards := make([][][]float64, tc.n)
		for r := range shards {
			shards[r] = randomMatrix(rng, tc.b, tc.k, -1, 1) // cosine scores
		}
		want := distributedSinkhornFloat64(shards, tc.epsilon, tc.iterations)
		for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
			name := fmt.Sprintf("n=%d b=%d K=%d iters=%d ε=%g %s", tc.n, tc.b, tc.k, tc.iterations, tc.epsilon, dtype)
			sharded, single, localOnly := runSharded(t, shards, dtype, tc.epsilon, tc.iterations)
			tol := 1e-10
			if dtype == dtypes.Float32 {
				tol = 1e-5
			}
			if d := maxAbsDiff(t, name, sharded, single); d > tol {
				t.Errorf("%s: sharded vs swavloss.Sinkhorn of the whole batch: max |Δ| = %.3g > %g", name, d, tol)
			}
			if d := maxAbsDiff(t, name, sharded, want); d > tol {
				t.Errorf("%s: sharded vs the reference's distributed_sinkhorn: max |Δ| = %.3g > %g", name, d, tol)
			}
			// After a column normalisation every sample's code sums to 1; with no
			// iteration only the total mass is fixed: B.
			total := 0.0
			for i, row := range sharded {
				sum := 0.0
				for _, v := range row {
					sum += v
				}
				total += sum
				if tc.iterations > 0 && math.Abs(sum-1) > 10*tol {
					t.Errorf("%s: row %d sums to %.8f, want 1", name, i, sum)
				}
			}
			if B := float64(tc.n * tc.b); math.Abs(total-B) > 10*tol*B {
				t.Errorf("%s: Q sums to %.8f, want B = %g", name, total, B)
			}
			if tc.n > 1 && tc.iterations > 0 {
				if d := maxAbsDiff(t, name, localOnly, single); d < 1e-3 {
					t.Errorf("%s: per-shard Sinkhorn without all-reduce is within %.3g of the global one; the test would not notice a missing reduction", name, d)
				}
			}
		}
	}
}

// TestShardedSinkhornStableFloat32: at ε = 0.01 with a prototype that every sample
// scores −1 and a sample that scores −1 everywhere on one shard (whole rows and columns
// of exp(scores/ε) underflow in float32 relative to the best score), the sharded log-domain
// form has no Inf/NaN and still equals the float64 reference.
func TestShardedSinkhornStableFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	shards := make([][][]float64, 4)
	for r := range shards {
		shards[r] = randomMatrix(rng, 6, 8, -1, 1)
		for j := range shards[r] {
			shards[r][j][2] = -1
		}
	}
	for p := range shards[1][3] {
		shards[1][3][p] = -1
	}
	shards[0][0][0] = 1
	sharded, _, _ := runSharded(t, shards, dtypes.Float32, 0.01, 3)
	want := distributedSinkhornFloat64(shards, 0.01, 3)
	for i, row := range sharded {
		for p, v := range row {
			if math.IsInf(v, 0) || math.IsNaN(v) {
				t.Fatalf("Q[%d][%d] = %g", i, p, v)
			}
		}
	}
	if d := maxAbsDiff(t, "ε=0.01", sharded, want); d > 1e-4 {
		t.Errorf("float32 sharded vs float64 reference at ε=0.01: max |Δ| = %.3g", d)
	}
}

func TestShardedSinkhornPanics(t *testing.T) {
	backend := newBackend(t)
	row := func(g *graph.Graph, v ...float32) *graph.Node { return graph.Const(g, [][]float32{v}) }
	for _, tc := range []struct {
		name, want string
		build      func(g *graph.Graph)
	}{
		{"no shards", "no shards", func(*graph.Graph) { Sinkhorn(nil, Simulated{N: 1}, 0.05, 3) }},
		{"shape mismatch", "replica 1 has shape", func(g *graph.Graph) {
			Sinkhorn([]*graph.Node{row(g, 1, 2), row(g, 1, 2, 3)}, Simulated{N: 2}, 0.05, 3)
		}},
		{"wrong replica count", "1 values for 2 replicas", func(g *graph.Graph) {
			Sinkhorn([]*graph.Node{row(g, 1, 2)}, Simulated{N: 2}, 0.05, 3)
		}},
		{"epsilon", "epsilon", func(g *graph.Graph) { Sinkhorn([]*graph.Node{row(g, 1, 2)}, Simulated{N: 1}, 0, 3) }},
		{"iterations", "iterations", func(g *graph.Graph) { Sinkhorn([]*graph.Node{row(g, 1, 2)}, Simulated{N: 1}, 0.05, -1) }},
		{"rank", "b×K float matrices", func(g *graph.Graph) {
			Sinkhorn([]*graph.Node{graph.Const(g, []float32{1, 2})}, Simulated{N: 1}, 0.05, 3)
		}},
	} {
		r := catch(func() { tc.build(graph.NewGraph(backend, tc.name)) })
		msg := fmt.Sprint(r)
		if r == nil || !strings.Contains(msg, "dataparallel.") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: panic %q, want a dataparallel panic about %q", tc.name, msg, tc.want)
		}
	}
}

// catch runs f and returns what it panicked with, or nil.
func catch(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}
