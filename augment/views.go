package augment

import "math/rand/v2"

// ViewGroup is Count views of Size×Size pixels: the views of one shape that a
// training step stacks into one tensor.
type ViewGroup struct {
	Count, Size int
}

// Views turns one image into a self-supervised method's views, as lightly's
// MultiViewTransform: [MultiCrop] (SwAV's multi-crop, and the two views of SimCLR
// and MoCo v2, see [SimCLRViews] and [MoCoV2Views]) and [Jigsaw] (PIRL's image and
// patches) are Views.
type Views interface {
	// Groups lists the views by shape, in the order Apply returns them.
	Groups() []ViewGroup
	// Apply returns the views of img: all of group 0, then all of group 1, and so on,
	// each Size×Size×img.C and normalised as Normalization says. All randomness comes
	// from rng, so the views depend only on img and the rng's state; Apply may be
	// called from several goroutines, each with its own rng.
	Apply(rng *rand.Rand, img Tensor) []Tensor
	// Normalization is the per-channel mean and std the views are normalised with
	// (empty: none), which inference must apply too.
	Normalization() (mean, std []float32)
}

// Groups returns one group per crop resolution, in Crops order.
func (m MultiCrop) Groups() []ViewGroup {
	gs := make([]ViewGroup, len(m.Crops))
	for i, c := range m.Crops {
		gs[i] = ViewGroup{Count: c.Count, Size: c.Size}
	}
	return gs
}

// Normalization returns Mean and Std.
func (m MultiCrop) Normalization() (mean, std []float32) { return m.Mean, m.Std }

var (
	_ Views = MultiCrop{}
	_ Views = Jigsaw{}
)
