package moco

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/backend/fast"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/method"
)

// The harness is a minimal training loop over the Method interface, independent of
// the trainer: views from Method.Views, one compiled step graph (Step, plain SGD on
// every trainable variable, then PostUpdate), the loss and metrics of each step.

const (
	testSize   = 12 // pixels
	testImages = 16
	testBatch  = 8
)

// tinyModel is a small ResNet for 12 px grayscale images.
func tinyModel() model.Config {
	return model.Config{Block: model.BasicBlock, Layers: []int{1, 1}, Widths: []int{8, 16}, WidthMultiplier: 1,
		Stem: model.SmallStem, InChannels: 1, HiddenDim: 32, HeadBatchNorm: true, OutDim: 16, Prototypes: 10,
		BNMomentum: 0.1, BNEpsilon: 1e-5}
}

// testRun is the method.Run of the tests.
func testRun() method.Run {
	return method.Run{Model: tinyModel(), InputSize: testSize, Images: testImages, BatchSize: testBatch,
		Epochs: 10, ItersPerEpoch: testImages / testBatch, TotalIters: 10 * testImages / testBatch, Seed: 7,
		Mean: []float32{0.5}, Std: []float32{0.25}, Log: func(string, ...any) {}}
}

// testImagesSet is a fixed set of images: random blobs on a dark background.
func testImagesSet() []augment.Tensor {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]augment.Tensor, testImages)
	for i := range out {
		img := augment.Tensor{H: testSize, W: testSize, C: 1, Pix: make([]float32, testSize*testSize)}
		cy, cx, r := rng.Float64()*testSize, rng.Float64()*testSize, 2+rng.Float64()*3
		for y := range testSize {
			for x := range testSize {
				d := math.Hypot(float64(y)-cy, float64(x)-cx)
				img.Pix[y*testSize+x] = float32(math.Max(0, 1-d/r)) + 0.1*rng.Float32()
			}
		}
		out[i] = img
	}
	return out
}

// harness runs steps of a set-up method.
type harness struct {
	t       *testing.T
	m       method.Method
	ctx     *context.Context
	exec    *context.Exec
	images  []augment.Tensor
	backend backends.Backend
	lr      float64
}

func newHarness(t *testing.T, m method.Method, ctx *context.Context, lr float64) *harness {
	t.Helper()
	backend, err := fast.New("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(backend.Finalize)
	ctx = ctx.Checked(false) // as the trainer
	ctx.SetParam(context.ParamInitialSeed, int64(3))
	h := &harness{t: t, m: m, ctx: ctx, images: testImagesSet(), backend: backend, lr: lr}
	groups := m.Views().Groups()
	h.exec, err = context.NewExec(backend, ctx, func(ctx *context.Context, inputs []*Node) []*Node {
		b := method.Batch{Views: inputs[:len(groups)], Indices: inputs[len(groups)], BatchSize: testBatch}
		out := m.Step(ctx, b)
		var vars []*context.Variable
		var nodes []*Node
		for v := range ctx.IterVariables() {
			if v.Trainable {
				vars = append(vars, v)
				nodes = append(nodes, v.ValueGraph(out.Loss.Graph()))
			}
		}
		grads := Gradient(out.Loss, nodes...)
		for i, v := range vars {
			v.SetValueGraph(Sub(nodes[i], MulScalar(grads[i], h.lr)))
		}
		if out.PostUpdate != nil {
			out.PostUpdate(ctx)
		}
		return append([]*Node{out.Loss}, out.Metrics...)
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// batch returns the view tensors (one per group, view-major) and the indices of step.
func (h *harness) batch(step int) []any {
	groups := h.m.Views().Groups()
	epoch, first := step*testBatch/testImages, (step*testBatch)%testImages
	stacks := make([][]float32, len(groups))
	perImage := make([][][]augment.Tensor, testBatch)
	indices := make([]int32, testBatch)
	for b := range testBatch {
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
			for b := range testBatch {
				stacks[g] = append(stacks[g], perImage[b][g][v].Pix...)
			}
		}
		args = append(args, tensors.FromFlatDataAndDimensions(stacks[g], grp.Count*testBatch, grp.Size, grp.Size, 1))
	}
	return append(args, tensors.FromValue(indices))
}

// run executes steps from..to-1 and returns each step's loss and metrics.
func (h *harness) run(from, to int) (losses []float64, metrics [][]float64) {
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

// cloneContext copies every variable's value into a new context, as a training
// checkpoint's save and load do; like the trainer's import, every variable comes back
// trainable, so the method must mark its state again.
func cloneContext(t *testing.T, ctx *context.Context) *context.Context {
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

// assertSameVariables fails unless a and b hold the same variables with bit-identical
// values.
func assertSameVariables(t *testing.T, a, b *context.Context) {
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

// mean of xs.
func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// newFlagSet returns an empty flag set that reports errors.
func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("test", flag.ContinueOnError) }
