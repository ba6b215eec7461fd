package augment

import (
	stdreflect "reflect"
	"testing"
)

// TestTwoViewRecipes: SimCLR's and MoCo v2's two views are valid MultiCrops of two
// size-px views whose crop scales are the papers' (0.08 and 0.2), give two different
// views of one image, and are reproducible from the rng state.
func TestTwoViewRecipes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		m        MultiCrop
		minScale float64
	}{{"simclr", SimCLRViews(28), 0.08}, {"moco-v2", MoCoV2Views(28), 0.2}} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			m.Mean, m.Std = []float32{0.29}, []float32{0.35}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			if got, want := m.Groups(), []ViewGroup{{2, 28}}; !stdreflect.DeepEqual(got, want) {
				t.Errorf("Groups %v, want %v", got, want)
			}
			if m.Crops[0].MinScale != tc.minScale || m.Crops[0].MaxScale != 1 {
				t.Errorf("crop scale [%g, %g], want [%g, 1]", m.Crops[0].MinScale, m.Crops[0].MaxScale, tc.minScale)
			}
			if m.BlurP != 0 {
				t.Errorf("blur p %g at 28 px, want 0", m.BlurP)
			}
			img := numbered(28, 28, 1)
			a := m.Apply(ImageRNG(1, 2, 3), img)
			if len(a) != 2 || stdreflect.DeepEqual(a[0], a[1]) {
				t.Errorf("%d views, identical: %v", len(a), len(a) == 2 && stdreflect.DeepEqual(a[0], a[1]))
			}
			if b := m.Apply(ImageRNG(1, 2, 3), img); !stdreflect.DeepEqual(a, b) {
				t.Error("same rng state, different views")
			}
		})
	}
}

// TestMultiCropIsViews: MultiCrop's groups are its crop specs and its normalisation
// its Mean and Std, so it serves as Views unchanged.
func TestMultiCropIsViews(t *testing.T) {
	m := DefaultSmall(28)
	m.Mean, m.Std = []float32{0.1}, []float32{0.2}
	var v Views = m
	if got, want := v.Groups(), []ViewGroup{{2, 28}, {4, 14}}; !stdreflect.DeepEqual(got, want) {
		t.Errorf("Groups %v, want %v", got, want)
	}
	if mean, std := v.Normalization(); mean[0] != 0.1 || std[0] != 0.2 {
		t.Errorf("Normalization %v %v", mean, std)
	}
}
