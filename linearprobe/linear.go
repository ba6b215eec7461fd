package linearprobe

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
)

// Default values used by LinearOptions fields left at their zero value.
const (
	// DefaultEpochs is the number of passes over the data for every training
	// run (each grid point and the final retraining).
	DefaultEpochs = 30
	// DefaultBatchSize is the mini-batch size.
	DefaultBatchSize = 256
	// DefaultMomentum is the SGD momentum.
	DefaultMomentum = 0.9
	// DefaultValFraction is the fraction of the training set held out to
	// choose the learning rate and weight decay.
	DefaultValFraction = 0.1
)

// DefaultLRs returns the learning-rate grid used when LinearOptions.LRs is
// empty: {0.1, 0.01}. These are the base (peak) learning rates of the cosine
// schedule for a batch of 256 standardised features.
func DefaultLRs() []float64 { return []float64{0.1, 0.01} }

// DefaultWeightDecays returns the weight-decay grid used when
// LinearOptions.WeightDecays is empty: {1e-4, 1e-6}.
func DefaultWeightDecays() []float64 { return []float64{1e-4, 1e-6} }

// LinearOptions configures TrainLinear. The zero value selects every default.
type LinearOptions struct {
	// Epochs is the number of passes over the training data of each run
	// (every grid point on the split, then the final run on the full set).
	// Default DefaultEpochs (30): on standardised features the convex
	// softmax regression is converged well before that, and 30 epochs keep
	// a full 60k×512 probe with the default 2×2 grid to a few minutes on two
	// CPU cores with the SimpleGo backend. Use 100 to match the paper exactly.
	Epochs int
	// BatchSize is the mini-batch size. Default DefaultBatchSize (256); it is
	// capped at the number of training samples.
	BatchSize int
	// LRs is the grid of base learning rates, decayed to zero by a cosine
	// schedule over all steps of a run. Default DefaultLRs().
	LRs []float64
	// WeightDecays is the grid of L2 weight decays applied to the weights
	// (not the bias). Default DefaultWeightDecays().
	WeightDecays []float64
	// Momentum is the SGD momentum. Zero means DefaultMomentum (0.9); pass
	// a negative value for plain SGD without momentum.
	Momentum float64
	// NoStandardize disables feature standardisation. By default (false)
	// every feature is shifted and scaled by the mean and standard deviation
	// measured on the training set; the statistics are stored in the Probe and
	// applied at prediction time. Features with (near) zero variance are only
	// centred.
	NoStandardize bool
	// ValFraction is the fraction of the training set (stratified by class)
	// held out to choose the (LR, WeightDecay) pair from the grid by top-1
	// accuracy. Zero means DefaultValFraction (0.1); it must be below 0.5.
	// When the grid holds a single pair no split is made.
	ValFraction float64
	// Seed drives weight initialisation, the validation split and batch
	// shuffling. Training is deterministic for a given seed and backend.
	Seed uint64
	// Progress, when not nil, is called after every epoch. Stage is "select"
	// while the grid is searched (done/total count epochs over all grid
	// points) and "train" during the final run.
	Progress func(stage string, done, total int)
}

// withDefaults returns a copy of o with zero fields replaced by defaults, or
// an error for invalid settings.
func (o LinearOptions) withDefaults() (LinearOptions, error) {
	if o.Epochs == 0 {
		o.Epochs = DefaultEpochs
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if len(o.LRs) == 0 {
		o.LRs = DefaultLRs()
	}
	if len(o.WeightDecays) == 0 {
		o.WeightDecays = DefaultWeightDecays()
	}
	switch {
	case o.Momentum == 0:
		o.Momentum = DefaultMomentum
	case o.Momentum < 0:
		o.Momentum = 0
	}
	if o.ValFraction == 0 {
		o.ValFraction = DefaultValFraction
	}
	if o.Epochs < 0 {
		return o, fmt.Errorf("linearprobe: Epochs=%d must be positive", o.Epochs)
	}
	if o.BatchSize < 0 {
		return o, fmt.Errorf("linearprobe: BatchSize=%d must be positive", o.BatchSize)
	}
	if o.Momentum >= 1 {
		return o, fmt.Errorf("linearprobe: Momentum=%g must be below 1", o.Momentum)
	}
	if o.ValFraction < 0 || o.ValFraction >= 0.5 {
		return o, fmt.Errorf("linearprobe: ValFraction=%g must be in (0, 0.5)", o.ValFraction)
	}
	for _, lr := range o.LRs {
		if !(lr > 0) || math.IsInf(lr, 0) {
			return o, fmt.Errorf("linearprobe: learning rate %g must be positive and finite", lr)
		}
	}
	for _, wd := range o.WeightDecays {
		if !(wd >= 0) || math.IsInf(wd, 0) {
			return o, fmt.Errorf("linearprobe: weight decay %g must be non-negative and finite", wd)
		}
	}
	return o, nil
}

// GridResult is the validation accuracy of one (LR, WeightDecay) pair.
type GridResult struct {
	// LR and WeightDecay identify the grid point.
	LR          float64 `json:"lr"`
	WeightDecay float64 `json:"weight_decay"`
	// ValTop1 is the top-1 accuracy on the held-out split (0 if the run
	// diverged).
	ValTop1 float64 `json:"val_top1"`
}

// Probe is a trained linear classifier over (optionally standardised)
// features: scores = softmax(((x - Mean) / Std) · W + B).
type Probe struct {
	// D is the feature dimension and C the number of classes.
	D, C int
	// W holds the D×C weight matrix, row-major.
	W []float32
	// B holds the C biases.
	B []float32
	// Mean and Std hold the per-feature standardisation statistics, or are
	// nil when the probe works on raw features.
	Mean, Std []float32
	// Classes names the C classes (synthesised as "0", "1", ... when the
	// training set had no names).
	Classes []string
	// NamedClasses records whether the training set had class names, which
	// decides whether evaluation sets are matched by name or by index.
	NamedClasses bool
	// LR and WeightDecay are the hyperparameters of the final run.
	LR, WeightDecay float64
	// Epochs and BatchSize are the settings of the final run.
	Epochs, BatchSize int
	// Momentum is the SGD momentum of the final run.
	Momentum float64
	// Grid lists the validation accuracy of every grid point (empty when
	// the grid held a single pair).
	Grid []GridResult
	// Source records the model and vectors the probe was trained on, or is nil
	// when the trainer did not say (TrainLinear leaves it to its caller).
	Source *Source
}

// TrainLinear trains a linear probe on frozen features following the SwAV
// linear-evaluation protocol. When the (LRs × WeightDecays) grid holds more
// than one pair, each pair is trained on a stratified (1-ValFraction) split
// of train and scored on the rest; the best pair (ties go to the earlier grid
// entry, LRs outermost) is then retrained on the whole of train. (If no class
// has two samples to split, the first pair is used without a search.)
//
// Training runs on backend as a GoMLX graph; ctx cancels it between steps.
func TrainLinear(ctx context.Context, backend backends.Backend, train Dataset, opts LinearOptions) (*Probe, error) {
	if backend == nil {
		return nil, fmt.Errorf("linearprobe: TrainLinear needs a backend")
	}
	if err := train.Validate(); err != nil {
		return nil, fmt.Errorf("linearprobe: invalid training set: %w", err)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	numClasses := train.NumClasses()
	present := make([]int, numClasses)
	distinct := 0
	for _, l := range train.Labels {
		if present[l] == 0 {
			distinct++
		}
		present[l]++
	}
	if distinct < 2 {
		return nil, fmt.Errorf("linearprobe: training set holds samples of a single class, need at least 2")
	}

	tr, err := newTrainer(backend)
	if err != nil {
		return nil, err
	}
	defer tr.close()

	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed1ab5))
	probe := &Probe{
		D: train.D, C: numClasses,
		Classes:      classNames(train.Classes, numClasses),
		NamedClasses: train.Classes != nil,
		Epochs:       o.Epochs, BatchSize: o.BatchSize, Momentum: o.Momentum,
	}

	lr, wd := o.LRs[0], o.WeightDecays[0]
	var fit, val Dataset
	if len(o.LRs)*len(o.WeightDecays) > 1 {
		fit, val = stratifiedSplit(train, o.ValFraction, rng)
	}
	if val.N > 0 {
		total := len(o.LRs) * len(o.WeightDecays) * o.Epochs
		done := 0
		best := -1.0
		for _, candLR := range o.LRs {
			for _, candWD := range o.WeightDecays {
				run := runConfig{lr: candLR, wd: candWD, epochs: o.Epochs, batch: o.BatchSize,
					momentum: o.Momentum, standardize: !o.NoStandardize, numClasses: numClasses}
				progress := func(epoch int) {
					if o.Progress != nil {
						o.Progress("select", done+epoch, total)
					}
				}
				candidate, err := tr.fit(ctx, fit, run, rng, progress)
				done += o.Epochs
				score := 0.0
				switch {
				case err == nil:
					acc, err := candidate.accuracy(val)
					if err != nil {
						return nil, fmt.Errorf("linearprobe: scoring lr=%g wd=%g: %w", candLR, candWD, err)
					}
					score = acc
				case ctx.Err() != nil:
					return nil, fmt.Errorf("linearprobe: hyperparameter search cancelled: %w", ctx.Err())
				case isDiverged(err):
					// A diverged run scores 0 and is simply not chosen.
				default:
					return nil, fmt.Errorf("linearprobe: training lr=%g wd=%g: %w", candLR, candWD, err)
				}
				probe.Grid = append(probe.Grid, GridResult{LR: candLR, WeightDecay: candWD, ValTop1: score})
				if score > best {
					best, lr, wd = score, candLR, candWD
				}
			}
		}
	}

	run := runConfig{lr: lr, wd: wd, epochs: o.Epochs, batch: o.BatchSize,
		momentum: o.Momentum, standardize: !o.NoStandardize, numClasses: numClasses}
	progress := func(epoch int) {
		if o.Progress != nil {
			o.Progress("train", epoch, o.Epochs)
		}
	}
	final, err := tr.fit(ctx, train, run, rng, progress)
	if err != nil {
		return nil, fmt.Errorf("linearprobe: final training with lr=%g wd=%g: %w", lr, wd, err)
	}
	probe.W, probe.B, probe.Mean, probe.Std = final.W, final.B, final.Mean, final.Std
	probe.LR, probe.WeightDecay = lr, wd
	return probe, nil
}

// stratifiedSplit holds out round(frac·count) samples of every class that
// has at least two samples (at least one each, never all of them) and
// returns the remaining (fit) and held-out (val) datasets.
func stratifiedSplit(d Dataset, frac float64, rng *rand.Rand) (fit, val Dataset) {
	byClass := make(map[int][]int)
	for i, l := range d.Labels {
		byClass[l] = append(byClass[l], i)
	}
	isVal := make([]bool, d.N)
	for c := range d.NumClasses() {
		idx := byClass[c]
		if len(idx) < 2 {
			continue
		}
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		k := int(math.Round(frac * float64(len(idx))))
		k = min(max(k, 1), len(idx)-1)
		for _, i := range idx[:k] {
			isVal[i] = true
		}
	}
	subset := func(want bool) Dataset {
		out := Dataset{D: d.D, Classes: d.Classes}
		for i := range d.N {
			if isVal[i] == want {
				out.Features = append(out.Features, d.Row(i)...)
				out.Labels = append(out.Labels, d.Labels[i])
				out.N++
			}
		}
		return out
	}
	return subset(false), subset(true)
}

// standardization computes per-feature mean and standard deviation over the
// rows of d. Features whose standard deviation is below 1e-6 (relative to
// their magnitude) get Std 1, so they are only centred.
func standardization(d Dataset) (mean, std []float32) {
	sum := make([]float64, d.D)
	for i := range d.N {
		for j, v := range d.Row(i) {
			sum[j] += float64(v)
		}
	}
	m := make([]float64, d.D)
	for j := range m {
		m[j] = sum[j] / float64(d.N)
	}
	sq := make([]float64, d.D)
	for i := range d.N {
		for j, v := range d.Row(i) {
			dv := float64(v) - m[j]
			sq[j] += dv * dv
		}
	}
	mean = make([]float32, d.D)
	std = make([]float32, d.D)
	for j := range m {
		s := math.Sqrt(sq[j] / float64(d.N))
		if s < 1e-6*max(1, math.Abs(m[j])) {
			s = 1
		}
		mean[j], std[j] = float32(m[j]), float32(s)
	}
	return mean, std
}

// logits computes the unnormalised class scores of n feature rows into
// out (n×C), applying the probe's standardisation.
func (p *Probe) logits(features []float32, n int, out []float32) {
	x := make([]float32, p.D)
	for i := range n {
		row := features[i*p.D : (i+1)*p.D]
		if p.Mean != nil {
			for j, v := range row {
				x[j] = (v - p.Mean[j]) / p.Std[j]
			}
		} else {
			copy(x, row)
		}
		o := out[i*p.C : (i+1)*p.C]
		copy(o, p.B)
		for j, v := range x {
			if v == 0 {
				continue
			}
			w := p.W[j*p.C : (j+1)*p.C]
			for c := range o {
				o[c] += v * w[c]
			}
		}
	}
}

// check validates the probe's internal consistency.
func (p *Probe) check() error {
	switch {
	case p == nil:
		return fmt.Errorf("linearprobe: nil probe")
	case p.D <= 0 || p.C < 2:
		return fmt.Errorf("linearprobe: probe has D=%d, C=%d", p.D, p.C)
	case len(p.W) != p.D*p.C || len(p.B) != p.C:
		return fmt.Errorf("linearprobe: probe has %d weights and %d biases, want %d and %d",
			len(p.W), len(p.B), p.D*p.C, p.C)
	case (p.Mean == nil) != (p.Std == nil) || (p.Mean != nil && (len(p.Mean) != p.D || len(p.Std) != p.D)):
		return fmt.Errorf("linearprobe: probe standardisation has %d means and %d stds for D=%d",
			len(p.Mean), len(p.Std), p.D)
	case len(p.Classes) != p.C:
		return fmt.Errorf("linearprobe: probe has %d class names for C=%d", len(p.Classes), p.C)
	}
	for j, s := range p.Std {
		if !(s > 0) {
			return fmt.Errorf("linearprobe: probe std of feature %d is %v", j, s)
		}
	}
	return nil
}

// Predict classifies n feature vectors (features is n×D, row-major). It
// returns the predicted class index of every row and the n×C row-major matrix
// of softmax probabilities. Prediction runs in plain Go.
func (p *Probe) Predict(features []float32, n int) (classes []int, scores []float32, err error) {
	if err := p.check(); err != nil {
		return nil, nil, err
	}
	if n < 0 || len(features) != n*p.D {
		return nil, nil, fmt.Errorf("linearprobe: Predict got %d values for n=%d rows of dimension %d",
			len(features), n, p.D)
	}
	scores = make([]float32, n*p.C)
	p.logits(features, n, scores)
	classes = make([]int, n)
	for i := range n {
		row := scores[i*p.C : (i+1)*p.C]
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		classes[i] = best
		softmaxInPlace(row)
	}
	return classes, scores, nil
}

// softmaxInPlace replaces row by its softmax.
func softmaxInPlace(row []float32) {
	m := row[0]
	for _, v := range row {
		m = max(m, v)
	}
	var sum float64
	for c, v := range row {
		e := math.Exp(float64(v - m))
		row[c] = float32(e)
		sum += e
	}
	for c := range row {
		row[c] = float32(float64(row[c]) / sum)
	}
}

// accuracy returns the top-1 accuracy of p on d, whose labels share the
// probe's label space.
func (p *Probe) accuracy(d Dataset) (float64, error) {
	pred, _, err := p.Predict(d.Features, d.N)
	if err != nil {
		return 0, err
	}
	correct := 0
	for i, c := range pred {
		if c == d.Labels[i] {
			correct++
		}
	}
	return float64(correct) / float64(d.N), nil
}

// Evaluate scores the probe on a test set and returns a Report with
// Method "linear". Test classes are matched to the probe's classes by name
// when both have names, otherwise by index; a test class the probe was not
// trained on is an error wrapping ErrUnknownClass.
func (p *Probe) Evaluate(test Dataset) (*Report, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if err := test.validate(1); err != nil {
		return nil, fmt.Errorf("linearprobe: invalid test set: %w", err)
	}
	if test.D != p.D {
		return nil, fmt.Errorf("linearprobe: test features have dimension %d, the probe expects %d", test.D, p.D)
	}
	var trainNames []string
	if p.NamedClasses {
		trainNames = p.Classes
	}
	labels, err := mapLabels(test, trainNames, p.C)
	if err != nil {
		return nil, err
	}
	logits := make([]float32, test.N*p.C)
	p.logits(test.Features, test.N, logits)
	ranked := make([][]int, test.N)
	for i := range ranked {
		ranked[i] = topClasses(logits[i*p.C:(i+1)*p.C], 5)
	}
	return newReport("linear", p.Classes, labels, ranked), nil
}
