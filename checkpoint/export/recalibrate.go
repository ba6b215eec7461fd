package export

import (
	gocontext "context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/backend"
	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/infer"
	"github.com/swav-go/swav/model"
)

// RecalibrateOptions configure [RecalibrateBatchNorm].
type RecalibrateOptions struct {
	// Images is how many images of the source are used, drawn without replacement by
	// Seed (default 10000, or all of them when the source is smaller).
	Images int
	// BatchSize is the number of images per forward pass (default 256). The statistics
	// of each batch are weighted by its size.
	BatchSize int
	// Seed chooses the images.
	Seed uint64
	// Workers decode and prepare images (default 2).
	Workers int
	// OnError says what an unreadable image does: skipped (listed in the result) or
	// the end of the run.
	OnError dataset.OnError
	// Backend computes the graphs; nil means backend.New().
	Backend backends.Backend
}

// ExtraRecalibration is the header Extra key recording a recalibration.
const ExtraRecalibration = "bn_recalibration"

// RecalibrateBatchNorm replaces the batch-norm running statistics of the network in f (a
// training checkpoint or a model) by the average of the batch statistics of full-size
// images from src, prepared as inference prepares them ("precise BN": Wu and Johnson,
// "Rethinking 'Batch' in BatchNorm", 2021). Every other tensor is left as it is.
//
// Why: SwAV forwards each crop resolution as its own batch, so the running estimates
// left by training follow a mix of full-size views and small, upscaled local views,
// while features are extracted from full-size images. Estimating them on the inputs
// the model will see is cheap (one forward pass per batch, no gradient) and changes no
// learned weight; the header records it under [ExtraRecalibration].
func RecalibrateBatchNorm(ctx gocontext.Context, f *checkpoint.File, src dataset.Source, o RecalibrateOptions) (skipped []dataset.Skipped, err error) {
	cfg, err := model.ParseConfig(f.Header.Model)
	if err != nil {
		return nil, err
	}
	if f.Header.Preprocess == nil {
		return nil, errors.New("recalibrate: the checkpoint has no preprocessing section")
	}
	pre := *f.Header.Preprocess
	if o.Images <= 0 {
		o.Images = 10000
	}
	o.Images = min(o.Images, src.Len())
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Backend == nil {
		if o.Backend, err = backend.New(); err != nil {
			return nil, err
		}
	}
	if o.Images < 2 {
		return nil, fmt.Errorf("recalibrate: %d images; batch statistics need at least 2", o.Images)
	}

	gctx := context.New()
	if err := model.ImportVariables(gctx, f.Tensors, model.IsNetworkVariable); err != nil {
		return nil, fmt.Errorf("recalibrate: %w", err)
	}
	// With momentum 1 every forward pass leaves exactly its batch's statistics (the
	// variance unbiased, as PyTorch stores it) in the running estimates.
	stats := cfg
	stats.BNMomentum = 1
	exec, err := context.NewExec(o.Backend, gctx.Reuse(), func(ctx *context.Context, x *Node) *Node {
		y := model.Backbone(ctx, stats, x, true)
		if stats.OutDim > 0 {
			y = model.Projection(ctx, stats, y, true)
		}
		return y
	})
	if err != nil {
		return nil, fmt.Errorf("recalibrate: %w", err)
	}
	defer exec.Finalize()

	sums := map[string][]float64{}
	var total int
	flush := func(batch []imageio.Tensor) error {
		if len(batch) < 2 {
			return nil // A single image has no batch variance; its statistics would be noise.
		}
		x, err := imagesTensor(batch)
		if err != nil {
			return err
		}
		if _, err := exec.Exec(x); err != nil {
			return fmt.Errorf("recalibrate: %w", err)
		}
		for v := range gctx.IterVariables() {
			name := model.VariableName(v)
			if !strings.HasSuffix(name, "/"+model.RunningMeanVar) && !strings.HasSuffix(name, "/"+model.RunningVarVar) {
				continue
			}
			value, err := v.Value()
			if err != nil {
				return fmt.Errorf("recalibrate: %s: %w", name, err)
			}
			vals, err := tensors.CopyFlatData[float32](value)
			if err != nil {
				return fmt.Errorf("recalibrate: %s: %w", name, err)
			}
			s := sums[name]
			if s == nil {
				s = make([]float64, len(vals))
				sums[name] = s
			}
			for i, x := range vals {
				s[i] += float64(x) * float64(len(batch))
			}
		}
		total += len(batch)
		return nil
	}

	order := rand.New(rand.NewPCG(o.Seed, 0x62_6e)).Perm(src.Len())[:o.Images]
	sctx, cancel := gocontext.WithCancel(ctx)
	defer cancel()
	prepare := func(_ int, img image.Image) (imageio.Tensor, error) {
		t := infer.PrepareImage(pre, img)
		if t.H != pre.InputSize || t.W != pre.InputSize {
			return t, fmt.Errorf("prepared to %d×%d, want %d×%d", t.H, t.W, pre.InputSize, pre.InputSize)
		}
		return t, nil
	}
	var batch []imageio.Tensor
	for r := range dataset.Stream(sctx, src, order, o.Workers, prepare) {
		if r.Err != nil {
			if err := o.OnError.Handle(&skipped, src.Name(r.Index), r.Err); err != nil {
				return skipped, err
			}
			continue
		}
		batch = append(batch, r.Value)
		if len(batch) == o.BatchSize {
			if err := flush(batch); err != nil {
				return skipped, err
			}
			batch = batch[:0]
		}
	}
	if err := ctx.Err(); err != nil {
		return skipped, err
	}
	if err := flush(batch); err != nil {
		return skipped, err
	}
	if total == 0 {
		return skipped, errors.New("recalibrate: no image could be read")
	}

	replaced := 0
	for i, t := range f.Tensors {
		s, ok := sums[t.Name]
		if !ok {
			continue
		}
		avg := make([]float32, len(s))
		for j, x := range s {
			avg[j] = float32(x / float64(total))
		}
		f.Tensors[i] = checkpoint.Float32Tensor(t.Name, t.Shape, avg)
		replaced++
	}
	if replaced != len(sums) {
		return skipped, fmt.Errorf("recalibrate: %d running statistics computed, %d found in the checkpoint", len(sums), replaced)
	}
	note, err := json.Marshal(map[string]any{"images": total, "batch_size": o.BatchSize, "seed": o.Seed, "skipped": len(skipped)})
	if err != nil {
		return skipped, err
	}
	if f.Header.Extra == nil {
		f.Header.Extra = map[string]json.RawMessage{}
	}
	f.Header.Extra[ExtraRecalibration] = note
	return skipped, nil
}

// imagesTensor stacks prepared images of one size into a [B, H, W, C] tensor.
func imagesTensor(batch []imageio.Tensor) (*tensors.Tensor, error) {
	h, w, c := batch[0].H, batch[0].W, batch[0].C
	data := make([]float32, 0, len(batch)*h*w*c)
	for _, t := range batch {
		if t.H != h || t.W != w || t.C != c {
			return nil, fmt.Errorf("recalibrate: images of %d×%d×%d and %d×%d×%d in one batch", h, w, c, t.H, t.W, t.C)
		}
		data = append(data, t.Pix...)
	}
	return tensors.FromFlatDataAndDimensions(data, len(batch), h, w, c), nil
}
