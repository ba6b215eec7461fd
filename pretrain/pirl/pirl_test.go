package pirl

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/pretrain/internal/methodtest"
	"github.com/swav-go/swav/pretrain/method"
)

func setUp(t *testing.T, cfg Config) *Method {
	t.Helper()
	m := New(cfg)
	if _, err := m.Setup(methodtest.HarnessRun()); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSetup: PIRL's defaults (τ 0.07, λ 0.5, μ 0.5, the jigsaw scaled to the input,
// |D| the dataset), its network (a linear image head, no prototypes) and scopes.
func TestSetup(t *testing.T) {
	m := New(Config{})
	net, err := m.Setup(methodtest.HarnessRun())
	if err != nil {
		t.Fatal(err)
	}
	c := m.Resolved()
	if c.Loss.NCE.Temperature != 0.07 || c.Loss.Lambda != 0.5 || c.BankMomentum != 0.5 || c.Loss.NCE.DataSize != methodtest.Images || c.Negatives != 1 {
		t.Errorf("resolved %+v", c)
	}
	if g := c.Views.Groups(); len(g) != 2 || g[0] != (augment.ViewGroup{Count: 1, Size: methodtest.Size}) || g[1].Count != 9 {
		t.Errorf("groups %v", g)
	}
	if c.Views.Patches.Mean[0] != 0.5 || c.Views.Image.Std[0] != 0.25 {
		t.Errorf("normalisation %v %v", c.Views.Patches.Mean, c.Views.Image.Std)
	}
	if net.Prototypes != 0 || net.HiddenDim != 0 || net.OutDim != 16 {
		t.Errorf("network %+v", net)
	}
	if s := m.Scopes(); strings.Join(s.Network, ",") != "backbone,projection" || strings.Join(s.State, ",") != "pirl_patch_head,pirl_bank" {
		t.Errorf("scopes %+v", s)
	}
	if got := DefaultNegatives(60000); got != 1499 {
		t.Errorf("DefaultNegatives(60000) = %d, want 1499", got)
	}
	if _, err := New(Config{BankMomentum: 1}).Setup(methodtest.HarnessRun()); err == nil || !strings.Contains(err.Error(), "momentum") {
		t.Errorf("μ = 1: %v", err)
	}
	if _, err := New(Config{Objective: "xent"}).Setup(methodtest.HarnessRun()); err == nil || !strings.Contains(err.Error(), "nce, infonce") {
		t.Errorf("objective xent: %v", err)
	}
	if c.Objective != ObjectiveNCE {
		t.Errorf("default objective %q", c.Objective)
	}
}

// TestStateUpdates: 6 steps of the tiny network on the minimal loop (the loss
// falling is TestTrainerLossFallsAndResumes's): Z set on the first step and kept,
// the bank entries unit vectors that follow the image embeddings.
func TestStateUpdates(t *testing.T) {
	m := setUp(t, Config{Negatives: 8})
	ctx := context.New()
	h := methodtest.NewHarness(t, m, ctx, 0.1)
	_, metrics := h.Run(0, 6)
	z0 := metrics[0][2]
	for s := range metrics {
		if metrics[s][2] != z0 || !(z0 > 0) {
			t.Fatalf("step %d: Z = %v, step 0 set %v", s, metrics[s][2], z0)
		}
	}
	zVar, _ := m.bank.PartitionVariable().Value()
	if got := float64(zVar.Value().(float32)); got != z0 {
		t.Errorf("stored Z %v, used %v", got, z0)
	}
	entries, _ := m.bank.EntriesVariable().Value()
	for i, row := range entries.Value().([][]float32) {
		n := 0.0
		for _, v := range row {
			n += float64(v) * float64(v)
		}
		if math.Abs(math.Sqrt(n)-1) > 1e-5 {
			t.Errorf("bank entry %d has norm %g", i, math.Sqrt(n))
		}
	}
	if cos := metrics[5][1]; !(cos > metrics[0][1]) {
		t.Errorf("image–bank cosine %.3f at the end, %.3f at the start: the bank does not follow the images", cos, metrics[0][1])
	}
}

// TestBankUpdateInStep: a step moves exactly the bank entries of its batch's images
// (the formula itself is package memory's test), and they stay unit vectors.
func TestBankUpdateInStep(t *testing.T) {
	m := setUp(t, Config{Negatives: 4})
	h := methodtest.NewHarness(t, m, context.New(), 0.1)
	h.Run(0, 1) // creates the bank and updates images 0..7
	before := bankRows(t, m)
	h.Run(1, 2) // images 8..15
	after := bankRows(t, m)
	for i := range methodtest.Images {
		changed := !slices.Equal(before[i], after[i])
		if changed != (i >= 8) {
			t.Errorf("entry %d changed: %v, want %v (batch 1 is images 8..15)", i, changed, i >= 8)
		}
	}
}

// TestResume: 4 steps uninterrupted equal 2 steps, every variable copied to a new
// context (a checkpoint), and 2 more steps by a new Method: same losses, metrics and
// final variables, bit for bit (the bank, its sampler's RNG state and Z are state).
func TestResume(t *testing.T) {
	cfg := Config{Negatives: 8}
	methodtest.AssertResumes(t, func() method.Method { return setUp(t, cfg) }, 0.1)
}

// TestEntry: the registry entry builds PIRL from its flags.
func TestEntry(t *testing.T) {
	mm := methodtest.FromFlags(t, Entry(), "-temperature", "0.2", "-lambda", "0.25", "-negatives", "100", "-bank-momentum", "0.9", "-objective", "infonce")
	c := mm.(*Method).cfg
	if c.Loss.NCE.Temperature != 0.2 || c.Loss.Lambda != 0.25 || c.Negatives != 100 || c.BankMomentum != 0.9 || c.Objective != ObjectiveInfoNCE || mm.Name() != "pirl" {
		t.Errorf("built %+v", c)
	}
}

// bankRows reads the bank's entries.
func bankRows(t *testing.T, m *Method) [][]float32 {
	t.Helper()
	v, err := m.bank.EntriesVariable().Value()
	if err != nil {
		t.Fatal(err)
	}
	return v.Value().([][]float32)
}

// TestInfoNCEObjective: with the InfoNCE objective the loss is λ·InfoNCE(g, m) +
// (1−λ)·InfoNCE(f, m) — at step 0 with λ = 1 and λ = 0 the two terms, whose mix at λ
// = 0.25 is the weighted sum — Z stays unset, and a short run's loss falls (10 steps
// over the same 16 images).
func TestInfoNCEObjective(t *testing.T) {
	step0 := func(lambda float64) float64 {
		cfg := Config{Negatives: 8, Objective: ObjectiveInfoNCE}
		cfg.Loss.NCE.Temperature, cfg.Loss.Lambda = 0.2, lambda
		losses, metrics := methodtest.NewHarness(t, setUp(t, cfg), context.New(), 0.1).Run(0, 1)
		if metrics[0][2] != 0 {
			t.Errorf("Z = %v with the InfoNCE objective, want 0", metrics[0][2])
		}
		return losses[0]
	}
	jig, img, mix := step0(1), step0(0), step0(0.25)
	if math.Abs(mix-(0.25*jig+0.75*img)) > 1e-5 || jig == img {
		t.Errorf("λ 0.25 gives %v; the terms are %v (jigsaw) and %v (image)", mix, jig, img)
	}
	cfg := Config{Negatives: 8, Objective: ObjectiveInfoNCE}
	cfg.Loss.NCE.Temperature, cfg.Loss.Lambda = 0.2, 0.5
	losses, _ := methodtest.NewHarness(t, setUp(t, cfg), context.New(), 0.1).Run(0, 10)
	t.Logf("losses %.3f", losses)
	if first, last := methodtest.Mean(losses[:4]), methodtest.Mean(losses[6:]); !(last < first) {
		t.Errorf("loss did not fall: %.4f → %.4f", first, last)
	}
}
