package linearprobe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// errDiverged marks a training run whose loss became NaN or infinite.
var errDiverged = errors.New("training diverged (non-finite loss)")

// isDiverged reports whether err marks a diverged run.
func isDiverged(err error) bool { return errors.Is(err, errDiverged) }

// runConfig holds the settings of one training run.
type runConfig struct {
	lr, wd, momentum float64
	epochs, batch    int
	standardize      bool
	numClasses       int
}

// trainer owns the compiled SGD step of the linear classifier. The graph is
// compiled once per (batch, D, C) shape and reused across the runs of a grid.
type trainer struct {
	backend backends.Backend
	step    *graph.Exec
}

// Indices of the step graph's inputs and outputs.
const (
	inW = iota
	inB
	inVW
	inVB
	inX
	inY
	inMask
	inLR
	inWD
	inMomentum
	numStepInputs
)

// newTrainer builds the executor for the SGD step.
func newTrainer(backend backends.Backend) (*trainer, error) {
	step, err := graph.NewExec(backend, sgdStep)
	if err != nil {
		return nil, fmt.Errorf("linearprobe: building the SGD step graph: %w", err)
	}
	return &trainer{backend: backend, step: step.WithName("linearprobe_sgd_step")}, nil
}

// close releases the compiled graphs.
func (t *trainer) close() { t.step.Finalize() }

// sgdStep is one step of mini-batch SGD with momentum (PyTorch convention)
// on a linear softmax classifier:
//
//	loss = Σ mask·CE(x·W + b, y) / Σ mask
//	vW ← momentum·vW + ∇W loss + wd·W;   W ← W − lr·vW
//	vb ← momentum·vb + ∇b loss;          b ← b − lr·vb
//
// Inputs follow the in* constants; it returns W, b, vW, vb and the loss.
// The mask lets the last, short batch of an epoch be padded to full size so
// that a single compiled graph serves every step.
func sgdStep(in []*graph.Node) []*graph.Node {
	w, b, vW, vB := in[inW], in[inB], in[inVW], in[inVB]
	lr, wd, momentum := in[inLR], in[inWD], in[inMomentum]
	loss, gradW, gradB := lossAndGrads(in[inX], in[inY], in[inMask], w, b)
	newVW := graph.Add(graph.Mul(momentum, vW), graph.Add(gradW, graph.Mul(wd, w)))
	newVB := graph.Add(graph.Mul(momentum, vB), gradB)
	newW := graph.Sub(w, graph.Mul(lr, newVW))
	newB := graph.Sub(b, graph.Mul(lr, newVB))
	return []*graph.Node{newW, newB, newVW, newVB, loss}
}

// lossAndGrads returns the masked mean softmax cross-entropy of the linear
// classifier x·w + b (x: [B, D], y: int32 [B], mask: [B], w: [D, C], b: [C])
// and its gradients with respect to w and b, written out analytically:
// with p = softmax(logits) and g = (p − onehot(y))·mask/Σmask,
// ∇w = xᵀ·g and ∇b = Σ_rows g. (GoMLX's generic autodiff of Dot
// materialises a [B, D, C] broadcast, which is an order of magnitude slower
// on the SimpleGo backend; TestLossAndGradsMatchAutodiff checks the two
// agree.)
func lossAndGrads(x, y, mask, w, b *graph.Node) (loss, gradW, gradB *graph.Node) {
	numClasses := w.Shape().Dimensions[1]
	logits := graph.Add(graph.DotGeneral(x, []int{1}, nil, w, []int{0}, nil), graph.InsertAxes(b, 0))
	logProbs := graph.LogSoftmax(logits, -1)
	oneHot := graph.OneHot(y, numClasses, logProbs.DType())
	crossEntropy := graph.Neg(graph.ReduceSum(graph.Mul(logProbs, oneHot), -1))
	total := graph.ReduceAllSum(mask)
	loss = graph.Div(graph.ReduceAllSum(graph.Mul(crossEntropy, mask)), total)

	weight := graph.InsertAxes(graph.Div(mask, total), -1) // [B, 1]
	gradLogits := graph.Mul(graph.Sub(graph.Exp(logProbs), oneHot), weight)
	gradW = graph.DotGeneral(x, []int{0}, nil, gradLogits, []int{0}, nil)
	gradB = graph.ReduceSum(gradLogits, 0)
	return loss, gradW, gradB
}

// fit trains one probe on d with the given settings. progress is called
// with the number of completed epochs. The returned probe has its own
// standardisation statistics (from d) and synthetic class names.
func (t *trainer) fit(ctx context.Context, d Dataset, cfg runConfig, rng *rand.Rand,
	progress func(epoch int)) (*Probe, error) {
	dim, numClasses := d.D, cfg.numClasses
	probe := &Probe{D: dim, C: numClasses, Classes: classNames(nil, numClasses)}
	if cfg.standardize {
		probe.Mean, probe.Std = standardization(d)
	}
	invStd := make([]float32, dim)
	for j := range invStd {
		invStd[j] = 1
		if probe.Std != nil {
			invStd[j] = 1 / probe.Std[j]
		}
	}

	// Paper initialisation: W ~ N(0, 0.01²), b = 0; momentum buffers start at 0.
	w0 := make([]float32, dim*numClasses)
	for i := range w0 {
		w0[i] = float32(0.01 * rng.NormFloat64())
	}
	state := []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(w0, dim, numClasses),
		tensors.FromFlatDataAndDimensions(make([]float32, numClasses), numClasses),
		tensors.FromFlatDataAndDimensions(make([]float32, dim*numClasses), dim, numClasses),
		tensors.FromFlatDataAndDimensions(make([]float32, numClasses), numClasses),
	}
	defer func() {
		for _, s := range state {
			if s != nil {
				_ = s.FinalizeAll()
			}
		}
	}()

	batch := min(cfg.batch, d.N)
	stepsPerEpoch := (d.N + batch - 1) / batch
	totalSteps := cfg.epochs * stepsPerEpoch
	perm := make([]int, d.N)
	for i := range perm {
		perm[i] = i
	}
	xBuf := make([]float32, batch*dim)
	yBuf := make([]int32, batch)
	maskBuf := make([]float32, batch)
	args := make([]any, numStepInputs)
	step := 0
	for epoch := range cfg.epochs {
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		var loss *tensors.Tensor
		for start := 0; start < d.N; start += batch {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			rows := min(batch, d.N-start)
			for r := range batch {
				dst := xBuf[r*dim : (r+1)*dim]
				if r >= rows {
					clear(dst)
					yBuf[r], maskBuf[r] = 0, 0
					continue
				}
				i := perm[start+r]
				src := d.Row(i)
				if probe.Mean != nil {
					for j, v := range src {
						dst[j] = (v - probe.Mean[j]) * invStd[j]
					}
				} else {
					copy(dst, src)
				}
				yBuf[r], maskBuf[r] = int32(d.Labels[i]), 1
			}
			// Cosine schedule: lr_t = lr · ½(1 + cos(π t / T)).
			lr := cfg.lr * 0.5 * (1 + math.Cos(math.Pi*float64(step)/float64(totalSteps)))
			var err error
			for k := inW; k <= inVB; k++ {
				if args[k], err = graph.DonateTensorBuffer(state[k], t.backend, 0); err != nil {
					return nil, fmt.Errorf("linearprobe: passing training state: %w", err)
				}
				state[k] = nil
			}
			args[inX] = tensors.FromFlatDataAndDimensions(xBuf, batch, dim)
			args[inY] = tensors.FromFlatDataAndDimensions(yBuf, batch)
			args[inMask] = tensors.FromFlatDataAndDimensions(maskBuf, batch)
			args[inLR] = float32(lr)
			args[inWD] = float32(cfg.wd)
			args[inMomentum] = float32(cfg.momentum)
			outs, err := t.step.Exec(args...)
			for k := inX; k <= inMask; k++ {
				_ = args[k].(*tensors.Tensor).FinalizeAll()
			}
			if err != nil {
				return nil, fmt.Errorf("linearprobe: SGD step %d: %w", step, err)
			}
			copy(state, outs[:4])
			if loss != nil {
				_ = loss.FinalizeAll()
			}
			loss = outs[4]
			step++
		}
		lossValue, err := scalarFloat32(loss)
		_ = loss.FinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("linearprobe: reading loss: %w", err)
		}
		if math.IsNaN(float64(lossValue)) || math.IsInf(float64(lossValue), 0) {
			return nil, fmt.Errorf("linearprobe: epoch %d with lr=%g wd=%g: %w", epoch+1, cfg.lr, cfg.wd, errDiverged)
		}
		if progress != nil {
			progress(epoch + 1)
		}
	}

	var err error
	if probe.W, err = tensors.CopyFlatData[float32](state[inW]); err != nil {
		return nil, fmt.Errorf("linearprobe: reading weights: %w", err)
	}
	if probe.B, err = tensors.CopyFlatData[float32](state[inB]); err != nil {
		return nil, fmt.Errorf("linearprobe: reading biases: %w", err)
	}
	for _, v := range probe.W {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("linearprobe: lr=%g wd=%g: %w", cfg.lr, cfg.wd, errDiverged)
		}
	}
	return probe, nil
}

// scalarFloat32 reads the value of a scalar float32 tensor.
func scalarFloat32(t *tensors.Tensor) (float32, error) {
	if t.Shape().DType != dtypes.Float32 || t.Shape().Size() != 1 {
		return 0, fmt.Errorf("want a float32 scalar, got %s", t.Shape())
	}
	v, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}
