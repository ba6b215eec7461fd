package infer

import (
	gocontext "context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/swav-go/swav/checkpoint"
)

// uniform returns a w×h RGBA image of one colour.
func uniform(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

// grayRamp returns a w×h *image.Gray ramp.
func grayRamp(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	return img
}

func TestCheckFit(t *testing.T) {
	small := checkpoint.Preprocess{InputSize: 28, ResizeSize: 28, Channels: 1}
	rgb224 := checkpoint.Preprocess{InputSize: 224, ResizeSize: 256, Channels: 3}
	// A gray image with a coloured patch over 1/64 of its area (< 5 %): still gray.
	logo := uniform(64, 64, color.RGBA{120, 120, 120, 255})
	for y := range 8 {
		for x := range 8 {
			logo.Set(x, y, color.RGBA{255, 0, 0, 255})
		}
	}
	// The same with a patch of a quarter of the area: colour.
	patch := uniform(64, 64, color.RGBA{120, 120, 120, 255})
	for y := range 32 {
		for x := range 32 {
			patch.Set(x, y, color.RGBA{0, 0, 255, 255})
		}
	}
	// Near-gray: channels 20/255 apart (< 1/8 of the range), like JPEG chroma noise.
	nearGray := uniform(28, 28, color.RGBA{100, 110, 120, 255})
	pal := image.NewPaletted(image.Rect(0, 0, 28, 28), color.Palette{color.RGBA{200, 30, 30, 255}, color.Gray{9}})
	grayPal := image.NewPaletted(image.Rect(0, 0, 28, 28), color.Palette{color.Gray{200}, color.Gray{9}})
	offset := uniform(28, 28, color.RGBA{10, 200, 10, 255}).SubImage(image.Rect(3, 3, 28, 28)) // bounds not at 0
	tests := []struct {
		name string
		pre  checkpoint.Preprocess
		img  image.Image
		want string // substring of the problem; "" means it fits
	}{
		{"28×28 gray", small, grayRamp(28, 28), ""},
		{"gray RGB 28×28", small, uniform(28, 28, color.RGBA{90, 90, 90, 255}), ""},
		{"near-gray RGB", small, nearGray, ""},
		{"gray with a small logo", small, logo, ""},
		{"gray palette", small, grayPal, ""},
		{"100×100 gray (3.6×)", small, grayRamp(100, 100), ""},
		{"colour 28×28", small, uniform(28, 28, color.RGBA{200, 40, 40, 255}), "a 28×28 colour image, for a model of 28×28 grayscale images"},
		{"colour palette", small, pal, "colour image"},
		{"quarter colour", small, patch, "a 64×64 colour image"},
		{"colour sub-image", small, offset, "a 25×25 colour image"},
		{"640×480 gray", small, grayRamp(640, 480), "a 640×480 image, for a model of 28×28 grayscale images: it is shrunk 17×"},
		{"6×40 gray", small, grayRamp(6, 40), "a 6×40 image, for a model of 28×28 grayscale images: it is enlarged 5×"},
		{"colour wins over size", small, uniform(640, 480, color.RGBA{0, 200, 0, 255}), "a 640×480 colour image"},
		{"photo for a 224 model", rgb224, uniform(4000, 3000, color.RGBA{0, 200, 0, 255}), ""},
		{"gray photo for a 224 model", rgb224, grayRamp(300, 300), ""},
		{"thumbnail for a 224 model", rgb224, uniform(40, 50, color.RGBA{0, 200, 0, 255}), "a 40×50 image, for a model of 224×224 colour images: it is enlarged 6×"},
		{"empty", small, image.NewRGBA(image.Rect(0, 0, 0, 0)), ""},
	}
	for _, tt := range tests {
		got := CheckFit(tt.pre, tt.img)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: CheckFit = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// recorder collects the warnings of a Model.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) warn(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msg)
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// writeGrayPNGs writes n 28×28 grayscale PNGs to a temporary folder.
func writeGrayPNGs(t *testing.T, n int) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i := range n {
		p := filepath.Join(dir, "g"+string(rune('a'+i))+".png")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		img := grayRamp(28, 28)
		img.Pix[0] = uint8(i)
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// TestWarnOnce: colour photos given to the grayscale model warn exactly once per Model
// (across calls, methods and goroutines), naming the file and what to use instead;
// 28×28 grayscale images never warn.
func TestWarnOnce(t *testing.T) {
	ctx := gocontext.Background()
	var rec recorder
	m := loadTiny(t, Options{Warn: rec.warn, Workers: 4, BatchSize: 2})
	photos := []string{sampleJPEG, "../testdata/images/balloon.png", "../testdata/images/city.bmp", "../testdata/images/leaf.gif"}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m.EmbedFiles(ctx, photos); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := m.Embed(ctx, []image.Image{uniform(28, 28, color.RGBA{200, 0, 0, 255})}); err != nil {
		t.Fatal(err)
	}
	msgs := rec.all()
	if len(msgs) != 1 {
		t.Fatalf("%d warnings, want exactly 1: %q", len(msgs), msgs)
	}
	msg := msgs[0]
	named := false
	for _, p := range photos {
		named = named || strings.HasPrefix(msg, p+" is a ")
	}
	for _, want := range []string{"colour image, for a model of 28×28 grayscale images", tinyPath,
		"https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar",
		"swav-embed convert swav_800ep_pretrain.pth.tar --out swav-rn50.swav", "swav-embed pretrain"} {
		if !strings.Contains(msg, want) {
			t.Errorf("warning %q lacks %q", msg, want)
		}
	}
	if !named {
		t.Errorf("warning %q does not start with one of the files %v", msg, photos)
	}

	// Another Model warns again, once; grayscale 28×28 inputs never warn.
	var gray recorder
	g := loadTiny(t, Options{Warn: gray.warn})
	if _, err := g.EmbedFiles(ctx, writeGrayPNGs(t, 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Embed(ctx, []image.Image{grayRamp(28, 28), uniform(28, 28, color.RGBA{70, 70, 70, 255})}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.PrepareInput(grayRamp(28, 28)); err != nil {
		t.Fatal(err)
	}
	if got := gray.all(); len(got) != 0 {
		t.Errorf("28×28 grayscale inputs warned: %q", got)
	}
	if _, err := g.PrepareInput(grayRamp(400, 300)); err != nil {
		t.Fatal(err)
	}
	if got := gray.all(); len(got) != 1 || !strings.Contains(got[0], "an input image is a 400×300 image") || !strings.Contains(got[0], "shrunk") {
		t.Errorf("a 400×300 image for the 28-px model: warnings %q", got)
	}
}

// TestWarnSmallImage: an image much smaller than the input gets the advice to train at
// its size, not the ResNet-50 one.
func TestWarnSmallImage(t *testing.T) {
	var rec recorder
	m := loadTiny(t, Options{Warn: rec.warn})
	if _, err := m.Embed(gocontext.Background(), []image.Image{grayRamp(5, 5)}); err != nil {
		t.Fatal(err)
	}
	got := rec.all()
	if len(got) != 1 || !strings.HasPrefix(got[0], "image 0 is a 5×5 image") || !strings.Contains(got[0], "trained on images of about this size") ||
		strings.Contains(got[0], "ResNet-50") {
		t.Errorf("warnings %q", got)
	}
}

// TestWarnNamesFirstMisfit: with many decoding workers, the warning names the first
// file in input order that does not fit, whatever file finished decoding first.
func TestWarnNamesFirstMisfit(t *testing.T) {
	paths := append(writeGrayPNGs(t, 3), "../testdata/images/city.bmp", sampleJPEG, "../testdata/images/balloon.png")
	for range 5 {
		var rec recorder
		m := loadTiny(t, Options{Warn: rec.warn, Workers: 6, BatchSize: 2})
		if _, err := m.EmbedFiles(gocontext.Background(), paths); err != nil {
			t.Fatal(err)
		}
		if got := rec.all(); len(got) != 1 || !strings.HasPrefix(got[0], "../testdata/images/city.bmp is a ") {
			t.Fatalf("warnings %q, want one naming city.bmp", got)
		}
	}
}
