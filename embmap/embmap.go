// Package embmap draws 2-D maps of embeddings: a principal-component projection of the
// vectors (PCA) and a scatter plot PNG coloured by group (a class label or a cluster) with
// a legend.
//
// PCA is what it uses because no maintained pure-Go t-SNE or UMAP library exists (the one
// t-SNE package, github.com/danaugrs/go-tsne, is an exact O(n²) implementation last
// changed in 2020); PCA is exact, deterministic (signs fixed as documented) and fast on
// 10⁴–10⁵ vectors. It keeps global structure (distances between class centres) and
// separates less than a neighbour embedding would.
//
// The package uses gonum's linear algebra and plotting; it is kept out of the swav facade
// and of package infer so that embedding stays lightweight.
package embmap

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Projection is the result of PCA.
type Projection struct {
	// Points holds each row's coordinates along the components (n × dims).
	Points [][]float64
	// Components holds the principal axes (dims × d), unit vectors, most variance first.
	// Each is signed so that its entry of largest magnitude is positive (the first such
	// entry on a tie).
	Components [][]float64
	// Mean is the mean row that was subtracted (d values).
	Mean []float64
	// Variance is the variance of the points along each component (divided by n − 1).
	Variance []float64
	// TotalVariance is the sum of the variances of all d coordinates, so
	// Variance[k] / TotalVariance is the fraction component k explains.
	TotalVariance float64
}

// PCA centres the n rows of x (all of dimension d) and projects them onto their dims
// principal components, computed by a thin singular value decomposition of the centred
// n × d matrix. It needs n ≥ 2 rows, finite values and 1 ≤ dims ≤ min(n, d).
func PCA(x [][]float32, dims int) (*Projection, error) {
	n := len(x)
	if n < 2 {
		return nil, fmt.Errorf("embmap: PCA needs at least 2 vectors, got %d", n)
	}
	d := len(x[0])
	if dims < 1 || dims > min(n, d) {
		return nil, fmt.Errorf("embmap: PCA to %d dimensions of %d vectors of dimension %d: need 1 ≤ dims ≤ %d", dims, n, d, min(n, d))
	}
	mean := make([]float64, d)
	for i, row := range x {
		if len(row) != d {
			return nil, fmt.Errorf("embmap: vector %d has %d values, vector 0 has %d", i, len(row), d)
		}
		for j, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("embmap: vector %d value %d is %v", i, j, v)
			}
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	a := mat.NewDense(n, d, nil)
	var total float64
	for i, row := range x {
		for j, v := range row {
			c := float64(v) - mean[j]
			a.Set(i, j, c)
			total += c * c
		}
	}
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThin) {
		return nil, errors.New("embmap: the singular value decomposition did not converge")
	}
	var v mat.Dense
	svd.VTo(&v)
	sv := svd.Values(nil)
	p := &Projection{Mean: mean, TotalVariance: total / float64(n-1)}
	for k := range dims {
		comp := make([]float64, d)
		big := 0
		for j := range comp {
			comp[j] = v.At(j, k)
			if math.Abs(comp[j]) > math.Abs(comp[big]) {
				big = j
			}
		}
		if comp[big] < 0 {
			for j := range comp {
				comp[j] = -comp[j]
			}
		}
		p.Components = append(p.Components, comp)
		p.Variance = append(p.Variance, sv[k]*sv[k]/float64(n-1))
	}
	p.Points = make([][]float64, n)
	for i := range n {
		pt := make([]float64, dims)
		for k, comp := range p.Components {
			for j, c := range comp {
				pt[k] += a.At(i, j) * c
			}
		}
		p.Points[i] = pt
	}
	return p, nil
}

// Palette returns n distinct colours: matplotlib's ten "tab10" colours first, then hues
// spaced by the golden angle.
func Palette(n int) []color.RGBA {
	tab10 := []color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
		{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
		{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
	}
	out := make([]color.RGBA, n)
	for i := range out {
		if i < len(tab10) {
			out[i] = tab10[i]
			continue
		}
		out[i] = hsv(math.Mod(float64(i)*137.508, 360), 0.65, 0.85)
	}
	return out
}

// hsv converts a hue in degrees, saturation and value in [0, 1] to RGB.
func hsv(h, s, v float64) color.RGBA {
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := v - c
	var r, g, b float64
	switch {
	case h < 60:
		r, g = c, x
	case h < 120:
		r, g = x, c
	case h < 180:
		g, b = c, x
	case h < 240:
		g, b = x, c
	case h < 300:
		r, b = x, c
	default:
		r, b = c, x
	}
	u := func(f float64) uint8 { return uint8(math.Round((f + m) * 255)) }
	return color.RGBA{u(r), u(g), u(b), 255}
}

// Unlabelled is the colour of points whose group is negative (no label).
var Unlabelled = color.RGBA{0xb0, 0xb0, 0xb0, 0xff}

// MaxLegend is the largest number of legend entries drawn; further groups are summarised
// in one "… N more" line.
const MaxLegend = 30

// PlotOptions configure Render.
type PlotOptions struct {
	// Title is drawn above the map.
	Title string
	// XLabel and YLabel name the axes (e.g. "PC 1 (23 %)").
	XLabel, YLabel string
	// Groups gives every point's group, an index into Names (negative: unlabelled, drawn
	// grey); nil draws every point in the first colour without a legend.
	Groups []int
	// Names names the groups in the legend.
	Names []string
	// Width and Height are the PNG's size in pixels (default 900 × 720).
	Width, Height int
	// PointRadius is the radius of a point in pixels (default 1.5).
	PointRadius float64
	// Seed orders the drawing of the points (a seeded shuffle, so that no group is
	// always painted over the others).
	Seed uint64
}

// maxPixels bounds a map's size (32 Mi pixels).
const maxPixels = 1 << 25

// dpi is the resolution Render draws at: one vg point is 96/72 pixels.
const dpi = 96

// Render draws the 2-D points as a scatter plot coloured by group, with the legend in a
// column to the right of the plot.
func Render(points [][2]float64, o PlotOptions) (image.Image, error) {
	if len(points) == 0 {
		return nil, errors.New("embmap: no points to draw")
	}
	if o.Groups != nil && len(o.Groups) != len(points) {
		return nil, fmt.Errorf("embmap: %d groups for %d points", len(o.Groups), len(points))
	}
	for i, g := range o.Groups {
		if g >= len(o.Names) {
			return nil, fmt.Errorf("embmap: point %d is in group %d but only %d group names are given", i, g, len(o.Names))
		}
	}
	for i, p := range points {
		if math.IsNaN(p[0]) || math.IsNaN(p[1]) || math.IsInf(p[0], 0) || math.IsInf(p[1], 0) {
			return nil, fmt.Errorf("embmap: point %d is (%v, %v)", i, p[0], p[1])
		}
	}
	if o.Width == 0 {
		o.Width = 900
	}
	if o.Height == 0 {
		o.Height = 720
	}
	if o.Width < 200 || o.Height < 150 || o.Width*o.Height > maxPixels {
		return nil, fmt.Errorf("embmap: a %d×%d map is too small or too large (at least 200×150, at most %d pixels)", o.Width, o.Height, maxPixels)
	}
	if o.PointRadius <= 0 {
		o.PointRadius = 1.5
	}
	px := func(n float64) vg.Length { return vg.Length(n * 72 / dpi) }

	colours := Palette(max(len(o.Names), 1))
	order := rand.New(rand.NewPCG(o.Seed, 0x6d6170)).Perm(len(points))
	xys := make(plotter.XYs, len(points))
	for k, i := range order {
		xys[k] = plotter.XY{X: points[i][0], Y: points[i][1]}
	}
	sc, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, fmt.Errorf("embmap: %w", err)
	}
	style := func(c color.Color, r float64) draw.GlyphStyle {
		return draw.GlyphStyle{Color: c, Radius: px(r), Shape: draw.CircleGlyph{}}
	}
	sc.GlyphStyleFunc = func(k int) draw.GlyphStyle {
		c := colours[0]
		if o.Groups != nil {
			if g := o.Groups[order[k]]; g >= 0 {
				c = colours[g]
			} else {
				c = Unlabelled
			}
		}
		return style(c, o.PointRadius)
	}

	p := plot.New()
	p.Title.Text = o.Title
	p.X.Label.Text = o.XLabel
	p.Y.Label.Text = o.YLabel
	p.Add(plotter.NewGrid(), sc)

	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	legendW := 0.0
	if o.Groups != nil && len(o.Names) > 0 {
		for g, name := range o.Names {
			if g == MaxLegend {
				legend.Add(fmt.Sprintf("… %d more", len(o.Names)-MaxLegend))
				break
			}
			thumb, _ := plotter.NewScatter(plotter.XYs{})
			thumb.GlyphStyle = style(colours[g], 5)
			legend.Add(name, thumb)
			legendW = max(legendW, float64(legend.TextStyle.Width(name).Dots(dpi)))
		}
		legendW += float64(legend.ThumbnailWidth.Dots(dpi)) + 24
	}

	canvas := vgimg.NewWith(vgimg.UseWH(px(float64(o.Width)), px(float64(o.Height))), vgimg.UseDPI(dpi),
		vgimg.UseBackgroundColor(color.White))
	dc := draw.New(canvas)
	p.Draw(draw.Crop(dc, px(8), -px(legendW+8), px(6), -px(12)))
	if legendW > 0 {
		legend.Draw(draw.Crop(dc, dc.Max.X-px(legendW)+px(8), 0, 0, -px(30)))
	}
	return canvas.Image(), nil
}

// WritePNG renders the map and writes it to path as a PNG (through a temporary file
// renamed into place).
func WritePNG(path string, points [][2]float64, o PlotOptions) error {
	img, err := Render(points, o)
	if err != nil {
		return fmt.Errorf("embmap: %s: %w", path, err)
	}
	return savePNG(path, img)
}

// savePNG encodes img at path through a temporary file in the same directory.
func savePNG(path string, img image.Image) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("embmap: creating %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = png.Encode(tmp, img); err != nil {
		return fmt.Errorf("embmap: encoding %s: %w", path, err)
	}
	if err = tmp.Close(); err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("embmap: writing %s: %w", path, err)
	}
	return nil
}
