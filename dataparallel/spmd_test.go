package dataparallel

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/distributed"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// TestSPMDOnPureGoBackend pins what GoMLX v0.26.0's pure-Go backend does with the SPMD
// executable: it has one device, so the second device's input is refused, and even a 1-device SPMD
// graph fails because its builder does not implement DistributedSPMD. (When a later GoMLX
// implements it, this test fails and docs/scaling.md must be updated.)
func TestSPMDOnPureGoBackend(t *testing.T) {
	backend := newBackend(t)
	if n := backend.NumDevices(); n != 1 {
		t.Fatalf("pure-Go backend has %d devices, docs/scaling.md says 1", n)
	}
	scores := [][]float32{{0.1, 0.9, -0.3}, {0.5, -0.2, 0.7}} // a Go value: each argument is transferred anew
	for _, tc := range []struct {
		devices int
		want    string
	}{
		{1, "DistributedSPMD"},
		{2, "only supports deviceNum 0"},
	} {
		mesh, err := NewMesh(tc.devices)
		if err != nil {
			t.Fatal(err)
		}
		exec, err := NewSinkhornExec(backend, mesh, 0.05, 3)
		if err != nil {
			t.Fatalf("NewSinkhornExec(%d devices): %v", tc.devices, err)
		}
		args := make([]any, tc.devices)
		for i := range args {
			args[i] = scores
		}
		_, err = exec.Exec(args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%d-device SPMD Sinkhorn on %s: error %v, want one containing %q", tc.devices, backend.Name(), err, tc.want)
		}
	}
}

// TestAutoShardingOnPureGoBackend: the AutoSharding executable fails the same way, its
// builder lacking DistributedAutoSharding.
func TestAutoShardingOnPureGoBackend(t *testing.T) {
	backend := newBackend(t)
	mesh, err := NewMesh(1)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := NewAutoShardedSinkhornExec(backend, mesh, 0.05, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Exec([][]float32{{0.1, 0.9}, {0.5, -0.2}}); err == nil || !strings.Contains(err.Error(), "DistributedAutoSharding") {
		t.Errorf("AutoSharding Sinkhorn on %s: error %v, want one naming DistributedAutoSharding", backend.Name(), err)
	}
	if _, err := NewAutoShardedSinkhornExec(backend, mesh, 0, 3); err == nil {
		t.Error("ε = 0: no error")
	}
}

func TestNewSinkhornExecErrors(t *testing.T) {
	backend := newBackend(t)
	mesh2d, err := distributed.NewDeviceMesh([]int{1, 1}, []string{"batch", "model"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSinkhornExec(backend, mesh2d, 0.05, 3); err == nil || !strings.Contains(err.Error(), "1-D mesh") {
		t.Errorf("2-D mesh: %v", err)
	}
	mesh, err := NewMesh(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		eps   float64
		iters int
	}{{0, 3}, {-1, 3}, {0.05, -1}} {
		if _, err := NewSinkhornExec(backend, mesh, bad.eps, bad.iters); err == nil {
			t.Errorf("ε=%g iterations=%d: no error", bad.eps, bad.iters)
		}
	}
}

func TestCollectivePanics(t *testing.T) {
	backend := newBackend(t)
	g := graph.NewGraph(backend, "collective")
	x := graph.Const(g, []float32{1, 2})
	mesh, err := NewMesh(2)
	if err != nil {
		t.Fatal(err)
	}
	if r := catch(func() { SPMD{Mesh: mesh}.AllReduce([]*graph.Node{x, x}, backends.ReduceOpSum) }); r == nil || !strings.Contains(r.(string), "holds 1 replica") {
		t.Errorf("SPMD with 2 values: %v", r)
	}
	if r := catch(func() { Simulated{N: 1}.AllReduce([]*graph.Node{x}, backends.ReduceOpProduct) }); r == nil || !strings.Contains(r.(string), "not supported") {
		t.Errorf("Simulated product: %v", r)
	}
	if got := (SPMD{Mesh: mesh}).Replicas(); got != 2 {
		t.Errorf("SPMD replicas %d, want 2", got)
	}
}

// TestSelfAdjointGradient: the wrapper gives f(x) forward and f(v) backward even when f
// itself has no gradient (here f stops it, as GoMLX's AllReduce has none).
func TestSelfAdjointGradient(t *testing.T) {
	backend := newBackend(t)
	f := func(v *graph.Node) *graph.Node { return graph.StopGradient(graph.MulScalar(v, 3)) }
	exec, err := graph.NewExec(backend, func(x, w *graph.Node) []*graph.Node {
		y := withSelfAdjointGradient(x, f)
		loss := graph.ReduceAllSum(graph.Mul(y, w))
		return []*graph.Node{y, graph.Gradient(loss, x)[0]}
	})
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{1e-8, 2, -5}
	out, err := exec.Exec(x, []float32{0.5, -1, 4})
	if err != nil {
		t.Fatal(err)
	}
	y, grad := out[0].Value().([]float32), out[1].Value().([]float32)
	for i := range x {
		if want := x[i] * 3; y[i] != want {
			t.Errorf("forward[%d] = %g, want exactly %g", i, y[i], want)
		}
	}
	for i, want := range []float32{1.5, -3, 12} {
		if grad[i] != want {
			t.Errorf("gradient[%d] = %g, want f(w) = %g", i, grad[i], want)
		}
	}
}
