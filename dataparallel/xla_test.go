//go:build xla

package dataparallel

// These tests run the SPMD path on GoMLX's XLA backend: go test -tags xla ./dataparallel/
// on a machine with a PJRT plugin installed (the CPU plugin gives several devices with
// XLA_FLAGS=--xla_force_host_platform_device_count=N, which TestMain sets to 4 unless
// XLA_FLAGS is already set; PJRT_PLUGIN_LIBRARY_PATH names where the plugin is). They
// never download a plugin.

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"

	"github.com/swav-go/swav/swavloss"
)

func TestMain(m *testing.M) {
	if _, ok := os.LookupEnv("XLA_FLAGS"); !ok {
		_ = os.Setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
	}
	xla.EnableAutoInstall(false)
	os.Exit(m.Run())
}

// newXLABackend returns the XLA backend of $GOMLX_BACKEND (default "xla:cpu") and its
// device count, failing with the reason when no plugin is installed or it has one device.
func newXLABackend(t *testing.T) (backends.Backend, int) {
	t.Helper()
	config := os.Getenv(backends.ConfigEnvVar)
	if config == "" {
		config = "xla:cpu"
	}
	b, err := backends.NewWithConfig(config)
	if err != nil {
		t.Fatalf("XLA backend %q (needs an installed PJRT plugin): %v", config, err)
	}
	t.Cleanup(b.Finalize)
	n := b.NumDevices()
	if n < 2 {
		t.Fatalf("XLA backend %s has %d device; set XLA_FLAGS=--xla_force_host_platform_device_count=4 for the CPU plugin", b.Name(), n)
	}
	return b, min(n, 4)
}

// TestXLASinkhornSPMD runs NewSinkhornExec on n XLA devices, each with its own shard of
// scores, and checks that the devices' codes together equal swavloss.Sinkhorn of the
// whole batch on one device and the float64 transcription of distributed_sinkhorn.
func TestXLASinkhornSPMD(t *testing.T) {
	backend, n := newXLABackend(t)
	mesh, err := NewMesh(n)
	if err != nil {
		t.Fatal(err)
	}
	const b, k, eps, iters = 8, 10, 0.05, 3
	rng := rand.New(rand.NewPCG(15, 15))
	shards := make([][][]float64, n)
	args := make([]any, n)
	var whole [][]float64
	for r := range shards {
		shards[r] = randomMatrix(rng, b, k, -1, 1)
		args[r] = toTensor(t, shards[r], dtypes.Float32)
		whole = append(whole, shards[r]...)
	}
	exec, err := NewSinkhornExec(backend, mesh, eps, iters)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(args...)
	if err != nil {
		t.Fatalf("SPMD Sinkhorn on %d devices: %v", n, err)
	}
	if len(out) != n {
		t.Fatalf("%d outputs for %d devices", len(out), n)
	}
	var got [][]float64
	for _, o := range out {
		got = append(got, toMatrix(t, o)...)
	}
	single, err := graph.NewExec(backend, func(s *graph.Node) *graph.Node { return swavloss.Sinkhorn(s, eps, iters) })
	if err != nil {
		t.Fatal(err)
	}
	want, err := single.Exec(toTensor(t, whole, dtypes.Float32))
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, "SPMD vs single device", got, toMatrix(t, want[0])); d > 1e-5 {
		t.Errorf("SPMD Sinkhorn on %d devices vs swavloss.Sinkhorn of the whole batch: max |Δ| = %.3g", n, d)
	}
	if d := maxAbsDiff(t, "SPMD vs reference", got, distributedSinkhornFloat64(shards, eps, iters)); d > 1e-5 {
		t.Errorf("SPMD Sinkhorn on %d devices vs distributed_sinkhorn: max |Δ| = %.3g", n, d)
	}
}

// TestXLASinkhornAutoSharding: the single-device swavloss.Sinkhorn partitioned by XLA
// Shardy over n devices gives the codes of the whole batch, shard by shard.
func TestXLASinkhornAutoSharding(t *testing.T) {
	backend, n := newXLABackend(t)
	mesh, err := NewMesh(n)
	if err != nil {
		t.Fatal(err)
	}
	const b, k, eps, iters = 8, 10, 0.05, 3
	rng := rand.New(rand.NewPCG(16, 16))
	shards := make([][][]float64, n)
	args := make([]any, n)
	for r := range shards {
		shards[r] = randomMatrix(rng, b, k, -1, 1)
		args[r] = toTensor(t, shards[r], dtypes.Float32)
	}
	exec, err := NewAutoShardedSinkhornExec(backend, mesh, eps, iters)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(args...)
	if err != nil {
		t.Fatalf("AutoSharding Sinkhorn on %d devices: %v", n, err)
	}
	if len(out) != n {
		t.Fatalf("%d outputs for %d devices", len(out), n)
	}
	var got [][]float64
	for _, o := range out {
		got = append(got, toMatrix(t, o)...)
	}
	if d := maxAbsDiff(t, "AutoSharding vs reference", got, distributedSinkhornFloat64(shards, eps, iters)); d > 1e-5 {
		t.Errorf("AutoSharding Sinkhorn on %d devices vs distributed_sinkhorn: max |Δ| = %.3g", n, d)
	}
}

// TestXLAMomentsSPMD: synchronised BN moments across n XLA devices equal those of the
// concatenated batch.
func TestXLAMomentsSPMD(t *testing.T) {
	backend, n := newXLABackend(t)
	mesh, err := NewMesh(n)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 3))
	args := make([]any, n)
	var flat []float64
	for r := range args {
		var f []float64
		args[r], f = nhwc(rng, 2, 3, 3, 4, []float64{1, -1, 0, 5}, 2)
		flat = append(flat, f...)
	}
	wantMean, wantVar := momentsFloat64(flat, 4)
	exec, err := graph.NewExec(backend, func(x *graph.Node) []*graph.Node {
		m, v := Moments([]*graph.Node{x}, SPMD{Mesh: mesh}, nil, 0, 1, 2)
		return []*graph.Node{m[0], v[0]}
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.SPMD(mesh).Exec(args...)
	if err != nil {
		t.Fatalf("SPMD moments on %d devices: %v", n, err)
	}
	for d := range n {
		mean, variance := out[2*d].Value().([]float32), out[2*d+1].Value().([]float32)
		for ch := range 4 {
			if dm, dv := float64(mean[ch])-wantMean[ch], float64(variance[ch])-wantVar[ch]; dm*dm > 1e-10 || dv*dv > 1e-10 {
				t.Errorf("device %d channel %d: mean %g variance %g, want %g %g", d, ch, mean[ch], variance[ch], wantMean[ch], wantVar[ch])
			}
		}
	}
}

// TestXLAMomentsGradientSPMD: the gradient of a loss of the synchronised moments with
// respect to each device's activations, computed under SPMD (through the all-reduce's
// self-adjoint gradient), equals the gradient computed with every shard in one graph.
func TestXLAMomentsGradientSPMD(t *testing.T) {
	backend, n := newXLABackend(t)
	mesh, err := NewMesh(n)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 5))
	shards := make([][][]float64, n)
	for r := range shards {
		shards[r] = randomMatrix(rng, 6, 3, -2, 2)
	}
	loss := func(m, v *graph.Node) *graph.Node { // any smooth function of both moments
		return graph.ReduceAllSum(graph.Add(graph.Mul(m, m), graph.Sqrt(graph.AddScalar(v, 1e-3))))
	}
	spmd, err := graph.NewExec(backend, func(x *graph.Node) *graph.Node {
		m, v := Moments([]*graph.Node{x}, SPMD{Mesh: mesh}, nil, 0)
		return graph.Gradient(loss(m[0], v[0]), x)[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, n)
	for r := range args {
		args[r] = toTensor(t, shards[r], dtypes.Float32)
	}
	got, err := spmd.SPMD(mesh).Exec(args...)
	if err != nil {
		t.Fatalf("SPMD gradient on %d devices: %v", n, err)
	}
	sim, err := graph.NewExec(backend, func(in []*graph.Node) []*graph.Node {
		m, v := Moments(in, Simulated{N: n}, nil, 0)
		return graph.Gradient(loss(m[0], v[0]), in...)
	})
	if err != nil {
		t.Fatal(err)
	}
	simArgs := make([]any, n)
	for r := range simArgs {
		simArgs[r] = toTensor(t, shards[r], dtypes.Float32)
	}
	want, err := sim.Exec(simArgs...)
	if err != nil {
		t.Fatal(err)
	}
	for r := range n {
		if d := maxAbsDiff(t, "gradient", toMatrix(t, got[r]), toMatrix(t, want[r])); d > 1e-5 {
			t.Errorf("device %d: SPMD gradient differs from the one-graph gradient by %.3g", r, d)
		}
	}
}
