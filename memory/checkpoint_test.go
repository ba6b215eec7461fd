package memory

import (
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/model"
)

// TestStateIsCheckpointable: after a step that uses a queue, a bank and a momentum
// encoder, every state variable exports to the checkpoint format (whose tensors are
// float32, float64, int32, int64 or uint64: no booleans) and none is trainable.
func TestStateIsCheckpointable(t *testing.T) {
	ctx := context.New()
	ctx.InAbsPath("/backbone").VariableWithValue("w", []float32{1, 2})
	q, err := NewQueue(ctx.In("queue"), 4, 2, dtypes.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBank(ctx.In("bank"), 5, 2, 0.5, dtypes.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := NewEMA("/key", 0.9, "/backbone")
	exec, err := context.NewExec(newBackend(t), ctx, func(ctx *context.Context, keys, idx *graph.Node) *graph.Node {
		g := keys.Graph()
		e.Update(ctx, g)
		neg, _ := b.Negatives(g, 3)
		b.Update(idx, keys)
		b.KeepPartition(graph.Const(g, float32(2)))
		q.Push(keys)
		return neg
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Exec(tensors.FromValue([][]float32{{1, 0}, {0, 1}}), tensors.FromValue([]int32{0, 3})); err != nil {
		t.Fatal(err)
	}
	ts, err := model.ExportVariables(ctx, nil)
	if err != nil {
		t.Fatalf("exporting the state: %v", err)
	}
	names := make([]string, len(ts))
	for i, x := range ts {
		names[i] = x.Name
	}
	want := []string{"backbone/w", "bank/entries", "bank/partition", "bank/sampler_rng", "key/backbone/w",
		"key/ema_started", "queue/keys", "queue/pointer"}
	if !slices.Equal(names, want) {
		t.Errorf("exported %v, want %v", names, want)
	}
	for v := range ctx.IterVariables() {
		if v.Scope() != "/backbone" && v.Trainable {
			t.Errorf("state variable %s is trainable", v.ScopeAndName())
		}
	}
}
