package contactsheet

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func solid(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

var (
	red   = color.RGBA{R: 255, A: 255}
	blue  = color.RGBA{B: 255, A: 255}
	green = color.RGBA{G: 200, A: 255}
	white = color.RGBA{R: 255, G: 255, B: 255, A: 255}
)

func near(a, b color.RGBA) bool {
	d := func(x, y uint8) bool { return x-y <= 1 || y-x <= 1 }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && d(a.A, b.A)
}

// sheet is the fixture: row 0 has a caption and three images (red square, wide blue, a
// 2×2 checker to enlarge), row 1 no caption, a nil image and a green one, with labels.
func sheet() []Row {
	checker := image.NewRGBA(image.Rect(0, 0, 2, 2))
	checker.SetRGBA(0, 0, red)
	checker.SetRGBA(1, 0, blue)
	checker.SetRGBA(0, 1, blue)
	checker.SetRGBA(1, 1, red)
	return []Row{
		{Caption: "cluster 0", Images: []image.Image{solid(10, 10, red), solid(20, 10, blue), checker}},
		{Images: []image.Image{nil, solid(5, 5, green)}, Labels: []string{"x", ""}},
	}
}

func TestLayoutHandComputed(t *testing.T) {
	l, err := NewLayout(sheet(), Options{Thumb: 10, Gap: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Columns = 3 (the longest row); each row is caption 19 + thumb 10 + labels 19 = 48.
	if got, want := l.Size(), image.Pt(2+3*(10+2), 2+2*(48+2)); got != want {
		t.Errorf("size %v, want %v", got, want)
	}
	for _, c := range []struct {
		got, want image.Rectangle
	}{
		{l.Cell(0, 0), image.Rect(2, 21, 12, 31)},
		{l.Cell(1, 2), image.Rect(26, 71, 36, 81)},
		{l.Caption(1), image.Rect(2, 52, 36, 71)},
		{l.Label(1, 0), image.Rect(2, 81, 12, 100)},
	} {
		if c.got != c.want {
			t.Errorf("rectangle %v, want %v", c.got, c.want)
		}
	}
	// Without captions and labels the bands vanish.
	l, err = NewLayout([]Row{{Images: []image.Image{nil}}}, Options{Thumb: 8, Gap: -1})
	if err != nil {
		t.Fatal(err)
	}
	if l.Size() != image.Pt(8, 8) || l.Cell(0, 0) != image.Rect(0, 0, 8, 8) {
		t.Errorf("bare sheet: size %v, cell %v", l.Size(), l.Cell(0, 0))
	}
}

func TestFit(t *testing.T) {
	cell := image.Rect(10, 20, 20, 30)
	for _, c := range []struct {
		src  image.Point
		want image.Rectangle
	}{
		{image.Pt(10, 10), cell},
		{image.Pt(20, 10), image.Rect(10, 22, 20, 27)}, // 10×5, centred: (10-5)/2 = 2 down
		{image.Pt(10, 40), image.Rect(13, 20, 16, 30)}, // (10·10 + 40/2)/40 = 3 wide, (10-3)/2 = 3 in
		{image.Pt(1000, 1), image.Rect(10, 24, 20, 25)},
		{image.Pt(0, 5), image.Rectangle{}},
	} {
		if got := Fit(c.src, cell); got != c.want {
			t.Errorf("Fit(%v) = %v, want %v", c.src, got, c.want)
		}
	}
}

func TestRenderPixels(t *testing.T) {
	img, err := Render(sheet(), Options{Thumb: 10, Gap: 2})
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != image.Rect(0, 0, 38, 102) {
		t.Fatalf("bounds %v", img.Bounds())
	}
	at := func(x, y int) color.RGBA { return img.RGBAAt(x, y) }
	checks := []struct {
		name string
		x, y int
		want color.RGBA
	}{
		{"red cell corner", 2, 21, red},
		{"red cell far corner", 11, 30, red},
		{"gap left of red cell", 1, 25, white},
		{"gap below red cell", 5, 31, white},
		{"wide blue, above its band", 19, 22, white},
		{"wide blue, inside its band", 19, 24, blue},
		{"wide blue, below its band", 19, 28, white},
		{"checker top-left quadrant", 27, 23, red},
		{"checker top-right quadrant", 33, 23, blue},
		{"checker bottom-left quadrant", 27, 29, blue},
		{"placeholder off both diagonals", 2 + 6, 71 + 1, placeholderFill},
		{"placeholder diagonal", 2 + 4, 71 + 4, placeholderCross},
		{"enlarged green", 14 + 5, 71 + 5, green},
	}
	for _, c := range checks {
		if got := at(c.x, c.y); !near(got, c.want) {
			t.Errorf("%s: pixel (%d,%d) = %v, want %v", c.name, c.x, c.y, got, c.want)
		}
	}
	inked := func(r image.Rectangle) int {
		n := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if at(x, y) != white {
					n++
				}
			}
		}
		return n
	}
	l, _ := NewLayout(sheet(), Options{Thumb: 10, Gap: 2})
	if inked(l.Caption(0)) == 0 {
		t.Error("row 0's caption drew nothing")
	}
	if n := inked(l.Caption(1)); n != 0 {
		t.Errorf("row 1 has no caption but its band has %d inked pixels", n)
	}
	if inked(l.Label(1, 0)) == 0 {
		t.Error("label under row 1, column 0 drew nothing")
	}
	for _, c := range [][2]int{{0, 0}, {0, 1}, {1, 1}} {
		if n := inked(l.Label(c[0], c[1])); n != 0 {
			t.Errorf("cell %v has no label but its band has %d inked pixels", c, n)
		}
	}
}

func TestColumnsCutLongRows(t *testing.T) {
	rows := []Row{{Images: []image.Image{solid(4, 4, red), solid(4, 4, red), solid(4, 4, blue)}}}
	img, err := Render(rows, Options{Thumb: 4, Columns: 2, Gap: 1})
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != 1+2*5 {
		t.Fatalf("width %d, want 11 for two columns", img.Bounds().Dx())
	}
	for x := range img.Bounds().Dx() {
		for y := range img.Bounds().Dy() {
			if img.RGBAAt(x, y) == blue {
				t.Fatalf("the third image was drawn at (%d,%d)", x, y)
			}
		}
	}
}

func TestFitText(t *testing.T) {
	for _, c := range []struct {
		s     string
		width int
		want  string
	}{
		{"abc", 21, "abc"},
		{"abcdef", 35, "ab..."},
		{"abcdef", 14, "ab"},
		{"é✓x", 21, "é✓x"},
	} {
		if got := fitText(c.s, c.width); got != c.want {
			t.Errorf("fitText(%q, %d) = %q, want %q", c.s, c.width, got, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		rows []Row
		o    Options
		want string
	}{
		{nil, Options{}, "no rows"},
		{[]Row{{}}, Options{Thumb: MaxThumb + 1}, "thumbnail size"},
		{[]Row{{}}, Options{Columns: -2}, "columns"},
		{make([]Row, 100000), Options{Thumb: 1000, Columns: 10}, "exceeds the limit"},
	} {
		if _, err := Render(c.rows, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Render(%d rows, %+v): %v, want an error containing %q", len(c.rows), c.o, err, c.want)
		}
	}
}

func TestWritePNG(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sheet.png")
	if err := WritePNG(path, sheet(), Options{Thumb: 10, Gap: 2}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != image.Rect(0, 0, 38, 102) {
		t.Errorf("decoded bounds %v", img.Bounds())
	}
	if r, g, b, _ := img.At(5, 25).RGBA(); r>>8 != 255 || g != 0 || b != 0 {
		t.Errorf("decoded pixel (5,25) = %d,%d,%d, want red", r>>8, g>>8, b>>8)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the directory, want only sheet.png (no temporary left)", len(entries))
	}
	bad := filepath.Join(dir, "missing", "sheet.png")
	if err := WritePNG(bad, sheet(), Options{}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("writing into a missing directory: %v, want an error naming %s", err, bad)
	}
	if err := WritePNG(path, nil, Options{}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("no rows: %v, want an error naming the path", err)
	}
}
