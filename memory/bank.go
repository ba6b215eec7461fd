package memory

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/internal/panics"
)

const (
	// BankEntriesName is the name of the bank's N×D entries variable in the scope
	// given to [NewBank].
	BankEntriesName = "entries"

	// BankRNGName is the name of the negative sampler's RNG state variable
	// (graph.RNGStateShape, uint64).
	BankRNGName = "sampler_rng"

	// BankPartitionName is the name of the NCE normalisation constant Z, a scalar of
	// the bank's dtype: 0 until the first step sets it (see [Bank.KeepPartition]).
	BankPartitionName = "partition"
)

// DefaultBankMomentum is PIRL's memory-bank momentum μ (VISSL's memory_params
// momentum 0.5): m ← normalise(μ·m + (1−μ)·f).
const DefaultBankMomentum = 0.5

// Bank is the memory bank of NPID and PIRL: one D-dimensional unit vector per
// training image, addressed by the image's dataset index, with
//
//   - [Bank.Rows]: the entries of the batch's images (the positives),
//   - [Bank.Negatives]: K entries drawn uniformly with replacement by an in-graph
//     sampler whose RNG state is a variable (seeded: a resumed run draws the same
//     negatives as an uninterrupted one),
//   - [Bank.Update]: the moving-average update of the batch's entries,
//   - [Bank.Partition] and [Bank.KeepPartition]: the NCE constant Z, set once.
//
// The entries start as VISSL's (norm_init): uniform in [−s, s] with s = 1/√(D/3),
// L2-normalised, drawn on the host from the seed.
type Bank struct {
	size, dim int
	momentum  float64
	dtype     dtypes.DType
	entries   *context.Variable
	rng       *context.Variable
	partition *context.Variable
}

// NewBank creates (or reuses, e.g. after loading a checkpoint) the bank variables in
// the current scope of ctx: size N entries of dimension dim in dtype (float32 or
// float64), momentum μ in [0, 1) ([DefaultBankMomentum] is PIRL's), entries and
// sampler seeded by seed. Use a dedicated scope, e.g. ctx.In("pirl_bank").
func NewBank(ctx *context.Context, size, dim int, momentum float64, dtype dtypes.DType, seed uint64) (*Bank, error) {
	if size <= 0 || dim <= 0 {
		return nil, fmt.Errorf("memory.NewBank: size N (%d) and dim D (%d) must be > 0", size, dim)
	}
	if !(momentum >= 0 && momentum < 1) {
		return nil, fmt.Errorf("memory.NewBank: momentum μ must be in [0, 1), got %g", momentum)
	}
	if err := checkDType(dtype); err != nil {
		return nil, fmt.Errorf("memory.NewBank: %w", err)
	}
	b := &Bank{size: size, dim: dim, momentum: momentum, dtype: dtype}
	err := panics.Catch(func() {
		ctx = ctx.Checked(false)
		stdv := 1 / math.Sqrt(float64(dim)/3)
		uniform := func(rng *rand.Rand, row []float64) {
			for i := range row {
				row[i] = (2*rng.Float64() - 1) * stdv
			}
		}
		init := randomUnitRows(rand.New(rand.NewPCG(seed, 0x62616e6b)), size, dim, uniform)
		b.entries = ctx.VariableWithValue(BankEntriesName, toDType(init, size, dim, dtype)).SetTrainable(false)
		state, err := graph.RNGStateFromSeed(int64(seed))
		if err != nil {
			panic(err)
		}
		b.rng = ctx.VariableWithValue(BankRNGName, state).SetTrainable(false)
		b.partition = ctx.VariableWithValue(BankPartitionName, zeroScalar(dtype)).SetTrainable(false)
	})
	if err != nil {
		return nil, fmt.Errorf("memory.NewBank: creating variables in scope %q: %w", ctx.Scope(), err)
	}
	if err := checkReused("memory.NewBank", "bank", b.entries, shapes.Make(dtype, size, dim)); err != nil {
		return nil, err
	}
	return b, nil
}

// zeroScalar is a zero of dtype, as a Go value.
func zeroScalar(dtype dtypes.DType) any {
	if dtype == dtypes.Float64 {
		return float64(0)
	}
	return float32(0)
}

// Size returns N, the number of entries.
func (b *Bank) Size() int { return b.size }

// EntriesVariable returns the N×D variable of the entries.
func (b *Bank) EntriesVariable() *context.Variable { return b.entries }

// PartitionVariable returns the scalar variable of Z.
func (b *Bank) PartitionVariable() *context.Variable { return b.partition }

// Entries returns all N×D entries as they are in this graph, with no gradient.
func (b *Bank) Entries(g *graph.Graph) *graph.Node {
	return graph.StopGradient(b.entries.ValueGraph(g))
}

// Rows returns the B×D entries at indices (an integer vector [B], each in [0, N):
// the graph does not check them), with no gradient.
func (b *Bank) Rows(indices *graph.Node) *graph.Node {
	b.checkIndices("Rows", indices)
	return graph.Gather(b.Entries(indices.Graph()), graph.InsertAxes(indices, -1))
}

// Negatives draws count indices uniformly from [0, N) with replacement (as VISSL's
// sampler, which may also draw a batch image's own index), advancing the sampler's
// RNG state variable, and returns the count×D entries at them (no gradient) and the
// int32 indices. Call it once per step graph.
func (b *Bank) Negatives(g *graph.Graph, count int) (negatives, indices *graph.Node) {
	if count < 1 {
		panic(fmt.Errorf("memory.Bank.Negatives: count must be ≥ 1, got %d", count))
	}
	state, idx := graph.RandomIntN(b.rng.ValueGraph(g), b.size, shapes.Make(dtypes.Int32, count))
	b.rng.SetValueGraph(state)
	return graph.Gather(b.Entries(g), graph.InsertAxes(idx, -1)), idx
}

// Update moves the entries of the batch's images towards their embeddings, as VISSL's
// update_memory: with f the L2-normalised embedding of image i,
//
//	m_i ← normalise(μ·m_i + (1−μ)·f)
//
// indices is an integer vector [B] and embeddings B×D (detached here). When an index
// appears more than once in the batch, its last occurrence is the one written (the
// entry is updated once, from its old value), so the result never depends on the
// order in which a backend applies the writes.
func (b *Bank) Update(indices, embeddings *graph.Node) {
	b.checkIndices("Update", indices)
	batch := indices.Shape().Dim(0)
	if embeddings.Rank() != 2 || !embeddings.Shape().Equal(shapes.Make(embeddings.DType(), batch, b.dim)) || !embeddings.DType().IsFloat() {
		panic(fmt.Errorf("memory.Bank.Update: embeddings must be a B×D float matrix with B=%d, D=%d, got shape %s",
			batch, b.dim, embeddings.Shape()))
	}
	g := indices.Graph()
	f := graph.StopGradient(graph.L2Normalize(graph.ConvertDType(embeddings, b.dtype), -1))
	entries := b.entries.ValueGraph(g)
	column := graph.InsertAxes(indices, -1) // [B, 1]
	old := graph.Gather(entries, column)
	updated := graph.L2Normalize(graph.Add(graph.MulScalar(old, b.momentum), graph.MulScalar(f, 1-b.momentum)), -1)

	// keep[b] is false when a later row of the batch has the same index.
	idx := graph.ConvertDType(indices, dtypes.Int64)
	same := graph.Equal(graph.InsertAxes(idx, -1), graph.InsertAxes(idx, 0)) // [B, B]
	iota := shapes.Make(dtypes.Int64, batch, batch)
	later := graph.GreaterThan(graph.Iota(g, iota, 1), graph.Iota(g, iota, 0))
	keep := graph.LogicalNot(graph.ReduceLogicalOr(graph.LogicalAnd(same, later), -1))
	keepMask := graph.BroadcastToDims(graph.InsertAxes(keep, -1), batch, b.dim)
	updated = graph.Where(keepMask, updated, graph.ZerosLike(updated))

	// Clear the touched rows, then add the kept rows (x + 0 is exact, so duplicates,
	// zeroed above, leave the written value as it is).
	touched := graph.ScatterSum(graph.Zeros(g, shapes.Make(b.dtype, b.size, 1)), column,
		graph.Ones(g, shapes.Make(b.dtype, batch, 1)), false, false)
	touchedMask := graph.BroadcastToDims(graph.GreaterThan(touched, graph.ScalarZero(g, b.dtype)), b.size, b.dim)
	cleared := graph.Where(touchedMask, graph.ZerosLike(entries), entries)
	b.entries.SetValueGraph(graph.ScatterSum(cleared, column, updated, false, false))
}

// Partition returns the NCE constant Z as it is in this graph: 0 until set, which
// the losses of package contrastive read as "use this batch's estimate".
func (b *Bank) Partition(g *graph.Graph) *graph.Node {
	return graph.StopGradient(b.partition.ValueGraph(g))
}

// KeepPartition sets Z to estimate (a scalar) if it is still unset (≤ 0), and leaves
// it otherwise: the reference computes Z once, on the first step, and keeps it.
func (b *Bank) KeepPartition(estimate *graph.Node) {
	if !estimate.IsScalar() || !estimate.DType().IsFloat() {
		panic(fmt.Errorf("memory.Bank.KeepPartition: estimate must be a float scalar, got shape %s", estimate.Shape()))
	}
	g := estimate.Graph()
	z := b.partition.ValueGraph(g)
	estimate = graph.StopGradient(graph.ConvertDType(estimate, b.dtype))
	b.partition.SetValueGraph(graph.Where(graph.GreaterThan(z, graph.ScalarZero(g, b.dtype)), z, estimate))
}

// checkIndices panics unless indices is an integer vector.
func (b *Bank) checkIndices(method string, indices *graph.Node) {
	if indices.Rank() != 1 || !indices.DType().IsInt() || indices.Shape().Dim(0) < 1 {
		panic(fmt.Errorf("memory.Bank.%s: indices must be a non-empty integer vector [B], got shape %s", method, indices.Shape()))
	}
}
