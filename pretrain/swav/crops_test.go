package swav

import (
	"strings"
	"testing"

	"github.com/swav-go/swav/augment"
)

// A crop count of -1 drops its resolution: --nmb-crops 2,-1 leaves the two full-size
// crops of the default small recipe (28 px, scale 0.14–1) and no local crops.
func TestCropCountMinusOneDropsResolution(t *testing.T) {
	d := DefaultCrops(28)
	if len(d.Crops) != 2 {
		t.Fatalf("default crops at 28 px: %+v, want two resolutions", d.Crops)
	}
	got, err := overrideCrops(d, Config{CropCounts: []int{2, -1}})
	if err != nil {
		t.Fatal(err)
	}
	want := augment.CropSpec{Count: 2, Size: 28, MinScale: 0.14, MaxScale: 1}
	if len(got.Crops) != 1 || got.Crops[0] != want {
		t.Fatalf("crops %+v, want [%+v]", got.Crops, want)
	}
	if got.NumCrops() != 2 {
		t.Fatalf("%d crops, want 2", got.NumCrops())
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("no multi-crop: %v", err)
	}
	// Dropping the first resolution keeps the second as it was.
	got, err = overrideCrops(DefaultCrops(28), Config{CropCounts: []int{-1, 3}})
	if err != nil || len(got.Crops) != 1 || got.Crops[0].Count != 3 || got.Crops[0].Size != 16 {
		t.Fatalf("dropping the first resolution: %+v, %v", got.Crops, err)
	}
	if _, err := overrideCrops(DefaultCrops(28), Config{CropCounts: []int{-1, -1}}); err == nil || !strings.Contains(err.Error(), "every resolution is dropped") {
		t.Fatalf("every resolution dropped: err %v", err)
	}
	// Other counts below 1 are still refused, by the crops' validation.
	got, err = overrideCrops(DefaultCrops(28), Config{CropCounts: []int{2, 0}})
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err == nil || !strings.Contains(err.Error(), "Count = 0") {
		t.Fatalf("count 0: %v, want the validation error", err)
	}
}
