package augment

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// JigsawCells is the number of jigsaw patches: a 3×3 grid.
const JigsawCells = 9

// Jigsaw is PIRL's transform (Misra & van der Maaten 2020, as VISSL's
// ImgPilToPatchesAndImage): one augmented view of the whole image, the input of
// f(v_I), and nine patches of a second crop, the input of g(v_{I^t}), shuffled by a
// random permutation. The method runs one shared encoder on every patch and
// concatenates the nine features in the order the patches come.
//
// Apply returns 1 + 9 views: the image view (Image.Crops[0].Size pixels), then the
// patches (PatchSize pixels) in shuffled order. The patches are cut so:
//
//  1. a RandomResizedCrop of the image, scale [Patches.Crops[0].MinScale, MaxScale],
//     resized to G×G with G = Patches.Crops[0].Size;
//  2. a 3×3 grid of cells of c = ⌊G/3⌋ pixels over it (rows and columns 3c… of G
//     left out when G is not a multiple of 3);
//  3. in each cell a PatchSize×PatchSize window at a uniformly random offset in
//     [0, c − PatchSize]² (the jigsaw's jitter, which hides the cells' borders);
//  4. a random permutation: output patch j is the window of cell Perm[j] (cells
//     numbered row by row);
//  5. to each patch independently: horizontal flip, colour jitter, grayscale and
//     blur with Patches' probabilities, then the normalisation.
//
// A Jigsaw is a plain value, safe to share between goroutines.
type Jigsaw struct {
	// Image is the whole-image view's augmentation: a MultiCrop with one CropSpec of
	// Count 1.
	Image MultiCrop
	// Patches is the patches' augmentation: Crops[0] (Count 1) is the crop the grid
	// is cut from (step 1), and the photometric fields apply to each patch (step 5).
	// Its Mean and Std must equal Image's.
	Patches MultiCrop
	// PatchSize is the side of each patch, 1 ≤ PatchSize ≤ ⌊G/3⌋.
	PatchSize int
}

// JigsawLayout is where a jigsaw's patches came from, for tests and debugging.
type JigsawLayout struct {
	// Top, Left, H, W is the window of the image that was resized to G×G (step 1).
	Top, Left, H, W int
	// Perm is the permutation: output patch j is the window of cell Perm[j].
	Perm [JigsawCells]int
	// Offsets are, per cell (row by row), the row and column of its window inside
	// the cell (step 3).
	Offsets [JigsawCells][2]int
	// Cell is c, the side of a grid cell in pixels of the G×G crop.
	Cell int
}

// DefaultJigsaw returns PIRL's jigsaw (VISSL's pirl_jigsaw config) scaled from
// 224 px to size×size images. The image view: RandomResizedCrop(size, scale
// [0.08, 1]), flip p 0.5, ColorJitter(0.4, 0.4, 0.4, 0.2) always applied, grayscale
// p 0.2. The patches: a crop of scale [0.6, 1] resized to G = 3·round(size·85/224)
// px (the reference's 255 px, three 85 px cells), patches of round(c·64/85) px (its
// 64 px patches in 85 px cells: G 33 and 8 px patches at size 28), each with the
// same flip, jitter and grayscale as the image. No blur. VISSL's
// ImgPilRandomPhotometric (random autocontrast, equalise and the like) is not
// reproduced.
//
// Mean and Std are nil (no normalisation): set them (the same values) in both
// Image and Patches.
func DefaultJigsaw(size int) Jigsaw {
	photometric := MultiCrop{
		FlipP:     0.5,
		Jitter:    ColorJitter{Brightness: 0.4, Contrast: 0.4, Saturation: 0.4, Hue: 0.2},
		JitterP:   1,
		GrayP:     0.2,
		BlurSigma: [2]float64{0.1, 2.0},
	}
	cell := max(int(math.Round(float64(size)*85/224)), 1)
	image, patches := photometric, photometric
	image.Crops = []CropSpec{{Count: 1, Size: size, MinScale: 0.08, MaxScale: 1}}
	patches.Crops = []CropSpec{{Count: 1, Size: 3 * cell, MinScale: 0.6, MaxScale: 1}}
	return Jigsaw{Image: image, Patches: patches, PatchSize: max(int(math.Round(float64(cell)*64/85)), 1)}
}

// Validate reports the first problem with j, or nil.
func (j Jigsaw) Validate() error {
	if err := j.Image.Validate(); err != nil {
		return fmt.Errorf("augment: Jigsaw.Image: %w", err)
	}
	if err := j.Patches.Validate(); err != nil {
		return fmt.Errorf("augment: Jigsaw.Patches: %w", err)
	}
	if len(j.Image.Crops) != 1 || j.Image.Crops[0].Count != 1 {
		return errors.New("augment: Jigsaw.Image must have one crop spec of Count 1")
	}
	if len(j.Patches.Crops) != 1 || j.Patches.Crops[0].Count != 1 {
		return errors.New("augment: Jigsaw.Patches must have one crop spec of Count 1 (the crop the grid is cut from)")
	}
	cell := j.Patches.Crops[0].Size / 3
	if j.PatchSize < 1 || j.PatchSize > cell {
		return fmt.Errorf("augment: Jigsaw.PatchSize = %d, want in [1, %d] (a third of the grid crop's %d px)",
			j.PatchSize, cell, j.Patches.Crops[0].Size)
	}
	if !equalF32(j.Image.Mean, j.Patches.Mean) || !equalF32(j.Image.Std, j.Patches.Std) {
		return errors.New("augment: Jigsaw.Image and Jigsaw.Patches must have the same Mean and Std")
	}
	return nil
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Groups returns the image view's group (1 view) and the patches' (9 views).
func (j Jigsaw) Groups() []ViewGroup {
	return []ViewGroup{{Count: 1, Size: j.Image.Crops[0].Size}, {Count: JigsawCells, Size: j.PatchSize}}
}

// Normalization returns the views' Mean and Std.
func (j Jigsaw) Normalization() (mean, std []float32) { return j.Image.Mean, j.Image.Std }

// Apply returns the image view and the nine shuffled patches of img. See
// [Jigsaw.ApplyLayout].
func (j Jigsaw) Apply(rng *rand.Rand, img Tensor) []Tensor {
	views, _ := j.ApplyLayout(rng, img)
	return views
}

// ApplyLayout is Apply that also says where each patch came from. It draws from rng
// in this order: the image view (as MultiCrop.Apply), the grid crop's window, the
// permutation, the nine offsets (cells row by row, row then column), then each
// output patch's flip, jitter, grayscale and blur (as MultiCrop's steps). The same
// rng state gives bit-identical views. It panics as MultiCrop.Apply does, and if
// j.Validate fails.
func (j Jigsaw) ApplyLayout(rng *rand.Rand, img Tensor) ([]Tensor, JigsawLayout) {
	if err := j.Validate(); err != nil {
		panic(err)
	}
	views := j.Image.Apply(rng, img) // validates img
	var layout JigsawLayout
	spec := j.Patches.Crops[0]
	g := spec.Size
	b := sampleCrop(rng, img.H, img.W, spec.MinScale, spec.MaxScale)
	layout.Top, layout.Left, layout.H, layout.W = b.top, b.left, b.h, b.w
	var s scratch
	grid := Tensor{H: g, W: g, C: img.C, Pix: make([]float32, g*g*img.C)}
	resizedCrop(img, b.top, b.left, b.h, b.w, g, g, grid.Pix, &s)
	copy(layout.Perm[:], rng.Perm(JigsawCells))
	cell, p := g/3, j.PatchSize
	layout.Cell = cell
	for c := range layout.Offsets {
		layout.Offsets[c] = [2]int{rng.IntN(cell - p + 1), rng.IntN(cell - p + 1)}
	}

	n := p * p * img.C
	backing := make([]float32, JigsawCells*n)
	for out, c := range layout.Perm {
		patch := Tensor{H: p, W: p, C: img.C, Pix: backing[out*n : (out+1)*n : (out+1)*n]}
		top := (c/3)*cell + layout.Offsets[c][0]
		left := (c%3)*cell + layout.Offsets[c][1]
		for y := range p {
			src := grid.Pix[((top+y)*g+left)*img.C : ((top+y)*g+left+p)*img.C]
			copy(patch.Pix[y*p*img.C:(y+1)*p*img.C], src)
		}
		j.Patches.photometric(rng, patch, &s)
		views = append(views, patch)
	}
	return views, layout
}

// photometric applies MultiCrop's steps after the crop to dst, drawing from rng as
// MultiCrop.Apply does for one view: flip, colour jitter, grayscale, blur (one
// uniform each, then the step's own draws), then the normalisation.
func (m MultiCrop) photometric(rng *rand.Rand, dst Tensor, s *scratch) {
	if rng.Float64() < m.FlipP {
		hflip(dst.Pix, dst.H, dst.W, dst.C)
	}
	if rng.Float64() < m.JitterP {
		m.Jitter.apply(rng, dst.Pix, dst.C)
	}
	if rng.Float64() < m.GrayP {
		grayscale(dst.Pix, dst.C)
	}
	if rng.Float64() < m.BlurP {
		lo, hi := m.BlurSigma[0], m.BlurSigma[1]
		gaussianBlur(dst.Pix, dst.H, dst.W, dst.C, lo+(hi-lo)*rng.Float64(), s)
	}
	if len(m.Mean) != 0 {
		dst.Normalize(m.Mean, m.Std)
	}
}
