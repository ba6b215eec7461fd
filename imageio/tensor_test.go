package imageio_test

import (
	"encoding/json"
	"image"
	"image/color"
	"math"
	"os"
	"reflect"
	"testing"

	"github.com/swav-go/swav/imageio"
)

// resizeTol is the largest difference accepted between Resize and PIL's or
// torchvision's antialiased bilinear resize on values in [0, 1]. Both
// references accumulate in double precision and store float32, as Resize
// does: the committed golden cases match PIL exactly and torchvision within
// 1.5e-7.
const resizeTol = 1e-6

func tensor1(h, w int, v ...float32) imageio.Tensor {
	if len(v) != h*w {
		panic("tensor1: wrong length")
	}
	return imageio.Tensor{H: h, W: w, C: 1, Pix: v}
}

func assertClose(t *testing.T, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol) {
			t.Fatalf("value %d = %.8g, want %.8g (|diff| %.3g > %.3g)\ngot  %v\nwant %v", i, got[i], want[i], d, tol, got, want)
		}
	}
}

func maxAbsDiff(a, b []float32) float64 {
	m := 0.0
	for i := range min(len(a), len(b)) {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func TestResizeHandComputed(t *testing.T) {
	// Weights worked out by hand from the triangle filter: for an output
	// sample centred at c = (i+0.5)·in/out with scale s = max(in/out, 1),
	// input j weighs max(0, 1 − |j+0.5−c|/s), normalised over the inputs
	// inside the image.
	tests := []struct {
		name string
		in   imageio.Tensor
		h, w int
		want []float32
	}{
		// 3→2: c = 0.75 and 2.25, s = 1.5: weights (5/6, 1/2) → (5/8, 3/8)
		// and mirrored.
		{"1-D 3→2", tensor1(1, 3, 0, 1, 2), 1, 2, []float32{3.0 / 8, 13.0 / 8}},
		// 4→2 (factor 2): c = 1 and 3, s = 2; for output 0 inputs 0,1,2
		// weigh 0.75, 0.75, 0.25 (input −1 would weigh 0.25 but is outside):
		// (0·3 + 1·3 + 2·1)/7 = 5/7; output 1: inputs 1,2,3 weigh 0.25,
		// 0.75, 0.75: (1 + 6 + 9)/7 = 16/7. Not the 2-pixel box average.
		{"1-D 4→2", tensor1(1, 4, 0, 1, 2, 3), 1, 2, []float32{5.0 / 7, 16.0 / 7}},
		// 2→4 upscale = align_corners=False bilinear: source positions
		// −0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
		{"1-D 2→4", tensor1(1, 2, 0, 4), 1, 4, []float32{0, 1, 3, 4}},
		// Constant stays constant in any direction.
		{"constant 3x5→7x2", tensor1(3, 5, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25), 7, 2,
			[]float32{0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25}},
		// Separable 2-D case, 2×2→4×4: outer product of the 1-D weights
		// (1, .75/.25, .25/.75, 1) on both axes of [[0, 4], [8, 12]].
		{"2-D 2x2→4x4", tensor1(2, 2, 0, 4, 8, 12), 4, 4, []float32{
			0, 1, 3, 4,
			2, 3, 5, 6,
			6, 7, 9, 10,
			8, 9, 11, 12,
		}},
		// 4×4→2×2 with the 1-D factor-2 weights (3,3,1)/7 and (1,3,3)/7 on
		// both axes of rows [0 1 2 3] + 4·row index: 5/7 + 4·5/7 = 25/7, ...
		{"2-D 4x4→2x2", tensor1(4, 4, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 2, 2, []float32{
			25.0 / 7, 25.0/7 + 11.0/7,
			25.0/7 + 44.0/7, 25.0/7 + 55.0/7,
		}},
		// Same size: unchanged.
		{"identity", tensor1(2, 3, 1, 2, 3, 4, 5, 6), 2, 3, []float32{1, 2, 3, 4, 5, 6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := imageio.Resize(tc.in, tc.h, tc.w)
			if got.H != tc.h || got.W != tc.w || got.C != 1 {
				t.Fatalf("shape %dx%dx%d, want %dx%dx1", got.H, got.W, got.C, tc.h, tc.w)
			}
			assertClose(t, got.Pix, tc.want, 1e-6)
		})
	}
}

type resizeGolden struct {
	Cases []struct {
		Name        string    `json:"name"`
		InH         int       `json:"in_h"`
		InW         int       `json:"in_w"`
		OutH        int       `json:"out_h"`
		OutW        int       `json:"out_w"`
		Input       []float32 `json:"input"`
		PIL         []float32 `json:"pil"`
		Torchvision []float32 `json:"torchvision"`
	} `json:"cases"`
}

func loadJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 imageio/testdata/gen_resize_golden.py)", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestResizeMatchesPILAndTorchvision(t *testing.T) {
	var g resizeGolden
	loadJSON(t, "testdata/resize_golden.json", &g)
	if len(g.Cases) == 0 {
		t.Fatal("no golden cases")
	}
	var maxPIL, maxTV float64
	defer func() {
		t.Logf("max |Resize − PIL| = %.3g, max |Resize − torchvision| = %.3g (tolerance %g)", maxPIL, maxTV, resizeTol)
	}()
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			got := imageio.Resize(tensor1(c.InH, c.InW, c.Input...), c.OutH, c.OutW)
			maxPIL = max(maxPIL, maxAbsDiff(got.Pix, c.PIL))
			if c.Torchvision != nil {
				maxTV = max(maxTV, maxAbsDiff(got.Pix, c.Torchvision))
			}
			t.Run("PIL", func(t *testing.T) { assertClose(t, got.Pix, c.PIL, resizeTol) })
			if c.Torchvision != nil {
				t.Run("torchvision", func(t *testing.T) { assertClose(t, got.Pix, c.Torchvision, resizeTol) })
			}
			// Channels are resampled independently: put the case in the
			// middle channel of a 3-channel tensor next to constants.
			in := imageio.NewTensor(c.InH, c.InW, 3)
			for i, v := range c.Input {
				in.Pix[3*i], in.Pix[3*i+1], in.Pix[3*i+2] = 0.5, v, 1
			}
			got3 := imageio.Resize(in, c.OutH, c.OutW)
			for i, want := range c.PIL {
				if d := math.Abs(float64(got3.Pix[3*i+1] - want)); d > resizeTol ||
					math.Abs(float64(got3.Pix[3*i]-0.5)) > 1e-6 || math.Abs(float64(got3.Pix[3*i+2]-1)) > 1e-6 {
					t.Fatalf("3-channel pixel %d = %v, want [0.5 %v 1]", i, got3.Pix[3*i:3*i+3], want)
				}
			}
		})
	}
}

type transformsGolden struct {
	Luma       [][4]int `json:"luma"`
	CenterCrop []struct {
		InH    int       `json:"in_h"`
		InW    int       `json:"in_w"`
		CropH  int       `json:"crop_h"`
		CropW  int       `json:"crop_w"`
		Output []float32 `json:"output"`
	} `json:"center_crop"`
	ResizeShorter []struct {
		InH  int `json:"in_h"`
		InW  int `json:"in_w"`
		Size int `json:"size"`
		OutH int `json:"out_h"`
		OutW int `json:"out_w"`
	} `json:"resize_shorter"`
}

func TestCenterCropHand(t *testing.T) {
	in := tensor1(5, 5,
		1, 2, 3, 4, 5,
		6, 7, 8, 9, 10,
		11, 12, 13, 14, 15,
		16, 17, 18, 19, 20,
		21, 22, 23, 24, 25)
	tests := []struct {
		name string
		h, w int
		want []float32
	}{
		// (5−2)/2 = 1.5 rounds half to even: 2.
		{"2x2 offset rounds to even", 2, 2, []float32{13, 14, 18, 19}},
		{"3x3", 3, 3, []float32{7, 8, 9, 12, 13, 14, 17, 18, 19}},
		{"1x5", 1, 5, []float32{11, 12, 13, 14, 15}},
		// 7 wide: pad (7−5)/2 = 1 left, 1 right; 4 tall: top (5−4)/2 = 0.5 → 0.
		{"4x7 pads width", 4, 7, []float32{
			0, 1, 2, 3, 4, 5, 0,
			0, 6, 7, 8, 9, 10, 0,
			0, 11, 12, 13, 14, 15, 0,
			0, 16, 17, 18, 19, 20, 0,
		}},
		// 8 tall: pad (8−5)/2 = 1 on top, 2 below.
		{"8x1 pads height unevenly", 8, 1, []float32{0, 3, 8, 13, 18, 23, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := imageio.CenterCrop(in, tc.h, tc.w)
			if got.H != tc.h || got.W != tc.w {
				t.Fatalf("shape %dx%d, want %dx%d", got.H, got.W, tc.h, tc.w)
			}
			if !reflect.DeepEqual(got.Pix, tc.want) {
				t.Errorf("got %v, want %v", got.Pix, tc.want)
			}
		})
	}
}

func TestCenterCropMatchesTorchvision(t *testing.T) {
	var g transformsGolden
	loadJSON(t, "testdata/transforms_golden.json", &g)
	if len(g.CenterCrop) == 0 {
		t.Skip("golden file has no torchvision center_crop cases (python3-torchvision was missing when it was generated)")
	}
	for _, c := range g.CenterCrop {
		in := imageio.NewTensor(c.InH, c.InW, 1)
		for i := range in.Pix {
			in.Pix[i] = float32(i + 1)
		}
		got := imageio.CenterCrop(in, c.CropH, c.CropW)
		if !reflect.DeepEqual(got.Pix, c.Output) {
			t.Errorf("CenterCrop(%dx%d → %dx%d) = %v, torchvision %v", c.InH, c.InW, c.CropH, c.CropW, got.Pix, c.Output)
		}
	}
}

func TestResizeShorterSizes(t *testing.T) {
	var g transformsGolden
	loadJSON(t, "testdata/transforms_golden.json", &g)
	cases := g.ResizeShorter
	// Hand cases in case torchvision was unavailable to the generator.
	cases = append(cases, []struct {
		InH  int `json:"in_h"`
		InW  int `json:"in_w"`
		Size int `json:"size"`
		OutH int `json:"out_h"`
		OutW int `json:"out_w"`
	}{
		{480, 640, 224, 224, 298}, // 224·640/480 = 298.67 → 298
		{10, 10, 4, 4, 4},
		{3, 7, 6, 6, 14},
	}...)
	for _, c := range cases {
		got := imageio.ResizeShorter(imageio.NewTensor(c.InH, c.InW, 3), c.Size)
		if got.H != c.OutH || got.W != c.OutW || got.C != 3 {
			t.Errorf("ResizeShorter(%dx%d, %d) = %dx%dx%d, want %dx%dx3", c.InH, c.InW, c.Size, got.H, got.W, got.C, c.OutH, c.OutW)
		}
	}
}

func TestCrop(t *testing.T) {
	in := tensor1(3, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	tests := []struct {
		name            string
		top, left, h, w int
		want            []float32
	}{
		{"inside", 1, 1, 2, 2, []float32{5, 6, 8, 9}},
		{"whole", 0, 0, 3, 3, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"overlaps top-left", -1, -1, 2, 2, []float32{0, 0, 0, 1}},
		{"overlaps bottom-right", 2, 2, 2, 2, []float32{9, 0, 0, 0}},
		{"outside", 5, 5, 1, 2, []float32{0, 0}},
		{"empty", 0, 0, 0, 0, []float32{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := imageio.Crop(in, tc.top, tc.left, tc.h, tc.w)
			if got.H != tc.h || got.W != tc.w || len(got.Pix) != len(tc.want) {
				t.Fatalf("shape %dx%d, want %dx%d", got.H, got.W, tc.h, tc.w)
			}
			if len(tc.want) > 0 && !reflect.DeepEqual(got.Pix, tc.want) {
				t.Errorf("got %v, want %v", got.Pix, tc.want)
			}
		})
	}
	// Crop copies: changing the result leaves the source alone.
	c := imageio.Crop(in, 0, 0, 1, 1)
	c.Pix[0] = 42
	if in.Pix[0] != 1 {
		t.Error("Crop aliases its input")
	}
}

func TestToTensor(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	gray.Pix = []uint8{0, 255}
	rgba := image.NewRGBA(image.Rect(0, 0, 2, 1))
	rgba.Pix = []uint8{255, 0, 51, 255, 64, 32, 16, 128} // second is premultiplied, half transparent
	nrgba := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	nrgba.Pix = []uint8{200, 100, 50, 128}
	sub := image.NewRGBA(image.Rect(0, 0, 3, 2))
	sub.SetRGBA(2, 1, color.RGBA{10, 20, 30, 255})
	gray16 := image.NewGray16(image.Rect(0, 0, 1, 1))
	gray16.SetGray16(0, 0, color.Gray16{0x8000})
	ycc := image.NewYCbCr(image.Rect(0, 0, 1, 1), image.YCbCrSubsampleRatio444)
	ycc.Y[0], ycc.Cb[0], ycc.Cr[0] = 128, 128, 128 // neutral grey

	tests := []struct {
		name     string
		img      image.Image
		channels int
		h, w     int
		want     []float32
	}{
		{"gray→3", gray, 3, 1, 2, []float32{0, 0, 0, 1, 1, 1}},
		{"gray→1", gray, 1, 1, 2, []float32{0, 1}},
		// Premultiplied (64,32,16,128) over white adds 255−128 = 127.
		{"rgba→3", rgba, 3, 1, 2, []float32{1, 0, 51.0 / 255, 191.0 / 255, 159.0 / 255, 143.0 / 255}},
		// (200·128 + 255·127)/255 = 227.4 → 227; 177.2 → 177; 152.1 → 152.
		{"nrgba over white", nrgba, 3, 1, 1, []float32{227.0 / 255, 177.0 / 255, 152.0 / 255}},
		{"sub-image origin", sub.SubImage(image.Rect(2, 1, 3, 2)), 3, 1, 1, []float32{10.0 / 255, 20.0 / 255, 30.0 / 255}},
		{"gray16 keeps precision", gray16, 3, 1, 1, []float32{0x8000 / 65535.0, 0x8000 / 65535.0, 0x8000 / 65535.0}},
		{"ycbcr", ycc, 3, 1, 1, []float32{128.0 / 255, 128.0 / 255, 128.0 / 255}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := imageio.ToTensor(tc.img, tc.channels)
			if got.H != tc.h || got.W != tc.w || got.C != tc.channels {
				t.Fatalf("shape %dx%dx%d, want %dx%dx%d", got.H, got.W, got.C, tc.h, tc.w, tc.channels)
			}
			assertClose(t, got.Pix, tc.want, 1e-6)
		})
	}
}

func TestToTensorLumaMatchesPIL(t *testing.T) {
	// Pixels and their PIL convert("L") values from gen_resize_golden.py.
	var g transformsGolden
	loadJSON(t, "testdata/transforms_golden.json", &g)
	if len(g.Luma) == 0 {
		t.Fatal("no luma cases")
	}
	rgba := image.NewRGBA(image.Rect(0, 0, len(g.Luma), 1))
	nrgba := image.NewNRGBA(rgba.Rect)
	cmykish := image.NewRGBA64(rgba.Rect) // exercises the generic path
	for i, p := range g.Luma {
		rgba.SetRGBA(i, 0, color.RGBA{uint8(p[0]), uint8(p[1]), uint8(p[2]), 255})
		nrgba.SetNRGBA(i, 0, color.NRGBA{uint8(p[0]), uint8(p[1]), uint8(p[2]), 255})
		cmykish.Set(i, 0, color.RGBA{uint8(p[0]), uint8(p[1]), uint8(p[2]), 255})
	}
	for _, img := range []image.Image{rgba, nrgba, cmykish} {
		got := imageio.ToTensor(img, 1)
		for i, p := range g.Luma {
			want := float64(p[3]) / 255
			tol := 1e-6
			if _, generic := img.(*image.RGBA64); generic {
				tol = 1.0 / 255 // computed on 16-bit values
			}
			if d := math.Abs(float64(got.Pix[i]) - want); d > tol {
				t.Errorf("%T pixel %v: luma %.6f, PIL %d/255 = %.6f", img, p[:3], got.Pix[i], p[3], want)
			}
		}
	}
}

func TestNormalizeAndCHW(t *testing.T) {
	in := imageio.Tensor{H: 1, W: 2, C: 3, Pix: []float32{0.5, 0.25, 1, 0, 1, 0.5}}
	in.Normalize([]float32{0.5, 0.5, 0.5}, []float32{0.5, 0.25, 2})
	want := []float32{0, -1, 0.25, -1, 2, 0}
	assertClose(t, in.Pix, want, 1e-7)
	if got := in.CHW(); !reflect.DeepEqual(got, []float32{0, -1, -1, 2, 0.25, 0}) {
		t.Errorf("CHW = %v", got)
	}
	if in.At(0, 1, 1) != 2 {
		t.Errorf("At(0,1,1) = %v, want 2", in.At(0, 1, 1))
	}
	defer func() {
		if recover() == nil {
			t.Error("Normalize with 2 means on 3 channels did not panic")
		}
	}()
	in.Normalize([]float32{0, 0}, []float32{1, 1})
}

func TestInvalidArgumentsPanic(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 2, 2))
	tt := imageio.NewTensor(2, 2, 1)
	for name, f := range map[string]func(){
		"ToTensor 2 channels": func() { imageio.ToTensor(img, 2) },
		"Resize to 0":         func() { imageio.Resize(tt, 0, 3) },
		"Resize empty":        func() { imageio.Resize(imageio.NewTensor(0, 2, 1), 1, 1) },
		"ResizeShorter 0":     func() { imageio.ResizeShorter(tt, 0) },
		"CenterCrop negative": func() { imageio.CenterCrop(tt, -1, 1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestDecodeResizePipeline(t *testing.T) {
	// The usual evaluation pipeline on a sample image: decode, Resize(256)
	// on the shorter side, CenterCrop(224), ToTensor, Normalize.
	img, err := imageio.DecodeFile("../testdata/images/sunset.jpg", imageio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := imageio.CenterCrop(imageio.ResizeShorter(imageio.ToTensor(img, 3), 56), 48, 48)
	if x.H != 48 || x.W != 48 || x.C != 3 {
		t.Fatalf("shape %dx%dx%d", x.H, x.W, x.C)
	}
	for _, v := range x.Pix {
		if v < -1e-6 || v > 1+1e-6 {
			t.Fatalf("value %v outside [0,1]", v)
		}
	}
	x.Normalize([]float32{0.485, 0.456, 0.406}, []float32{0.229, 0.224, 0.225})
}
