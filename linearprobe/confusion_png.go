package linearprobe

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Layout constants of the confusion-matrix heatmap.
const (
	glyphWidth    = 7  // basicfont.Face7x13 advance
	glyphHeight   = 13 // basicfont.Face7x13 line height
	glyphAscent   = 11
	maxLabelRunes = 24  // class names are truncated to this many characters
	maxImageCells = 800 // the matrix area is at most this many pixels wide
	labelPadding  = 6
)

// WriteConfusionPNG draws the confusion matrix as a heatmap and writes it to
// path as a PNG. Rows are true classes and columns predicted classes; each
// cell is shaded by the fraction of its row (white = 0, dark blue = 1) and,
// when cells are large enough, shows its count. Class names label the rows
// (left) and columns (top, rotated) whenever a cell is at least as tall as
// the 7×13 font; for very many classes the labels are left out.
func (r *Report) WriteConfusionPNG(path string) error {
	img, err := r.confusionImage()
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("linearprobe: creating confusion PNG: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		_ = f.Close()
		return fmt.Errorf("linearprobe: encoding confusion PNG %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("linearprobe: writing confusion PNG %s: %w", path, err)
	}
	return nil
}

// confusionImage renders the heatmap.
func (r *Report) confusionImage() (*image.RGBA, error) {
	c := len(r.Classes)
	if c == 0 || len(r.Confusion) != c {
		return nil, fmt.Errorf("linearprobe: report has %d classes and %d confusion rows", c, len(r.Confusion))
	}
	for i, row := range r.Confusion {
		if len(row) != c {
			return nil, fmt.Errorf("linearprobe: confusion row %d has %d entries, want %d", i, len(row), c)
		}
	}
	cell := max(1, min(48, maxImageCells/c))
	labels := cell >= glyphHeight
	names := make([]string, c)
	labelWidth := 0
	if labels {
		for i, name := range r.Classes {
			runes := []rune(name)
			if len(runes) > maxLabelRunes {
				runes = append(runes[:maxLabelRunes-1], '~')
			}
			names[i] = string(runes)
			labelWidth = max(labelWidth, len(runes)*glyphWidth)
		}
		labelWidth += 2 * labelPadding
	}
	title := fmt.Sprintf("%s  top-1 %.2f%%  n=%d  (rows: true, columns: predicted)", r.Method, 100*r.Top1, r.N)
	titleHeight := glyphHeight + 2*labelPadding
	left, top := labelWidth, titleHeight+labelWidth
	width := max(left+c*cell+labelPadding, len(title)*glyphWidth+2*labelPadding)
	height := top + c*cell + labelPadding
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	drawText(img, labelPadding, labelPadding, title, color.Black)

	for t, row := range r.Confusion {
		total := 0
		for _, v := range row {
			total += v
		}
		for p, v := range row {
			frac := 0.0
			if total > 0 {
				frac = float64(v) / float64(total)
			}
			rect := image.Rect(left+p*cell, top+t*cell, left+(p+1)*cell, top+(t+1)*cell)
			draw.Draw(img, rect, image.NewUniform(heatColor(frac)), image.Point{}, draw.Src)
			text := strconv.Itoa(v)
			if labels && v > 0 && len(text)*glyphWidth+2 <= cell {
				ink := color.Color(color.Black)
				if frac > 0.5 {
					ink = color.White
				}
				drawText(img, rect.Min.X+(cell-len(text)*glyphWidth)/2, rect.Min.Y+(cell-glyphHeight)/2, text, ink)
			}
		}
	}
	if labels {
		for i, name := range names {
			y := top + i*cell + (cell-glyphHeight)/2
			drawText(img, labelPadding, y, name, color.Black)
			x := left + i*cell + (cell-glyphHeight)/2
			drawTextUp(img, x, top-labelPadding, name, color.Black)
		}
	}
	return img, nil
}

// heatColor maps a fraction in [0, 1] to a white→dark-blue ramp.
func heatColor(frac float64) color.RGBA {
	lerp := func(from, to float64) uint8 { return uint8(from + (to-from)*frac + 0.5) }
	return color.RGBA{R: lerp(255, 8), G: lerp(255, 48), B: lerp(255, 107), A: 255}
}

// drawText draws s with its top-left corner at (x, y).
func drawText(dst draw.Image, x, y int, s string, ink color.Color) {
	d := font.Drawer{
		Dst:  dst,
		Src:  image.NewUniform(ink),
		Face: basicfont.Face7x13,
		Dot:  fixed.P(x, y+glyphAscent),
	}
	d.DrawString(s)
}

// drawTextUp draws s rotated 90° counter-clockwise (reading bottom to top)
// with the start of the text at the bottom-left corner (x, bottom).
func drawTextUp(dst *image.RGBA, x, bottom int, s string, ink color.Color) {
	w := len([]rune(s)) * glyphWidth
	if w == 0 {
		return
	}
	tmp := image.NewAlpha(image.Rect(0, 0, w, glyphHeight))
	d := font.Drawer{Dst: tmp, Src: image.Opaque, Face: basicfont.Face7x13, Dot: fixed.P(0, glyphAscent)}
	d.DrawString(s)
	cr, cg, cb, _ := ink.RGBA()
	for ty := range glyphHeight {
		for tx := range w {
			if tmp.AlphaAt(tx, ty).A == 0 {
				continue
			}
			// Rotating by 90° counter-clockwise maps (tx, ty) to (ty, w-1-tx).
			dst.SetRGBA(x+ty, bottom-w+(w-1-tx)+1, color.RGBA{R: uint8(cr >> 8), G: uint8(cg >> 8), B: uint8(cb >> 8), A: 255})
		}
	}
}
