package dataparallel

import (
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func TestNewPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		batch, devices int
		counts         []int
		want           string
	}{
		{4096, 0, []int{2, 6}, "at least 1 device"},
		{4095, 64, []int{2, 6}, "4095 does not split evenly over 64 devices (4095 % 64 = 63); use 4032 or 4096"},
		{100, 8, []int{2}, "use 96 or 104"},
		{4, 8, []int{2}, "smaller than the 8 devices"},
		{64, 8, nil, "no crop groups"},
		{64, 8, []int{2, 0}, "crop group 1 has 0 crops"},
	} {
		_, err := NewPlan(tc.batch, tc.devices, tc.counts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewPlan(%d, %d, %v): error %v, want it to contain %q", tc.batch, tc.devices, tc.counts, err, tc.want)
		}
	}
}

func TestPlanRowsByHand(t *testing.T) {
	// B = 4 images over 2 devices, 2 crops: global rows are crop 0 images 0–3 (rows
	// 0–3), crop 1 images 0–3 (rows 4–7). Device 0 has images 0, 1; device 1 has 2, 3.
	p, err := NewPlan(4, 2, []int{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if p.PerDevice != 2 || p.NumCrops() != 5 {
		t.Fatalf("plan %+v: PerDevice %d, NumCrops %d", p, p.PerDevice, p.NumCrops())
	}
	for _, tc := range []struct {
		group, device int
		want          []int
	}{
		{0, 0, []int{0, 1, 4, 5}},
		{0, 1, []int{2, 3, 6, 7}},
		{1, 0, []int{0, 1, 4, 5, 8, 9}},
		{1, 1, []int{2, 3, 6, 7, 10, 11}},
	} {
		if got := p.Rows(tc.group, tc.device); !slices.Equal(got, tc.want) {
			t.Errorf("Rows(group %d, device %d) = %v, want %v", tc.group, tc.device, got, tc.want)
		}
	}
}

// TestPlanRowsInvariants: over the paper's configuration and odd ones, the devices'
// rows partition the global rows, every device holds all crops of exactly its own
// images, and locally the order is crop-major.
func TestPlanRowsInvariants(t *testing.T) {
	for _, tc := range []struct {
		batch, devices int
		counts         []int
	}{{4096, 64, []int{2, 6}}, {4096, 8, []int{2, 6}}, {12, 3, []int{1, 4}}, {7, 7, []int{2}}, {5, 1, []int{2, 6}}} {
		p, err := NewPlan(tc.batch, tc.devices, tc.counts)
		if err != nil {
			t.Fatal(err)
		}
		for g, count := range tc.counts {
			seen := make([]int, count*tc.batch)
			for d := range tc.devices {
				rows := p.Rows(g, d)
				if len(rows) != count*p.PerDevice {
					t.Fatalf("%+v group %d device %d: %d rows, want %d", tc, g, d, len(rows), count*p.PerDevice)
				}
				for local, global := range rows {
					seen[global]++
					crop, image := global/tc.batch, global%tc.batch
					if image/p.PerDevice != d {
						t.Fatalf("%+v: device %d holds image %d (crop %d)", tc, d, image, crop)
					}
					if wantCrop, wantImage := local/p.PerDevice, d*p.PerDevice+local%p.PerDevice; crop != wantCrop || image != wantImage {
						t.Fatalf("%+v: device %d local row %d is crop %d image %d, want crop %d image %d", tc, d, local, crop, image, wantCrop, wantImage)
					}
				}
			}
			for r, n := range seen {
				if n != 1 {
					t.Fatalf("%+v group %d: global row %d held %d times", tc, g, r, n)
				}
			}
		}
	}
}

// TestGlobalRow: the device-major row of (crop, image) is where the concatenation of
// the devices' shards puts the crop-major row c·B + i.
func TestGlobalRow(t *testing.T) {
	for _, tc := range []struct {
		batch, devices int
		counts         []int
	}{{4096, 64, []int{2, 6}}, {12, 3, []int{1, 4}}, {6, 1, []int{2}}} {
		p, err := NewPlan(tc.batch, tc.devices, tc.counts)
		if err != nil {
			t.Fatal(err)
		}
		for g, count := range tc.counts {
			var concatenated []int // crop-major row at each device-major position
			for d := range tc.devices {
				concatenated = append(concatenated, p.Rows(g, d)...)
			}
			for c := range count {
				for i := range tc.batch {
					if got := concatenated[p.GlobalRow(g, c, i)]; got != c*tc.batch+i {
						t.Fatalf("%+v group %d: GlobalRow(crop %d, image %d) holds crop-major row %d, want %d", tc, g, c, i, got, c*tc.batch+i)
					}
				}
			}
		}
	}
	p, _ := NewPlan(4, 2, []int{2})
	if r := catch(func() { p.GlobalRow(0, 2, 0) }); r == nil {
		t.Error("crop 2 of 2: no panic")
	}
}

// TestSplitMerge splits tensors whose every row records its global row number (float32
// crops [count·B, H, W, C] and uint8 images), checks each shard against Rows, and that
// Merge restores the original bytes.
func TestSplitMerge(t *testing.T) {
	p, err := NewPlan(6, 3, []int{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, dtype := range []dtypes.DType{dtypes.Float32, dtypes.Uint8} {
		for g, count := range p.CropCounts {
			rows, h, w, c := count*p.GlobalBatch, 2, 3, 1
			global := tensors.FromShape(shapes.Make(dtype, rows, h, w, c))
			rowSize := h * w * c
			fill := func(i int) float64 { return float64(i/rowSize)*10 + float64(i%rowSize) }
			switch dtype {
			case dtypes.Float32:
				tensors.MutableFlatData(global, func(f []float32) {
					for i := range f {
						f[i] = float32(fill(i))
					}
				})
			case dtypes.Uint8:
				tensors.MutableFlatData(global, func(f []uint8) {
					for i := range f {
						f[i] = uint8(fill(i))
					}
				})
			}
			shards, err := p.Split(g, global)
			if err != nil {
				t.Fatalf("%s group %d: %v", dtype, g, err)
			}
			if len(shards) != p.Devices {
				t.Fatalf("%d shards for %d devices", len(shards), p.Devices)
			}
			for d, s := range shards {
				if want := []int{count * p.PerDevice, h, w, c}; !slices.Equal(s.Shape().Dimensions, want) || s.DType() != dtype {
					t.Fatalf("shard %d: shape %s, want %s%v", d, s.Shape(), dtype, want)
				}
				want := p.Rows(g, d)
				got := flatAsFloat(t, s)
				for local, globalRow := range want {
					for e := range rowSize {
						if v := got[local*rowSize+e]; v != float64(globalRow)*10+float64(e) {
							t.Fatalf("%s group %d shard %d row %d element %d = %g, want global row %d's %g", dtype, g, d, local, e, v, globalRow, float64(globalRow)*10+float64(e))
						}
					}
				}
			}
			merged, err := p.Merge(g, shards)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(flatAsFloat(t, merged), flatAsFloat(t, global)) || !merged.Shape().Equal(global.Shape()) {
				t.Errorf("%s group %d: Merge(Split(x)) differs from x", dtype, g)
			}
		}
	}
}

func TestSplitMergeErrors(t *testing.T) {
	p, err := NewPlan(4, 2, []int{2, 6})
	if err != nil {
		t.Fatal(err)
	}
	wrongRows := tensors.FromShape(shapes.Make(dtypes.Float32, 9, 2)) // group 0 needs 2·4 = 8
	if _, err := p.Split(0, wrongRows); err == nil || !strings.Contains(err.Error(), "has 9 rows, want 8") {
		t.Errorf("Split of 9 rows: %v", err)
	}
	if _, err := p.Split(2, wrongRows); err == nil || !strings.Contains(err.Error(), "crop group 2 out of range") {
		t.Errorf("Split of group 2: %v", err)
	}
	scalar := tensors.FromValue(float32(1))
	if _, err := p.Split(0, scalar); err == nil || !strings.Contains(err.Error(), "no row axis") {
		t.Errorf("Split of a scalar: %v", err)
	}
	a := tensors.FromShape(shapes.Make(dtypes.Float32, 4, 2))
	b := tensors.FromShape(shapes.Make(dtypes.Float32, 4, 3))
	if _, err := p.Merge(0, []*tensors.Tensor{a}); err == nil || !strings.Contains(err.Error(), "1 shards for 2 devices") {
		t.Errorf("Merge of 1 shard: %v", err)
	}
	if _, err := p.Merge(0, []*tensors.Tensor{a, b}); err == nil || !strings.Contains(err.Error(), "shard 1 has shape") {
		t.Errorf("Merge of mismatched shards: %v", err)
	}
}

func TestQueueLength(t *testing.T) {
	for _, tc := range []struct {
		batch, devices, requested, global, perDevice int
	}{
		{256, 4, 3840, 3840, 960},    // the paper's small-batch run: 15 batches of 256, 4 GPUs
		{4096, 64, 3840, 0, 0},       // batch 4096 leaves no room for a 3840 queue
		{4096, 64, 10000, 8192, 128}, // trimmed to 2 batches, 2 of each device's 64
		{256, 4, 0, 0, 0},
	} {
		p, err := NewPlan(tc.batch, tc.devices, []int{2, 6})
		if err != nil {
			t.Fatal(err)
		}
		if g, d := p.QueueLength(tc.requested); g != tc.global || d != tc.perDevice {
			t.Errorf("B=%d n=%d queue %d: got %d global, %d per device; want %d, %d", tc.batch, tc.devices, tc.requested, g, d, tc.global, tc.perDevice)
		}
	}
}

// flatAsFloat returns a float32 or uint8 tensor's values as float64.
func flatAsFloat(t *testing.T, x *tensors.Tensor) []float64 {
	t.Helper()
	var out []float64
	var err error
	switch x.DType() {
	case dtypes.Float32:
		err = tensors.ConstFlatData(x, func(f []float32) {
			for _, v := range f {
				out = append(out, float64(v))
			}
		})
	case dtypes.Uint8:
		err = tensors.ConstFlatData(x, func(f []uint8) {
			for _, v := range f {
				out = append(out, float64(v))
			}
		})
	default:
		t.Fatalf("dtype %s", x.DType())
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}
