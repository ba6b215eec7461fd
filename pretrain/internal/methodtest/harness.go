package methodtest

import (
	"flag"
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/backend/fast"
	"github.com/swav-go/swav/pretrain/method"
)

// Harness is a minimal training loop over the Method interface, independent of the
// trainer: views from Method.Views of HarnessImages, one compiled step graph (Step,
// plain SGD on every trainable variable, then PostUpdate), the loss and metrics of
// each step. Step s covers images (s·Batch mod Images) onwards, epoch s·Batch/Images.
type Harness struct {
	t       *testing.T
	m       method.Method
	ctx     *context.Context
	exec    *context.Exec
	images  []augment.Tensor
	backend backends.Backend
	lr      float64
}

// NewHarness compiles the step of m, already set up (with HarnessRun), in ctx with
// learning rate lr; ctx is unchecked, as the trainer's, and seeded with 3.
func NewHarness(t *testing.T, m method.Method, ctx *context.Context, lr float64) *Harness {
	t.Helper()
	backend, err := fast.New("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(backend.Finalize)
	ctx = ctx.Checked(false) // as the trainer
	ctx.SetParam(context.ParamInitialSeed, int64(3))
	h := &Harness{t: t, m: m, ctx: ctx, images: HarnessImages(), backend: backend, lr: lr}
	groups := m.Views().Groups()
	h.exec, err = context.NewExec(backend, ctx, func(ctx *context.Context, inputs []*graph.Node) []*graph.Node {
		b := method.Batch{Views: inputs[:len(groups)], Indices: inputs[len(groups)], BatchSize: Batch}
		out := m.Step(ctx, b)
		var vars []*context.Variable
		var nodes []*graph.Node
		for v := range ctx.IterVariables() {
			if v.Trainable {
				vars = append(vars, v)
				nodes = append(nodes, v.ValueGraph(out.Loss.Graph()))
			}
		}
		grads := graph.Gradient(out.Loss, nodes...)
		for i, v := range vars {
			v.SetValueGraph(graph.Sub(nodes[i], graph.MulScalar(grads[i], h.lr)))
		}
		if out.PostUpdate != nil {
			out.PostUpdate(ctx)
		}
		return append([]*graph.Node{out.Loss}, out.Metrics...)
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// batch returns the view tensors (one per group, view-major) and the indices of step.
func (h *Harness) batch(step int) []any {
	groups := h.m.Views().Groups()
	epoch, first := step*Batch/Images, (step*Batch)%Images
	stacks := make([][]float32, len(groups))
	perImage := make([][][]augment.Tensor, Batch)
	indices := make([]int32, Batch)
	for b := range Batch {
		idx := first + b
		indices[b] = int32(idx)
		views := h.m.Views().Apply(augment.ImageRNG(11, epoch, idx), h.images[idx])
		perImage[b] = make([][]augment.Tensor, len(groups))
		off := 0
		for g, grp := range groups {
			perImage[b][g] = views[off : off+grp.Count]
			off += grp.Count
		}
	}
	args := make([]any, 0, len(groups)+1)
	for g, grp := range groups {
		for v := range grp.Count {
			for b := range Batch {
				stacks[g] = append(stacks[g], perImage[b][g][v].Pix...)
			}
		}
		args = append(args, tensors.FromFlatDataAndDimensions(stacks[g], grp.Count*Batch, grp.Size, grp.Size, 1))
	}
	return append(args, tensors.FromValue(indices))
}

// Run executes steps from..to-1 and returns each step's loss and metrics; a failed
// step or a loss that is NaN or infinite fails the test.
func (h *Harness) Run(from, to int) (losses []float64, metrics [][]float64) {
	h.t.Helper()
	for step := from; step < to; step++ {
		out, err := h.exec.Exec(h.batch(step)...)
		if err != nil {
			h.t.Fatalf("step %d: %v", step, err)
		}
		loss := float64(out[0].Value().(float32))
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			h.t.Fatalf("step %d: loss %v", step, loss)
		}
		losses = append(losses, loss)
		var ms []float64
		for _, m := range out[1:] {
			ms = append(ms, float64(m.Value().(float32)))
		}
		metrics = append(metrics, ms)
	}
	return losses, metrics
}

// CloneContext copies every variable's value into a new context, as a training
// checkpoint's save and load do; like the trainer's import, every variable comes back
// trainable, so the method must mark its state again.
func CloneContext(t testing.TB, ctx *context.Context) *context.Context {
	t.Helper()
	out := context.New()
	for v := range ctx.IterVariables() {
		value, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		clone, err := value.LocalClone()
		if err != nil {
			t.Fatal(err)
		}
		out.InAbsPath(v.Scope()).Checked(false).VariableWithValue(v.Name(), clone)
	}
	return out
}

// AssertSameVariables fails unless a and b hold the same variables with bit-identical
// values.
func AssertSameVariables(t testing.TB, a, b *context.Context) {
	t.Helper()
	n := 0
	for v := range a.IterVariables() {
		w := b.GetVariableByScopeAndName(v.Scope(), v.Name())
		if w == nil {
			t.Errorf("%s missing from the resumed run", v.ScopeAndName())
			continue
		}
		x, _ := v.Value()
		y, _ := w.Value()
		if fmt.Sprint(x.Value()) != fmt.Sprint(y.Value()) {
			t.Errorf("%s differs between the uninterrupted and the resumed run", v.ScopeAndName())
		}
		n++
	}
	if n != b.NumVariables() {
		t.Errorf("the uninterrupted run has %d variables, the resumed one %d", n, b.NumVariables())
	}
}

// AssertResumes runs steps 0..3 of a method uninterrupted, and steps 0..1, every
// variable copied to a new context (CloneContext: a checkpoint), then steps 2..3 by a
// new method, each method from newMethod (set up, fresh each call), all at learning
// rate lr. It fails unless the two runs give the same losses, metrics and final
// variables, bit for bit.
func AssertResumes(t *testing.T, newMethod func() method.Method, lr float64) {
	t.Helper()
	m1 := newMethod()
	ctx1 := context.New()
	full, fullMetrics := NewHarness(t, m1, ctx1, lr).Run(0, 4)

	ctx2 := context.New()
	head, _ := NewHarness(t, newMethod(), ctx2, lr).Run(0, 2)
	ctx3 := CloneContext(t, ctx2)
	tail, tailMetrics := NewHarness(t, newMethod(), ctx3, lr).Run(2, 4)
	got := append(head, tail...)
	for i := range full {
		if got[i] != full[i] {
			t.Errorf("step %d: loss %v resumed, %v uninterrupted", i, got[i], full[i])
		}
	}
	for i := range tailMetrics {
		for j := range tailMetrics[i] {
			if tailMetrics[i][j] != fullMetrics[2+i][j] {
				t.Errorf("step %d: metric %s %v resumed, %v uninterrupted", 2+i, m1.Metrics()[j], tailMetrics[i][j], fullMetrics[2+i][j])
			}
		}
	}
	AssertSameVariables(t, ctx1, ctx3)
}

// FromFlags builds a method from its registry entry e as the command line does: e
// must be accepted by method.NewRegistry, and args (e.g. "-temperature", "0.1") parsed
// on a flag set of e.Flags; any failure fails the test.
func FromFlags(t testing.TB, e method.Entry, args ...string) method.Method {
	t.Helper()
	if _, err := method.NewRegistry(e); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	build := e.Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	m, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return m
}
