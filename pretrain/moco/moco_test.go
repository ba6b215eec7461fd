package moco

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/contrastive"

	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/internal/methodtest"
	"github.com/swav-go/swav/pretrain/method"
)

func setUp(t *testing.T, cfg Config) (*Method, model.Config) {
	t.Helper()
	m := New(cfg)
	net, err := m.Setup(methodtest.HarnessRun())
	if err != nil {
		t.Fatal(err)
	}
	return m, net
}

// TestSetup: the defaults resolve to MoCo v2's, the network is its (no prototypes, an
// MLP head without batch norm whose hidden size is the feature size), the key encoder
// and queue are state, and a queue shorter than a batch is refused.
func TestSetup(t *testing.T) {
	m, net := setUp(t, Config{})
	c := m.Resolved()
	if c.Loss.Temperature != 0.2 || c.Momentum != 0.999 || c.QueueLength != methodtest.Batch {
		t.Errorf("τ %g, m %g, K %d; want 0.2, 0.999, %d (16 images: one batch)", c.Loss.Temperature, c.Momentum, c.QueueLength, methodtest.Batch)
	}
	if c.Views.Crops[0].Count != 2 || c.Views.Crops[0].MinScale != 0.2 || c.Views.Mean[0] != 0.5 {
		t.Errorf("views %+v, mean %v", c.Views.Crops, c.Views.Mean)
	}
	if net.Prototypes != 0 || net.HeadBatchNorm || net.HiddenDim != net.FeatureDim() || net.OutDim != 16 {
		t.Errorf("network %+v: want no prototypes, no head BN, hidden = %d", net, net.FeatureDim())
	}
	s := m.Scopes()
	if strings.Join(s.Network, ",") != "backbone,projection" || strings.Join(s.State, ",") != "moco_key,moco_queue" {
		t.Errorf("scopes %+v", s)
	}
	if o := m.Optimizer(); o.BaseLR != 0.03 || o.WeightDecay != 1e-4 || o.Momentum != 0.9 || o.LARS {
		t.Errorf("optimizer %+v", o)
	}
	if _, err := New(Config{QueueLength: 4}).Setup(methodtest.HarnessRun()); err == nil || !strings.Contains(err.Error(), "queue length") {
		t.Errorf("K = 4 < batch 8: %v", err)
	}
	for _, tc := range []struct{ images, batch, want int }{{60000, 256, 3072}, {1281167, 256, 65536}, {100, 32, 32}, {5_000_000, 100, 65500}} {
		if got := DefaultQueueLength(tc.images, tc.batch); got != tc.want {
			t.Errorf("DefaultQueueLength(%d, %d) = %d, want %d", tc.images, tc.batch, got, tc.want)
		}
	}
}

// TestStateUpdates: 6 steps of the tiny network on the minimal loop (the loss
// falling is TestTrainerLossFallsAndResumes's): finite losses, the queue pointer
// moving a batch per step, and the key encoder following the query encoder by the
// momentum update, its variables never trainable.
func TestStateUpdates(t *testing.T) {
	m, _ := setUp(t, Config{Momentum: 0.9, QueueLength: 2 * methodtest.Batch})
	ctx := context.New()
	h := methodtest.NewHarness(t, m, ctx, 0.1)
	h.Run(0, 6)
	if p, err := m.queue.Pointer(); err != nil || p != 0 { // 6 pushes of 8 into 16 rows
		t.Errorf("queue pointer %d (%v), want 0", p, err)
	}
	// One more step by hand: ξ' = 0.9·ξ + 0.1·θ with θ before that step's update.
	name := "/" + model.BackboneScope + "/conv1"
	theta, _ := ctx.GetVariableByScopeAndName(name, "kernel").Value()
	xi, _ := ctx.GetVariableByScopeAndName("/"+KeyScope+name, "kernel").Value()
	thetaV, xiV := tensors.MustCopyFlatData[float32](theta), tensors.MustCopyFlatData[float32](xi)
	h.Run(6, 7)
	if p, _ := m.queue.Pointer(); p != methodtest.Batch {
		t.Errorf("queue pointer %d after 7 pushes, want %d", p, methodtest.Batch)
	}
	next, _ := ctx.GetVariableByScopeAndName("/"+KeyScope+name, "kernel").Value()
	nextV := tensors.MustCopyFlatData[float32](next)
	for i := range nextV {
		if want := 0.9*float64(xiV[i]) + 0.1*float64(thetaV[i]); math.Abs(float64(nextV[i])-want) > 1e-6 {
			t.Fatalf("key kernel[%d] = %g, want 0.9·%g + 0.1·%g = %g", i, nextV[i], xiV[i], thetaV[i], want)
		}
	}
	for v := range ctx.IterVariables() {
		if strings.HasPrefix(v.Scope(), "/"+KeyScope) && v.Trainable {
			t.Errorf("key-encoder variable %s is trainable", v.ScopeAndName())
		}
	}
}

// TestResume: 4 steps uninterrupted equal 2 steps, every variable copied to a new
// context (a checkpoint), and 2 more steps by a new Method: same losses, metrics and
// final variables, bit for bit (the queue, its pointer, the key encoder and its
// started flag are all state).
func TestResume(t *testing.T) {
	cfg := Config{QueueLength: 2 * methodtest.Batch}
	methodtest.AssertResumes(t, func() method.Method { m, _ := setUp(t, cfg); return m }, 0.1)
}

// TestEntry: the registry entry builds MoCo from its flags.
func TestEntry(t *testing.T) {
	mm := methodtest.FromFlags(t, Entry(), "-temperature", "0.1", "-queue-length", "4096", "-key-momentum", "0.99", "-small-crops", "4", "-small-crop-size", "12")
	c := mm.(*Method).cfg
	if c.Loss.Temperature != 0.1 || c.QueueLength != 4096 || c.Momentum != 0.99 || c.SmallCrops != 4 || c.SmallCropSize != 12 || mm.Name() != "moco" {
		t.Errorf("built %+v", c)
	}
}

// TestMultiCrop: with two local views the resolved views are the two global ones then
// a group of 2 local views of the default size, the steps run (finite losses), and
// only the global key view feeds the queue: one batch of keys per step, as without
// multi-crop. Resuming is exact with the extra group.
func TestMultiCrop(t *testing.T) {
	cfg := Config{QueueLength: 3 * methodtest.Batch, SmallCrops: 2}
	m, _ := setUp(t, cfg)
	c := m.Resolved()
	wantSize := max(methodtest.Size/2, min(methodtest.Size, 16))
	if len(c.Views.Crops) != 2 || c.Views.Crops[0].Count != 2 || c.Views.Crops[1].Count != 2 ||
		c.Views.Crops[1].Size != wantSize || c.SmallCrops != 2 || c.SmallCropSize != wantSize {
		t.Fatalf("views %+v (small %d × %d px), want 2 global + 2 local of %d px", c.Views.Crops, c.SmallCrops, c.SmallCropSize, wantSize)
	}
	h := methodtest.NewHarness(t, m, context.New(), 0.1)
	h.Run(0, 2)
	if p, err := m.queue.Pointer(); err != nil || p != 2*methodtest.Batch {
		t.Errorf("queue pointer %d (%v) after 2 steps, want %d (B keys per step, none from local views)", p, err, 2*methodtest.Batch)
	}
	methodtest.AssertResumes(t, func() method.Method { m, _ := setUp(t, cfg); return m }, 0.1)
}

// TestMultiQueryInfoNCE: the multi-crop loss is InfoNCE averaged over every query row:
// one global group of B rows and a local group of 2·B rows (view-major) give
// (1·L(q₁, k) + L(q₂[:B], k) + L(q₂[B:], k)) / 3, each L a plain InfoNCE; a single group
// of B rows is InfoNCE itself.
func TestMultiQueryInfoNCE(t *testing.T) {
	const B, D, K = 4, 5, 6
	rng := rand.New(rand.NewPCG(3, 4))
	randn := func(rows int) *tensors.Tensor {
		v := make([]float32, rows*D)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, rows, D)
	}
	cfg := contrastive.DefaultInfoNCEConfig()
	exec, err := graph.NewExec(methodtest.Backend(t), func(q1, q2, k, neg *graph.Node) []*graph.Node {
		return []*graph.Node{
			multiQueryInfoNCE([]*graph.Node{q1, q2}, k, neg, cfg),
			contrastive.InfoNCE(q1, k, neg, cfg),
			contrastive.InfoNCE(graph.Slice(q2, graph.AxisRange(0, B)), k, neg, cfg),
			contrastive.InfoNCE(graph.Slice(q2, graph.AxisRange(B, 2*B)), k, neg, cfg),
			multiQueryInfoNCE([]*graph.Node{q1}, k, neg, cfg),
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(randn(B), randn(2*B), randn(B), randn(K))
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float64, len(out))
	for i, o := range out {
		v[i] = float64(o.Value().(float32))
	}
	if want := (v[1] + v[2] + v[3]) / 3; math.Abs(v[0]-want) > 1e-5 {
		t.Errorf("multi-crop loss %.7g, want the mean of the three groups' %.7g", v[0], want)
	}
	if v[4] != v[1] {
		t.Errorf("one group: %.7g, want InfoNCE's %.7g", v[4], v[1])
	}
	if v[2] == v[1] || v[3] == v[2] {
		t.Errorf("the groups' losses coincide (%v): the test's inputs do not tell them apart", v[1:4])
	}
}
