package imageio_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swav-go/swav/imageio"
)

// samples is the repository's sample-image folder, shared with the README.
const samples = "../testdata/images"

func TestDecodeSampleImages(t *testing.T) {
	tests := []struct {
		file       string
		w, h       int
		wantGray   bool
		wantFormat imageio.Format
	}{
		{"sunset.jpg", 96, 64, false, imageio.FormatJPEG},
		{"mountains.png", 96, 64, false, imageio.FormatPNG},
		{"leaf.gif", 64, 64, false, imageio.FormatGIF},
		{"balloon.png", 72, 72, false, imageio.FormatPNG},
		{"moon.png", 64, 64, true, imageio.FormatPNG}, // 16-bit grayscale
		{"city.bmp", 64, 64, false, imageio.FormatBMP},
		{"forest.tiff", 80, 64, false, imageio.FormatTIFF},
		{"beach.webp", 96, 64, false, imageio.FormatWebP},
		// Stored as 96×64 with EXIF orientation 6: displayed upright.
		{"lighthouse.jpg", 64, 96, false, imageio.FormatJPEG},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(samples, tc.file)
			img, err := imageio.DecodeFile(path, imageio.Options{})
			if err != nil {
				t.Fatalf("DecodeFile: %v", err)
			}
			if got := img.Bounds(); got != image.Rect(0, 0, tc.w, tc.h) {
				t.Errorf("bounds = %v, want %dx%d at the origin", got, tc.w, tc.h)
			}
			switch m := img.(type) {
			case *image.Gray:
				if !tc.wantGray {
					t.Errorf("got *image.Gray, want *image.RGBA")
				}
			case *image.RGBA:
				if tc.wantGray {
					t.Errorf("got *image.RGBA, want *image.Gray")
				}
				if !m.Opaque() {
					t.Errorf("decoded RGBA image is not opaque")
				}
			default:
				t.Errorf("got %T, want *image.Gray or *image.RGBA", img)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := imageio.Sniff(data); got != tc.wantFormat {
				t.Errorf("Sniff = %q, want %q", got, tc.wantFormat)
			}
		})
	}
}

func TestDecodeLighthouseIsUpright(t *testing.T) {
	// The generator draws sky at the top, a yellow lamp at 12–20% of the
	// height and sea at the bottom of the displayed (portrait) picture.
	img, err := imageio.DecodeFile(filepath.Join(samples, "lighthouse.jpg"), imageio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rgba := img.(*image.RGBA)
	sky, lamp, sea := rgba.RGBAAt(10, 4), rgba.RGBAAt(32, 15), rgba.RGBAAt(10, 92)
	if !(sky.B > 200 && sky.R < sky.B) {
		t.Errorf("top-left pixel %v is not sky blue", sky)
	}
	if !(lamp.R > 200 && lamp.G > 180 && lamp.B < 120) {
		t.Errorf("lamp pixel %v is not yellow", lamp)
	}
	if !(sea.B > sea.R && sea.R < 60 && sea.B < 180) {
		t.Errorf("bottom pixel %v is not dark sea blue", sea)
	}
}

func TestDecodeBadInputs(t *testing.T) {
	tests := []struct {
		file    string
		want    error
		details []string // substrings the message must contain besides the path
	}{
		{"bad/empty.png", imageio.ErrEmpty, []string{"0 bytes"}},
		{"bad/notimage.jpg", imageio.ErrUnknownFormat, []string{`"This is "`}},
		{"bad/truncated.png", imageio.ErrCorrupt, []string{"png"}},
		{"bad/truncated.jpg", imageio.ErrCorrupt, []string{"jpeg"}},
		{"bad/garbage.png", imageio.ErrCorrupt, []string{"png header"}},
		{"bad/huge.png", imageio.ErrTooLarge, []string{"100000x100000", "10000000000 pixels", "MaxPixels"}},
		{"bad/missing.png", fs.ErrNotExist, nil},
	}
	sentinels := []error{imageio.ErrEmpty, imageio.ErrUnknownFormat, imageio.ErrCorrupt, imageio.ErrTooLarge}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			img, err := imageio.DecodeFile(path, imageio.Options{})
			if err == nil {
				t.Fatalf("DecodeFile succeeded with a %T, want error", img)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %q does not wrap %v", err, tc.want)
			}
			for _, s := range sentinels {
				if s != tc.want && errors.Is(err, s) {
					t.Errorf("error %q also wraps %v", err, s)
				}
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "image "+path+":") {
				t.Errorf("error %q does not start with %q", msg, "image "+path+":")
			}
			if n := strings.Count(msg, path); n != 1 {
				t.Errorf("error %q names the path %d times, want once", msg, n)
			}
			for _, d := range tc.details {
				if !strings.Contains(msg, d) {
					t.Errorf("error %q does not mention %q", msg, d)
				}
			}
		})
	}
}

func TestMaxPixels(t *testing.T) {
	path := filepath.Join(samples, "sunset.jpg") // 96×64 = 6144 pixels
	tests := []struct {
		max     int
		wantErr bool
	}{
		{0, false}, // default
		{-1, false},
		{6144, false},
		{6143, true},
		{1, true},
	}
	for _, tc := range tests {
		_, err := imageio.DecodeFile(path, imageio.Options{MaxPixels: tc.max})
		if tc.wantErr != errors.Is(err, imageio.ErrTooLarge) || (!tc.wantErr && err != nil) {
			t.Errorf("MaxPixels %d: err = %v, want ErrTooLarge: %v", tc.max, err, tc.wantErr)
		}
	}
	if imageio.DefaultMaxPixels != 67108864 {
		t.Errorf("DefaultMaxPixels = %d, documented as 64 Mi pixels", imageio.DefaultMaxPixels)
	}
}

func TestDecodeReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := imageio.Decode(io.MultiReader(strings.NewReader("\x89PNG"), errReader{boom}), "stream.png", imageio.Options{})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "stream.png") {
		t.Errorf("err = %v, want wrapped reader error naming stream.png", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestBackground(t *testing.T) {
	// One row: opaque, half-transparent and fully transparent pixels.
	src := image.NewNRGBA(image.Rect(0, 0, 3, 1))
	src.SetNRGBA(0, 0, color.NRGBA{10, 20, 30, 255})
	src.SetNRGBA(1, 0, color.NRGBA{200, 100, 50, 128})
	src.SetNRGBA(2, 0, color.NRGBA{200, 100, 50, 0})
	data := encodePNG(t, src)
	// Expected: c·a/255 + bg·(255−a)/255, rounded; ±1 allowed for the
	// 16-bit arithmetic of image/draw.
	tests := []struct {
		name string
		bg   color.Color
		want [3][3]uint8
	}{
		{"default white", nil, [3][3]uint8{{10, 20, 30}, {227, 177, 152}, {255, 255, 255}}},
		{"black", color.Black, [3][3]uint8{{10, 20, 30}, {100, 50, 25}, {0, 0, 0}}},
		{"grey", color.Gray{128}, [3][3]uint8{{10, 20, 30}, {164, 114, 89}, {128, 128, 128}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := imageio.DecodeBytes(data, "alpha.png", imageio.Options{Background: tc.bg})
			if err != nil {
				t.Fatal(err)
			}
			m := img.(*image.RGBA)
			for x, want := range tc.want {
				got := m.RGBAAt(x, 0)
				if !near8(got.R, want[0], 1) || !near8(got.G, want[1], 1) || !near8(got.B, want[2], 1) || got.A != 255 {
					t.Errorf("pixel %d = %v, want %v opaque", x, got, want)
				}
			}
		})
	}
}

func TestDecodeBalloonBackground(t *testing.T) {
	path := filepath.Join(samples, "balloon.png") // transparent corners
	for _, tc := range []struct {
		bg   color.Color
		want color.RGBA
	}{
		{nil, color.RGBA{255, 255, 255, 255}},
		{color.Black, color.RGBA{0, 0, 0, 255}},
	} {
		img, err := imageio.DecodeFile(path, imageio.Options{Background: tc.bg})
		if err != nil {
			t.Fatal(err)
		}
		if got := img.(*image.RGBA).RGBAAt(0, 0); got != tc.want {
			t.Errorf("background %v: corner = %v, want %v", tc.bg, got, tc.want)
		}
	}
}

func TestDecodeGrayscaleAndDeepImages(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 4, 2))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 30)
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, gray, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	g16 := image.NewGray16(image.Rect(0, 0, 3, 1))
	for i, v := range []uint16{0, 0x8000, 0xffff} {
		g16.SetGray16(i, 0, color.Gray16{v})
	}
	rgb64 := image.NewNRGBA64(image.Rect(0, 0, 2, 1))
	rgb64.SetNRGBA64(0, 0, color.NRGBA64{0xffff, 0x8080, 0, 0xffff})
	rgb64.SetNRGBA64(1, 0, color.NRGBA64{0, 0, 0xffff, 0}) // transparent

	tests := []struct {
		name string
		data []byte
		want image.Image
	}{
		{"gray jpeg stays gray", jpg.Bytes(), gray},
		// round(v·255/65535): 0, 127.5→128, 255.
		{"gray16 png", encodePNG(t, g16), &image.Gray{Pix: []uint8{0, 128, 255}, Stride: 3, Rect: image.Rect(0, 0, 3, 1)}},
		{"16-bit rgba png", encodePNG(t, rgb64), &image.RGBA{Pix: []uint8{255, 128, 0, 255, 255, 255, 255, 255}, Stride: 8, Rect: image.Rect(0, 0, 2, 1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := imageio.DecodeBytes(tc.data, tc.name, imageio.Options{})
			if err != nil {
				t.Fatal(err)
			}
			switch want := tc.want.(type) {
			case *image.Gray:
				got, ok := img.(*image.Gray)
				if !ok {
					t.Fatalf("got %T, want *image.Gray", img)
				}
				if got.Rect != want.Rect {
					t.Fatalf("bounds %v, want %v", got.Rect, want.Rect)
				}
				for y := 0; y < want.Rect.Dy(); y++ {
					for x := 0; x < want.Rect.Dx(); x++ {
						if g, w := got.GrayAt(x, y).Y, want.GrayAt(x, y).Y; !near8(g, w, 1) {
							t.Errorf("(%d,%d) = %d, want %d", x, y, g, w)
						}
					}
				}
			case *image.RGBA:
				got, ok := img.(*image.RGBA)
				if !ok {
					t.Fatalf("got %T, want *image.RGBA", img)
				}
				if !bytesNear(got.Pix, want.Pix, 1) || got.Rect != want.Rect {
					t.Errorf("got %v %v, want %v %v", got.Rect, got.Pix, want.Rect, want.Pix)
				}
			}
		})
	}
}

func TestDecodeCMYKJPEG(t *testing.T) {
	// cmyk.jpg was written by ImageMagick from cmyk_src.png (red, green,
	// blue and white quadrants) converted to CMYK.
	data, err := os.ReadFile("testdata/cmyk.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	} else if _, ok := raw.(*image.CMYK); !ok {
		t.Fatalf("fixture decodes to %T, want *image.CMYK", raw)
	}
	img, err := imageio.DecodeBytes(data, "cmyk.jpg", imageio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkQuadrants(t, img, 32, 16)
}

func TestCMYKConversion(t *testing.T) {
	// RGB = 255·(1−C/255)·(1−K/255), computed by hand.
	m := image.NewCMYK(image.Rect(0, 0, 4, 1))
	m.Pix = []uint8{
		0, 0, 0, 0, // no ink: white
		0, 0, 0, 255, // full black
		255, 0, 0, 0, // cyan
		0, 128, 255, 51, // K = 20%: R 204, G = 204·127/255 ≈ 101.6, B 0
	}
	want := [][3]uint8{{255, 255, 255}, {0, 0, 0}, {0, 255, 255}, {204, 102, 0}}
	got := imageio.Flatten(m, nil)
	for x, w := range want {
		c := got.RGBAAt(x, 0)
		if !near8(c.R, w[0], 1) || !near8(c.G, w[1], 1) || !near8(c.B, w[2], 1) {
			t.Errorf("pixel %d = %v, want %v", x, c, w)
		}
	}
}

func TestDecodeLosslessWebPWithAlpha(t *testing.T) {
	src, err := os.ReadFile("testdata/lossless_src.png")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := png.Decode(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	nrgba := ref.(*image.NRGBA)
	img, err := imageio.DecodeFile("testdata/lossless.webp", imageio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := img.(*image.RGBA)
	if got.Rect != nrgba.Rect {
		t.Fatalf("bounds %v, want %v", got.Rect, nrgba.Rect)
	}
	for i := 0; i < len(nrgba.Pix); i += 4 {
		a := int(nrgba.Pix[i+3])
		for c := 0; c < 3; c++ {
			want := (int(nrgba.Pix[i+c])*a + 255*(255-a) + 127) / 255
			if !near8(got.Pix[i+c], uint8(want), 1) {
				t.Fatalf("byte %d = %d, want %d (source %v)", i+c, got.Pix[i+c], want, nrgba.Pix[i:i+4])
			}
		}
	}
}

func TestDecodeGIFPartialFrame(t *testing.T) {
	// A 4×3 logical screen whose only frame covers (1,1)-(3,2).
	frame := image.NewPaletted(image.Rect(1, 1, 3, 2), color.Palette{color.RGBA{255, 0, 0, 255}})
	var buf bytes.Buffer
	err := gif.EncodeAll(&buf, &gif.GIF{
		Image:  []*image.Paletted{frame},
		Delay:  []int{0},
		Config: image.Config{Width: 4, Height: 3, ColorModel: frame.Palette},
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := imageio.DecodeBytes(buf.Bytes(), "partial.gif", imageio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := img.(*image.RGBA)
	if m.Rect != image.Rect(0, 0, 4, 3) {
		t.Fatalf("bounds %v, want 4x3", m.Rect)
	}
	for y := 0; y < 3; y++ {
		for x := 0; x < 4; x++ {
			want := color.RGBA{255, 255, 255, 255}
			if y == 1 && (x == 1 || x == 2) {
				want = color.RGBA{255, 0, 0, 255}
			}
			if got := m.RGBAAt(x, y); got != want {
				t.Errorf("(%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
}

// FuzzDecodeBytes checks that no input makes Decode panic and that every
// failure wraps one of the package's sentinels.
func FuzzDecodeBytes(f *testing.F) {
	for _, dir := range []string{samples, "testdata", "testdata/bad", "testdata/exif"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || e.Name() == "huge.png" || strings.HasSuffix(e.Name(), ".json") ||
				strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), ".py") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := imageio.DecodeBytes(data, "fuzz", imageio.Options{MaxPixels: 1 << 16})
		if err != nil {
			for _, s := range []error{imageio.ErrEmpty, imageio.ErrUnknownFormat, imageio.ErrCorrupt, imageio.ErrTooLarge} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error %q wraps no sentinel", err)
		}
		switch img.(type) {
		case *image.Gray, *image.RGBA:
		default:
			t.Fatalf("Decode returned %T", img)
		}
	})
}

// ---- helpers ----

// checkQuadrants verifies the quadrant pattern of the EXIF and CMYK
// fixtures: red, green, blue and white quarters of a w×h image, sampled at
// each quarter's centre with a tolerance for JPEG loss.
func checkQuadrants(t *testing.T, img image.Image, w, h int) {
	t.Helper()
	if img.Bounds() != image.Rect(0, 0, w, h) {
		t.Fatalf("bounds %v, want %dx%d", img.Bounds(), w, h)
	}
	want := []struct {
		x, y    int
		r, g, b uint8
	}{
		{w / 4, h / 4, 255, 0, 0},
		{3 * w / 4, h / 4, 0, 255, 0},
		{w / 4, 3 * h / 4, 0, 0, 255},
		{3 * w / 4, 3 * h / 4, 255, 255, 255},
	}
	for _, p := range want {
		r, g, b, _ := img.At(p.x, p.y).RGBA()
		if !near8(uint8(r>>8), p.r, 24) || !near8(uint8(g>>8), p.g, 24) || !near8(uint8(b>>8), p.b, 24) {
			t.Errorf("pixel (%d,%d) = (%d,%d,%d), want about (%d,%d,%d)", p.x, p.y, r>>8, g>>8, b>>8, p.r, p.g, p.b)
		}
	}
}

func encodePNG(t *testing.T, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func near8(a, b uint8, tol int) bool {
	d := int(a) - int(b)
	return d <= tol && d >= -tol
}

func bytesNear(a, b []uint8, tol int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !near8(a[i], b[i], tol) {
			return false
		}
	}
	return true
}
