package augment

import (
	"math/rand/v2"
	stdreflect "reflect"
	"slices"
	"strings"
	"testing"
)

// plainJigsaw is a jigsaw with no photometric step, no normalisation, and a grid crop
// of the whole image (scale [1, 1]), so each patch must be a window of the input.
func plainJigsaw(imageSize, grid, patch int) Jigsaw {
	return Jigsaw{
		Image:     MultiCrop{Crops: []CropSpec{{Count: 1, Size: imageSize, MinScale: 0.5, MaxScale: 1}}},
		Patches:   MultiCrop{Crops: []CropSpec{{Count: 1, Size: grid, MinScale: 1, MaxScale: 1}}},
		PatchSize: patch,
	}
}

// numbered returns an h×w×c image whose every value is distinct.
func numbered(h, w, c int) Tensor {
	t := Tensor{H: h, W: w, C: c, Pix: make([]float32, h*w*c)}
	for i := range t.Pix {
		t.Pix[i] = float32(i) / float32(len(t.Pix))
	}
	return t
}

func TestDefaultJigsawShapes(t *testing.T) {
	j := DefaultJigsaw(28)
	j.Image.Mean, j.Image.Std = []float32{0.29}, []float32{0.35}
	j.Patches.Mean, j.Patches.Std = j.Image.Mean, j.Image.Std
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := j.Groups(), []ViewGroup{{1, 28}, {9, 8}}; !stdreflect.DeepEqual(got, want) {
		t.Errorf("Groups %v, want %v", got, want)
	}
	if g := j.Patches.Crops[0].Size; g != 33 {
		t.Errorf("grid crop %d px, want 33 (3 cells of round(28·85/224) = 11)", g)
	}
	if mean, std := j.Normalization(); mean[0] != 0.29 || std[0] != 0.35 {
		t.Errorf("Normalization %v %v", mean, std)
	}
	img := randomImage(rand.New(rand.NewPCG(3, 4)), 28, 28, 1)
	views := j.Apply(rand.New(rand.NewPCG(1, 2)), img)
	if len(views) != 10 {
		t.Fatalf("%d views, want 10", len(views))
	}
	for i, v := range views {
		size := 8
		if i == 0 {
			size = 28
		}
		if v.H != size || v.W != size || v.C != 1 || len(v.Pix) != size*size || cap(v.Pix) != len(v.Pix) {
			t.Errorf("view %d: %dx%dx%d, %d values (cap %d), want %dx%dx1", i, v.H, v.W, v.C, len(v.Pix), cap(v.Pix), size, size)
		}
	}
}

// TestJigsawDeterministic: the same rng state gives bit-identical views, another
// state other views, and the input is not modified.
func TestJigsawDeterministic(t *testing.T) {
	j := DefaultJigsaw(28)
	img := randomImage(rand.New(rand.NewPCG(5, 6)), 28, 28, 1)
	orig := slices.Clone(img.Pix)
	a, la := j.ApplyLayout(ImageRNG(7, 0, 3), img)
	b, lb := j.ApplyLayout(ImageRNG(7, 0, 3), img)
	c, _ := j.ApplyLayout(ImageRNG(7, 1, 3), img)
	if !stdreflect.DeepEqual(a, b) || la != lb {
		t.Error("same rng state, different views")
	}
	if stdreflect.DeepEqual(a, c) {
		t.Error("different epochs, same views")
	}
	if !slices.Equal(img.Pix, orig) {
		t.Error("Apply modified its input")
	}
}

// TestJigsawPermutation: Perm is a permutation of the nine cells (so it has an
// inverse), and over many images every output position receives several cells.
func TestJigsawPermutation(t *testing.T) {
	j := plainJigsaw(12, 30, 6)
	img := numbered(30, 30, 1)
	seen := [JigsawCells]map[int]bool{}
	for i := range seen {
		seen[i] = map[int]bool{}
	}
	for i := range 200 {
		_, l := j.ApplyLayout(ImageRNG(1, 0, i), img)
		var inverse [JigsawCells]int
		hit := [JigsawCells]bool{}
		for out, cell := range l.Perm {
			if cell < 0 || cell >= JigsawCells || hit[cell] {
				t.Fatalf("image %d: Perm %v is not a permutation of 0..8", i, l.Perm)
			}
			hit[cell] = true
			inverse[cell] = out
			seen[out][cell] = true
		}
		for cell := range JigsawCells {
			if l.Perm[inverse[cell]] != cell {
				t.Fatalf("image %d: Perm %v, inverse %v do not compose to the identity", i, l.Perm, inverse)
			}
		}
	}
	for out, cells := range seen {
		if len(cells) < 8 {
			t.Errorf("output position %d only ever received cells %v in 200 images", out, cells)
		}
	}
}

// TestJigsawPatchesComeFromTheirCells: with the grid crop the whole image and no
// photometric step, output patch j is exactly the PatchSize window at the offset
// the layout gives inside cell Perm[j] of the input, and offsets stay inside the
// cell. G = 31 is not a multiple of 3: cells are 10 px and row/column 30 is never
// used.
func TestJigsawPatchesComeFromTheirCells(t *testing.T) {
	for _, tc := range []struct{ grid, patch int }{{30, 7}, {31, 7}, {33, 8}, {9, 3}} {
		j := plainJigsaw(8, tc.grid, tc.patch)
		img := numbered(tc.grid, tc.grid, 3)
		for i := range 20 {
			views, l := j.ApplyLayout(ImageRNG(2, 0, i), img)
			if l.Top != 0 || l.Left != 0 || l.H != tc.grid || l.W != tc.grid || l.Cell != tc.grid/3 {
				t.Fatalf("grid %d: layout window %+v, want the whole image and cells of %d", tc.grid, l, tc.grid/3)
			}
			for out, cell := range l.Perm {
				dy, dx := l.Offsets[cell][0], l.Offsets[cell][1]
				if dy < 0 || dx < 0 || dy+tc.patch > l.Cell || dx+tc.patch > l.Cell {
					t.Fatalf("cell %d offset (%d, %d) leaves the %d px cell with a %d px patch", cell, dy, dx, l.Cell, tc.patch)
				}
				top, left := (cell/3)*l.Cell+dy, (cell%3)*l.Cell+dx
				patch := views[1+out]
				for y := range tc.patch {
					for x := range tc.patch {
						for c := range 3 {
							got := patch.Pix[(y*tc.patch+x)*3+c]
							want := img.Pix[((top+y)*tc.grid+left+x)*3+c]
							if got != want {
								t.Fatalf("grid %d, image %d: patch %d (cell %d) at (%d, %d, %d) = %v, input at (%d, %d) = %v",
									tc.grid, i, out, cell, y, x, c, got, top+y, left+x, want)
							}
						}
					}
				}
			}
		}
	}
}

// TestJigsawPatchesAugmentedIndependently: on a constant image with brightness
// jitter always on, the nine patches get different brightness factors.
func TestJigsawPatchesAugmentedIndependently(t *testing.T) {
	j := plainJigsaw(8, 30, 6)
	j.Patches.Jitter = ColorJitter{Brightness: 0.5}
	j.Patches.JitterP = 1
	img := Tensor{H: 30, W: 30, C: 1, Pix: make([]float32, 900)}
	for i := range img.Pix {
		img.Pix[i] = 0.5
	}
	views := j.Apply(ImageRNG(3, 0, 0), img)
	values := map[float32]bool{}
	for _, p := range views[1:] {
		for _, v := range p.Pix[1:] {
			if v != p.Pix[0] {
				t.Fatalf("a patch of a constant image is not constant after brightness: %v", p.Pix[:4])
			}
		}
		values[p.Pix[0]] = true
	}
	if len(values) < 8 {
		t.Errorf("9 patches took only %d distinct brightness values", len(values))
	}
}

// TestPhotometricIsMultiCropsSteps: the per-patch steps are MultiCrop's: a view made
// by sampleCrop, resizedCrop and photometric from one rng equals MultiCrop.Apply's
// from the same rng state.
func TestPhotometricIsMultiCropsSteps(t *testing.T) {
	m := DefaultSmall(28)
	m.Crops = m.Crops[:1]
	m.Crops[0].Count = 1
	m.BlurP = 0.5
	m.Mean, m.Std = []float32{0.3}, []float32{0.4}
	img := randomImage(rand.New(rand.NewPCG(8, 9)), 28, 28, 1)
	for i := range 20 {
		want := m.Apply(ImageRNG(4, 0, i), img)[0]
		rng := ImageRNG(4, 0, i)
		var s scratch
		b := sampleCrop(rng, 28, 28, m.Crops[0].MinScale, m.Crops[0].MaxScale)
		got := Tensor{H: 28, W: 28, C: 1, Pix: make([]float32, 28*28)}
		resizedCrop(img, b.top, b.left, b.h, b.w, 28, 28, got.Pix, &s)
		m.photometric(rng, got, &s)
		if !slices.Equal(got.Pix, want.Pix) {
			t.Fatalf("image %d: photometric differs from MultiCrop's steps", i)
		}
	}
}

func TestJigsawValidate(t *testing.T) {
	good := plainJigsaw(8, 30, 6)
	for _, tc := range []struct {
		name string
		edit func(j *Jigsaw)
		want string
	}{
		{"patch too big", func(j *Jigsaw) { j.PatchSize = 11 }, "PatchSize"},
		{"patch zero", func(j *Jigsaw) { j.PatchSize = 0 }, "PatchSize"},
		{"two image crops", func(j *Jigsaw) { j.Image.Crops = append(j.Image.Crops, j.Image.Crops[0]) }, "Image must have one"},
		{"patch crops count", func(j *Jigsaw) { j.Patches.Crops = []CropSpec{{Count: 2, Size: 30, MinScale: 1, MaxScale: 1}} }, "Patches must have one"},
		{"normalisation", func(j *Jigsaw) { j.Image.Mean, j.Image.Std = []float32{0.5}, []float32{0.5} }, "same Mean"},
		{"bad image", func(j *Jigsaw) { j.Image.FlipP = 2 }, "Jigsaw.Image"},
	} {
		j := good
		j.Image.Crops = slices.Clone(good.Image.Crops)
		tc.edit(&j)
		if err := j.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := good.Validate(); err != nil {
		t.Errorf("good jigsaw: %v", err)
	}
}
