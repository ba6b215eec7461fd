package embmap

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPCAHandComputed(t *testing.T) {
	// Four points t·(3,4)/5 + s·(−4,3)/5 for (t, s) = (±5, 0), (0, ±1), shifted by (10, 20).
	x := [][]float32{{13, 24}, {7, 16}, {9.2, 20.6}, {10.8, 19.4}}
	p, err := PCA(x, 2)
	if err != nil {
		t.Fatal(err)
	}
	const tol = 1e-5
	close := func(got []float64, want ...float64) bool {
		for i := range want {
			if math.Abs(got[i]-want[i]) > tol {
				return false
			}
		}
		return len(got) == len(want)
	}
	if !close(p.Mean, 10, 20) {
		t.Errorf("mean %v, want [10 20]", p.Mean)
	}
	// Axis 1 is (0.6, 0.8). Axis 2 is ±(0.8, −0.6); its largest entry is made positive.
	if !close(p.Components[0], 0.6, 0.8) || !close(p.Components[1], 0.8, -0.6) {
		t.Errorf("components %v, want [[0.6 0.8] [0.8 -0.6]]", p.Components)
	}
	want := [][]float64{{5, 0}, {-5, 0}, {0, -1}, {0, 1}}
	for i, w := range want {
		if !close(p.Points[i], w...) {
			t.Errorf("point %d = %v, want %v", i, p.Points[i], w)
		}
	}
	// Variances with n − 1 = 3: 50/3 and 2/3; total 52/3.
	if !close(p.Variance, 50.0/3, 2.0/3) || math.Abs(p.TotalVariance-52.0/3) > tol {
		t.Errorf("variance %v of %v, want [16.667 0.667] of 17.333", p.Variance, p.TotalVariance)
	}
	one, err := PCA(x, 1)
	if err != nil || len(one.Points[0]) != 1 || math.Abs(one.Points[0][0]-5) > tol {
		t.Errorf("PCA to 1 dimension: %v, %v", one, err)
	}
}

func TestPCAErrors(t *testing.T) {
	for _, c := range []struct {
		x    [][]float32
		dims int
		want string
	}{
		{[][]float32{{1, 2}}, 1, "at least 2"},
		{[][]float32{{1, 2}, {3, 4}}, 3, "need 1 ≤ dims ≤ 2"},
		{[][]float32{{1, 2}, {3}}, 1, "vector 1 has 1 values"},
		{[][]float32{{1, 2}, {3, float32(math.Inf(1))}}, 1, "+Inf"},
	} {
		if _, err := PCA(c.x, c.dims); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("PCA(%v, %d): %v, want an error containing %q", c.x, c.dims, err, c.want)
		}
	}
}

// countColour counts the pixels of img exactly equal to c.
func countColour(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, a := img.At(x, y).RGBA()
			if uint8(r>>8) == c.R && uint8(g>>8) == c.G && uint8(bb>>8) == c.B && uint8(a>>8) == c.A {
				n++
			}
		}
	}
	return n
}

func TestRenderColoursAndLegend(t *testing.T) {
	pal := Palette(3)
	var pts [][2]float64
	var groups []int
	for i := range 20 {
		pts = append(pts, [2]float64{float64(i % 5), float64(i / 5)}, [2]float64{10 + float64(i%5), 10 + float64(i/5)})
		groups = append(groups, 0, 1)
	}
	pts = append(pts, [2]float64{5, 5})
	groups = append(groups, -1)
	// Group 2 ("empty") has no point: its colour can only come from the legend.
	img, err := Render(pts, PlotOptions{Groups: groups, Names: []string{"a", "b", "empty"}, Width: 400, Height: 300, PointRadius: 3, Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Size() != image.Pt(400, 300) {
		t.Fatalf("size %v, want 400×300", img.Bounds().Size())
	}
	for k, c := range pal {
		if n := countColour(img, c); n == 0 {
			t.Errorf("colour of group %d drawn on no pixel", k)
		}
	}
	// The same map without the unlabelled point (inside the others' range, so the axes
	// do not move) has fewer grey pixels (grey also appears in anti-aliased text).
	without, err := Render(pts[:len(pts)-1], PlotOptions{Groups: groups[:len(pts)-1], Names: []string{"a", "b", "empty"}, Width: 400, Height: 300, PointRadius: 3, Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := countColour(img, Unlabelled), countColour(without, Unlabelled); a <= b {
		t.Errorf("the unlabelled point is not drawn grey: %d grey pixels with it, %d without", a, b)
	}
	// Without groups every point takes the first colour and there is no legend.
	img, err = Render(pts, PlotOptions{Width: 400, Height: 300, PointRadius: 3})
	if err != nil {
		t.Fatal(err)
	}
	if countColour(img, pal[0]) == 0 || countColour(img, pal[1]) != 0 || countColour(img, pal[2]) != 0 {
		t.Error("an ungrouped map is not drawn in the first colour only")
	}
}

func TestRenderErrors(t *testing.T) {
	pts := [][2]float64{{0, 0}, {1, 1}}
	for _, c := range []struct {
		pts  [][2]float64
		o    PlotOptions
		want string
	}{
		{nil, PlotOptions{}, "no points"},
		{pts, PlotOptions{Groups: []int{0}}, "1 groups for 2 points"},
		{pts, PlotOptions{Groups: []int{0, 1}, Names: []string{"a"}}, "group 1"},
		{[][2]float64{{math.NaN(), 0}}, PlotOptions{}, "NaN"},
		{pts, PlotOptions{Width: 100000, Height: 100000}, "too large"},
	} {
		if _, err := Render(c.pts, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Render(%v, %+v): %v, want an error containing %q", c.pts, c.o, err, c.want)
		}
	}
}

func TestPalette(t *testing.T) {
	p := Palette(40)
	seen := map[color.RGBA]bool{}
	for _, c := range p {
		if seen[c] {
			t.Errorf("colour %v repeats", c)
		}
		seen[c] = true
	}
	if p[0] != (color.RGBA{0x1f, 0x77, 0xb4, 0xff}) {
		t.Errorf("first colour %v, want tab10 blue", p[0])
	}
}

func TestWritePNG(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "map.png")
	if err := WritePNG(path, [][2]float64{{0, 0}, {1, 2}}, PlotOptions{Width: 300, Height: 200}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width != 300 || cfg.Height != 200 {
		t.Errorf("PNG config %+v, %v; want 300×200", cfg, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files left, want 1", len(entries))
	}
	bad := filepath.Join(dir, "no", "map.png")
	if err := WritePNG(bad, [][2]float64{{0, 0}}, PlotOptions{}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("missing directory: %v", err)
	}
}
