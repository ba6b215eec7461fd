package dataparallel

import (
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

func TestNewMesh(t *testing.T) {
	for _, n := range []int{0, -3} {
		if _, err := NewMesh(n); err == nil || !strings.Contains(err.Error(), "at least 1 device") {
			t.Errorf("NewMesh(%d): error %v, want one saying at least 1 device", n, err)
		}
	}
	mesh, err := NewMesh(64)
	if err != nil {
		t.Fatal(err)
	}
	if mesh.NumDevices() != 64 || !slices.Equal(mesh.AxesNames(), []string{BatchAxis}) || !slices.Equal(mesh.AxesSizes(), []int{64}) {
		t.Fatalf("NewMesh(64) = %s", mesh)
	}
	// The replica group an SPMD AllReduce over the batch axis uses: every device.
	groups, err := mesh.ComputeReplicaGroups([]string{BatchAxis})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || len(groups[0]) != 64 || groups[0][0] != 0 || groups[0][63] != 63 {
		t.Errorf("replica groups over %q: %v, want one group 0…63", BatchAxis, groups)
	}
}

// TestSpecs checks the per-device shapes the specs give for the paper's configuration:
// batch 4096 on 64 devices, 2×224 + 6×96 crops, K = 3000, D = 128.
func TestSpecs(t *testing.T) {
	mesh, err := NewMesh(64)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := BatchSpec(mesh, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := BatchSpec(mesh, 0); err == nil {
		t.Error("BatchSpec of rank 0: no error")
	}
	replicated := ReplicatedSpec(mesh)
	if got, want := batch.String(), "ShardingSpec{mesh=mesh, axes=[S(batch), R]}"; got != want {
		t.Errorf("BatchSpec = %s, want %s", got, want)
	}
	crops, err := BatchSpec(mesh, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !replicated.IsReplicated() || batch.IsReplicated() || crops.IsReplicated() {
		t.Errorf("replication: replicated %v, batch %v, crops %v", replicated.IsReplicated(), batch.IsReplicated(), crops.IsReplicated())
	}
	for _, tc := range []struct {
		name string
		spec interface {
			ShardShape(shapes.Shape) shapes.Shape
		}
		global, shard []int
	}{
		{"224 px crops, device-major", crops, []int{2 * 4096, 224, 224, 3}, []int{2 * 64, 224, 224, 3}},
		{"96 px crops, device-major", crops, []int{6 * 4096, 96, 96, 3}, []int{6 * 64, 96, 96, 3}},
		{"embeddings z", batch, []int{4096, 128}, []int{64, 128}},
		{"scores", batch, []int{4096, 3000}, []int{64, 3000}},
		{"queue rows", batch, []int{3840, 128}, []int{60, 128}},
	} {
		got := tc.spec.ShardShape(shapes.Make(dtypes.Float32, tc.global...))
		if !got.Ok() || !slices.Equal(got.Dimensions, tc.shard) {
			t.Errorf("%s: shard of %v is %s, want %v", tc.name, tc.global, got, tc.shard)
		}
	}
	// Prototypes C (K×D) and a conv kernel stay whole on every device.
	for _, dims := range [][]int{{3000, 128}, {3, 3, 64, 64}} {
		if got := replicated.ShardShape(shapes.Make(dtypes.Float32, dims...)); !slices.Equal(got.Dimensions, dims) {
			t.Errorf("replicated %v: shard %s", dims, got)
		}
	}
	// A batch that does not split gives GoMLX's invalid shape.
	if got := batch.ShardShape(shapes.Make(dtypes.Float32, 4000, 128)); got.Ok() {
		t.Errorf("4000 rows over 64 devices: shard %s, want an invalid shape", got)
	}
}
