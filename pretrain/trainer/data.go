package trainer

import (
	gocontext "context"
	"fmt"

	"image/color"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/pretrain/method"
)

// statsSample is how many images channelStats reads to estimate the data's mean and std.
const statsSample = 2000

// ProbeInput decodes the first image of src, once, to learn the input size (its shorter
// side) and channel count (1 for grayscale images, else 3). A run probes once; a
// caller that needs the values before the run (e.g. to choose an architecture) calls
// it and passes the model it chose, which the run does not probe again for.
func ProbeInput(src dataset.Source) (size, channels int, err error) {
	img, err := src.Image(0)
	if err != nil {
		return 0, 0, fmt.Errorf("pretrain: %w", err)
	}
	b := img.Bounds()
	size = min(b.Dx(), b.Dy())
	channels = 3
	switch img.ColorModel() {
	case color.GrayModel, color.Gray16Model:
		channels = 1
	}
	return size, channels, nil
}

// ChannelStats estimates the per-channel mean and std of the data's [0,1] pixel values
// from up to statsSample evenly spaced images (the reference's normalisation for data
// other than ImageNet).
func ChannelStats(src dataset.Source, channels int) (mean, std []float32, err error) {
	n := src.Len()
	step := max(1, n/statsSample)
	sum := make([]float64, channels)
	sq := make([]float64, channels)
	count := 0.0
	for i := 0; i < n; i += step {
		img, err := src.Image(i)
		if err != nil {
			continue // a corrupt image is reported when training reaches it
		}
		t := imageio.ToTensor(img, channels)
		for p := 0; p < len(t.Pix); p += channels {
			for c := range channels {
				v := float64(t.Pix[p+c])
				sum[c] += v
				sq[c] += v * v
			}
		}
		count += float64(t.H * t.W)
	}
	if count == 0 {
		return nil, nil, fmt.Errorf("pretrain: no image of %s could be decoded", src.Name(0))
	}
	mean, std = make([]float32, channels), make([]float32, channels)
	for c := range channels {
		m := sum[c] / count
		mean[c] = float32(m)
		std[c] = float32(math.Sqrt(math.Max(sq[c]/count-m*m, 1e-12)))
	}
	return mean, std, nil
}

// epochOrder is the shuffled order of the dataset for an epoch: a permutation seeded by
// (seed, epoch), so a resumed run sees the same order.
func epochOrder(seed uint64, epoch, n int) []int {
	return rand.New(rand.NewPCG(seed, uint64(epoch)+0x5357_4156)).Perm(n)
}

// batch is one step's input: the images' indices, and per view group the views of
// every image, view-major.
type batch struct {
	indices *tensors.Tensor // [B] int32
	views   []any           // *tensors.Tensor per view group
	skipped []dataset.Skipped
	err     error
}

// viewSet is the augmented views of one image (nil when it could not be read) and its
// dataset index.
type viewSet struct {
	views []augment.Tensor
	index int
}

// batchStream produces an epoch's batches from batch index startBatch on, decoding and
// augmenting on worker goroutines ahead of the consumer.
type batchStream struct {
	t       *trainer
	cancel  gocontext.CancelFunc
	results <-chan dataset.Result[viewSet]
	order   []int
	nextB   int
}

func newBatchStream(ctx gocontext.Context, t *trainer, epoch, startBatch int) *batchStream {
	o := t.opts
	order := epochOrder(o.Seed, epoch, t.src.Len())
	first := startBatch * o.BatchSize
	order = order[first : t.itersPerEpoch*o.BatchSize]
	ctx, cancel := gocontext.WithCancel(ctx)
	s := &batchStream{t: t, cancel: cancel, order: order}
	s.results = dataset.Ordered(ctx, len(order), o.Workers, func(_ gocontext.Context, k int) (viewSet, error) {
		idx := order[k]
		img, err := t.src.Image(idx)
		if err != nil {
			return viewSet{}, err
		}
		in := imageio.ToTensor(img, o.Model.InChannels)
		return viewSet{views: t.views.Apply(augment.ImageRNG(o.Seed, epoch, idx), in), index: idx}, nil
	})
	return s
}

// next returns the next batch; false at the end of the epoch or when cancelled.
func (s *batchStream) next() (batch, bool) {
	o := s.t.opts
	B := o.BatchSize
	items := make([]viewSet, 0, B)
	var skipped []dataset.Skipped
	var bad []int
	for len(items) < B {
		r, ok := <-s.results
		if !ok {
			return batch{}, false
		}
		if r.Err != nil {
			if o.OnError != dataset.Skip {
				return batch{err: fmt.Errorf("pretrain: %w (use skip to leave corrupt images out)", r.Err)}, true
			}
			name := s.t.src.Name(s.order[r.Index])
			skipped = append(skipped, dataset.Skipped{Name: name, Err: r.Err})
			bad = append(bad, len(items))
			s.t.log.printf("skipping %s: %v", name, r.Err)
		}
		items = append(items, r.Value)
	}
	// A corrupt image is replaced by the next readable image of the same batch, so batch
	// boundaries (and a resumed run) do not depend on which files are corrupt.
	for _, i := range bad {
		found := false
		for d := 1; d < B && !found; d++ {
			if j := (i + d) % B; items[j].views != nil {
				items[i], found = items[j], true
			}
		}
		if !found {
			return batch{err: fmt.Errorf("pretrain: no readable image in a batch of %d", B)}, true
		}
	}
	s.nextB++
	indices := make([]int32, B)
	for j, it := range items {
		indices[j] = int32(it.index)
	}
	views, err := assemble(s.t.groups, o.Model.InChannels, items)
	if err != nil {
		return batch{err: err}, true
	}
	return batch{indices: tensors.FromFlatDataAndDimensions(indices, B), views: views, skipped: skipped}, true
}

// assemble packs the views into one tensor per view group, view-major: group g is
// [Count·B, Size, Size, C], all images' first view, then all images' second view, …
func assemble(groups []method.ViewGroup, channels int, items []viewSet) ([]any, error) {
	B := len(items)
	var out []any
	view := 0
	for _, g := range groups {
		per := g.Size * g.Size * channels
		flat := make([]float32, g.Count*B*per)
		for c := range g.Count {
			for j, it := range items {
				if view+c >= len(it.views) || len(it.views[view+c].Pix) != per {
					return nil, fmt.Errorf("pretrain: internal: the views of image %d do not match the view groups %v", it.index, groups)
				}
				copy(flat[(c*B+j)*per:], it.views[view+c].Pix)
			}
		}
		view += g.Count
		out = append(out, tensors.FromFlatDataAndDimensions(flat, g.Count*B, g.Size, g.Size, channels))
	}
	return out, nil
}

// close stops the workers.
func (s *batchStream) close() {
	s.cancel()
	for range s.results {
	}
}

// viewsString describes the view groups as "2×28+4×14".
func viewsString(groups []method.ViewGroup) string {
	parts := make([]string, len(groups))
	for i, c := range groups {
		parts[i] = fmt.Sprintf("%d×%d", c.Count, c.Size)
	}
	return strings.Join(parts, "+")
}
