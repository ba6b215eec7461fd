package imageio_test

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swav-go/swav/imageio"
)

// pattern returns an h×w×c tensor of distinct, irregular values in [0, 1].
func pattern(h, w, c int) imageio.Tensor {
	t := imageio.NewTensor(h, w, c)
	for i := range t.Pix {
		t.Pix[i] = float32(math.Mod(float64(i)*0.6180339887+0.1*math.Sin(float64(i)), 1))
	}
	return t
}

// TestResizeShorterCropEqualsComposition: the fused transform gives exactly the values of
// CenterCrop(ResizeShorter(t, size)) (the composition the torchvision golden tests
// check), for downscaling, upscaling, unchanged axes, odd sizes, elongated images and
// crops larger than the resized image (zero padding).
func TestResizeShorterCropEqualsComposition(t *testing.T) {
	for _, tc := range []struct{ h, w, c, size, cropH, cropW int }{
		{40, 30, 3, 16, 12, 12},    // downscale, portrait
		{30, 40, 1, 16, 16, 16},    // downscale, landscape, crop = short side
		{7, 9, 3, 20, 17, 18},      // upscale
		{28, 28, 1, 28, 24, 24},    // no resize, crop only
		{28, 50, 3, 28, 28, 28},    // height unchanged, width resampled
		{50, 28, 3, 28, 28, 28},    // width unchanged, height resampled
		{33, 35, 3, 31, 31, 29},    // odd sizes, rounding of the crop origin
		{3, 200, 1, 8, 8, 8},       // elongated: a sliver of the resized image
		{200, 3, 3, 8, 6, 8},       // elongated, portrait
		{20, 24, 3, 10, 14, 30},    // crop larger than the resized image: padding
		{5, 5, 1, 4, 9, 2},         // padding on one axis only
		{64, 48, 3, 224, 200, 200}, // upscale past the crop
	} {
		t.Run(fmt.Sprintf("%dx%dx%d_to_%d_crop_%dx%d", tc.h, tc.w, tc.c, tc.size, tc.cropH, tc.cropW), func(t *testing.T) {
			in := pattern(tc.h, tc.w, tc.c)
			want := imageio.CenterCrop(imageio.ResizeShorter(in, tc.size), tc.cropH, tc.cropW)
			got, err := imageio.ResizeShorterCrop(in, tc.size, tc.cropH, tc.cropW)
			if err != nil {
				t.Fatal(err)
			}
			if got.H != want.H || got.W != want.W || got.C != want.C {
				t.Fatalf("shape %dx%dx%d, want %dx%dx%d", got.H, got.W, got.C, want.H, want.W, want.C)
			}
			if !slices.Equal(got.Pix, want.Pix) {
				t.Fatalf("values differ from CenterCrop(ResizeShorter): max |diff| %g", maxAbsDiff(got.Pix, want.Pix))
			}
		})
	}
}

// TestResizeShorterCropElongated: a 1×4M image resized to a shorter side of 224 would be
// 224×939524096 (2.5 TB as float32); the fused transform computes the 224×224 crop in
// bounded memory and time. The image is constant, so every kept value is that constant
// (the weights are normalised).
func TestResizeShorterCropElongated(t *testing.T) {
	const w = 1 << 22
	in := imageio.NewTensor(1, w, 1)
	for i := range in.Pix {
		in.Pix[i] = 0.25
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	got, err := imageio.ResizeShorterCrop(in, 224, 224, 224)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got.H != 224 || got.W != 224 {
		t.Fatalf("shape %dx%d, want 224x224", got.H, got.W)
	}
	for i, v := range got.Pix {
		if math.Abs(float64(v)-0.25) > 1e-6 {
			t.Fatalf("value %d = %g, want 0.25", i, v)
		}
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("allocated %d bytes, want < 16 MiB", alloc)
	}
	if elapsed > 5*time.Second {
		t.Errorf("took %s, want < 5s", elapsed)
	}
}

// TestResizeShorterCropErrors: sizes a header or an image could carry come back as
// errors naming the problem, where ResizeShorter panics.
func TestResizeShorterCropErrors(t *testing.T) {
	small := pattern(3, 5, 3)
	for _, tc := range []struct {
		name               string
		in                 imageio.Tensor
		size, cropH, cropW int
		want               string
	}{
		{"huge size", small, 1 << 62, 224, 224, "overflows"},
		{"size overflowing with the long side", pattern(1, 9, 1), math.MaxInt / 4, 224, 224, "overflows"},
		{"zero size", small, 0, 2, 2, "must be positive"},
		{"negative size", small, -5, 2, 2, "must be positive"},
		{"zero crop", small, 4, 0, 2, "must be positive"},
		{"empty image", imageio.NewTensor(0, 4, 3), 4, 2, 2, "empty"},
		{"no channels", imageio.Tensor{H: 2, W: 2}, 4, 2, 2, "channels"},
		{"crop overflowing", small, 4, math.MaxInt / 2, 3, "overflows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := imageio.ResizeShorterCrop(tc.in, tc.size, tc.cropH, tc.cropW)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestResizeShorterSize: the target size matches torchvision's int(size·long/short) and
// overflow is an error; ResizeShorter panics with imageio's message, not a runtime one.
func TestResizeShorterSize(t *testing.T) {
	for _, tc := range []struct{ h, w, size, outH, outW int }{
		{480, 640, 256, 256, 341}, // 256·640/480 = 341.33
		{640, 480, 256, 341, 256},
		{100, 100, 7, 7, 7},
		{1, 3, 2, 2, 6},
	} {
		h, w, err := imageio.ResizeShorterSize(tc.h, tc.w, tc.size)
		if err != nil || h != tc.outH || w != tc.outW {
			t.Errorf("ResizeShorterSize(%d, %d, %d) = %d, %d, %v; want %d, %d", tc.h, tc.w, tc.size, h, w, err, tc.outH, tc.outW)
		}
	}
	if _, _, err := imageio.ResizeShorterSize(3, 5, 1<<62); err == nil {
		t.Error("size 2^62 of a 3x5 image: no error")
	}
	defer func() {
		r := recover()
		if msg, _ := r.(string); !strings.HasPrefix(msg, "imageio: ResizeShorter: ") {
			t.Errorf("ResizeShorter(2^62) panicked with %v, want an imageio message", r)
		}
	}()
	imageio.ResizeShorter(pattern(3, 5, 1), 1<<62)
}
