// Package contactsheet draws a PNG contact sheet: rows of small thumbnails, each row with
// an optional caption above it and an optional short label under each thumbnail. The
// cluster and dedup commands use it to show what a group of images looks like.
//
// Every image is scaled to fit a Thumb×Thumb cell with its aspect ratio kept and centred
// in it (nearest-neighbour when enlarged, so small images such as 28×28 Fashion-MNIST stay
// crisp; Catmull-Rom when reduced), composited over the background. A nil image (a file
// that could not be read) is drawn as a grey cell with a cross.
package contactsheet

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Text metrics of basicfont.Face7x13, the font captions and labels are drawn with.
const (
	glyphWidth  = 7
	glyphHeight = 13
	glyphAscent = 11
	// textPad is the space above and below a line of text.
	textPad = 3
)

// Limits that keep a sheet's memory bounded.
const (
	// MaxThumb is the largest thumbnail side accepted.
	MaxThumb = 1024
	// MaxPixels is the largest sheet (width × height) Render draws, 32 Mi pixels
	// (128 MiB as RGBA).
	MaxPixels = 1 << 25
)

// Row is one row of a sheet.
type Row struct {
	// Caption is drawn above the row (cut to the sheet's width); empty for none.
	Caption string
	// Images are the row's thumbnails, left to right; a nil entry is drawn as a
	// placeholder. Images beyond Options.Columns are left out.
	Images []image.Image
	// Labels optionally holds a short text per image (e.g. a similarity), drawn under
	// its thumbnail and cut to the thumbnail's width; it may be shorter than Images.
	Labels []string
}

// Options configure a sheet. The zero value gives 64-pixel thumbnails, 4-pixel gaps, as
// many columns as the longest row and a white background.
type Options struct {
	// Thumb is the side of a thumbnail cell in pixels (default 64, at most MaxThumb).
	Thumb int
	// Columns is the number of thumbnails per row (default: the longest row's).
	Columns int
	// Gap is the space between cells and around the sheet in pixels (default 4; a
	// negative value means none).
	Gap int
	// Background fills the sheet (default white).
	Background color.Color
	// Ink draws the text (default black).
	Ink color.Color
}

// Layout is the geometry of a sheet: where each caption, thumbnail and label goes.
type Layout struct {
	thumb, columns, gap int
	captionH, labelH    int
	rows                int
	size                image.Point
}

// NewLayout computes the geometry of a sheet of rows under o (defaults applied). The sheet
// is gap + columns·(thumb+gap) wide; each row is a caption band (when any row has a
// caption: 13 + 2·3 pixels), the thumbnails, and a label band (when any row has labels:
// 13 + 2·3 pixels), and rows are separated and surrounded by gap.
func NewLayout(rows []Row, o Options) (Layout, error) {
	o, err := o.withDefaults(rows)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{thumb: o.Thumb, columns: o.Columns, gap: o.Gap, rows: len(rows)}
	for _, r := range rows {
		if r.Caption != "" {
			l.captionH = glyphHeight + 2*textPad
		}
		for _, s := range r.Labels {
			if s != "" {
				l.labelH = glyphHeight + 2*textPad
			}
		}
	}
	w := int64(l.gap) + int64(l.columns)*int64(l.thumb+l.gap)
	h := int64(l.gap) + int64(len(rows))*int64(l.rowHeight()+l.gap)
	if w*h > MaxPixels {
		return Layout{}, fmt.Errorf("contactsheet: a %d×%d sheet exceeds the limit of %d pixels: use fewer rows, columns or a smaller thumbnail", w, h, MaxPixels)
	}
	l.size = image.Pt(int(w), int(h))
	return l, nil
}

func (o Options) withDefaults(rows []Row) (Options, error) {
	if len(rows) == 0 {
		return o, errors.New("contactsheet: no rows to draw")
	}
	if o.Thumb == 0 {
		o.Thumb = 64
	}
	if o.Thumb < 1 || o.Thumb > MaxThumb {
		return o, fmt.Errorf("contactsheet: thumbnail size %d is outside [1, %d]", o.Thumb, MaxThumb)
	}
	if o.Columns < 0 {
		return o, fmt.Errorf("contactsheet: %d columns", o.Columns)
	}
	if o.Columns == 0 {
		for _, r := range rows {
			o.Columns = max(o.Columns, len(r.Images))
		}
		o.Columns = max(o.Columns, 1)
	}
	if o.Gap == 0 {
		o.Gap = 4
	}
	o.Gap = max(o.Gap, 0)
	if o.Background == nil {
		o.Background = color.White
	}
	if o.Ink == nil {
		o.Ink = color.Black
	}
	return o, nil
}

func (l Layout) rowHeight() int { return l.captionH + l.thumb + l.labelH }

// Size is the sheet's width and height in pixels.
func (l Layout) Size() image.Point { return l.size }

// Cell is the Thumb×Thumb square of row r, column c (a thumbnail is centred in it).
func (l Layout) Cell(r, c int) image.Rectangle {
	x := l.gap + c*(l.thumb+l.gap)
	y := l.gap + r*(l.rowHeight()+l.gap) + l.captionH
	return image.Rect(x, y, x+l.thumb, y+l.thumb)
}

// Caption is the band above row r where its caption is drawn (empty when no row has one).
func (l Layout) Caption(r int) image.Rectangle {
	y := l.gap + r*(l.rowHeight()+l.gap)
	return image.Rect(l.gap, y, l.size.X-l.gap, y+l.captionH)
}

// Label is the band under the cell of row r, column c where its label is drawn (empty
// when no row has labels).
func (l Layout) Label(r, c int) image.Rectangle {
	cell := l.Cell(r, c)
	return image.Rect(cell.Min.X, cell.Max.Y, cell.Max.X, cell.Max.Y+l.labelH)
}

// Fit is the rectangle an image of size src takes when fitted into cell: scaled by
// min(cell width / src width, cell height / src height), rounded, at least one pixel,
// centred.
func Fit(src image.Point, cell image.Rectangle) image.Rectangle {
	cw, ch := cell.Dx(), cell.Dy()
	if src.X <= 0 || src.Y <= 0 {
		return image.Rectangle{}
	}
	w, h := cw, ch
	if src.X*ch > src.Y*cw { // wider than the cell
		h = max(1, (src.Y*cw+src.X/2)/src.X)
	} else {
		w = max(1, (src.X*ch+src.Y/2)/src.Y)
	}
	x := cell.Min.X + (cw-w)/2
	y := cell.Min.Y + (ch-h)/2
	return image.Rect(x, y, x+w, y+h)
}

// Render draws the sheet.
func Render(rows []Row, o Options) (*image.RGBA, error) {
	l, err := NewLayout(rows, o)
	if err != nil {
		return nil, err
	}
	o, _ = o.withDefaults(rows)
	dst := image.NewRGBA(image.Rectangle{Max: l.size})
	xdraw.Draw(dst, dst.Bounds(), image.NewUniform(o.Background), image.Point{}, xdraw.Src)
	for r, row := range rows {
		if row.Caption != "" {
			band := l.Caption(r)
			drawText(dst, band.Min.X, band.Min.Y+textPad, fitText(row.Caption, band.Dx()), o.Ink)
		}
		for c, img := range row.Images {
			if c == l.columns {
				break
			}
			cell := l.Cell(r, c)
			if img == nil {
				drawPlaceholder(dst, cell)
			} else {
				drawThumb(dst, cell, img)
			}
			if c < len(row.Labels) && row.Labels[c] != "" {
				band := l.Label(r, c)
				s := fitText(row.Labels[c], band.Dx())
				x := band.Min.X + (band.Dx()-len([]rune(s))*glyphWidth)/2
				drawText(dst, x, band.Min.Y+textPad, s, o.Ink)
			}
		}
	}
	return dst, nil
}

// drawThumb scales img into cell, keeping its aspect ratio.
func drawThumb(dst *image.RGBA, cell image.Rectangle, img image.Image) {
	sr := img.Bounds()
	dr := Fit(sr.Size(), cell)
	if dr.Empty() {
		drawPlaceholder(dst, cell)
		return
	}
	var k xdraw.Interpolator = xdraw.CatmullRom
	if dr.Dx() >= sr.Dx() && dr.Dy() >= sr.Dy() {
		k = xdraw.NearestNeighbor
	}
	k.Scale(dst, dr, img, sr, xdraw.Over, nil)
}

// Placeholder colours: the fill and the cross of a missing image.
var (
	placeholderFill  = color.RGBA{R: 224, G: 224, B: 224, A: 255}
	placeholderCross = color.RGBA{R: 160, G: 160, B: 160, A: 255}
)

func drawPlaceholder(dst *image.RGBA, cell image.Rectangle) {
	xdraw.Draw(dst, cell, image.NewUniform(placeholderFill), image.Point{}, xdraw.Src)
	n := cell.Dx()
	for i := range n {
		dst.SetRGBA(cell.Min.X+i, cell.Min.Y+i, placeholderCross)
		dst.SetRGBA(cell.Max.X-1-i, cell.Min.Y+i, placeholderCross)
	}
}

// fitText cuts s to the runes that fit in width pixels, ending in "..." when cut.
func fitText(s string, width int) string {
	r := []rune(s)
	n := width / glyphWidth
	if len(r) <= n {
		return s
	}
	if n <= 3 {
		return string(r[:max(n, 0)])
	}
	return string(r[:n-3]) + "..."
}

// drawText draws s with its top-left corner at (x, y).
func drawText(dst *image.RGBA, x, y int, s string, ink color.Color) {
	d := font.Drawer{Dst: dst, Src: image.NewUniform(ink), Face: basicfont.Face7x13, Dot: fixed.P(x, y+glyphAscent)}
	d.DrawString(s)
}

// WritePNG renders the sheet and writes it to path as a PNG, through a temporary file in
// the same directory renamed into place, so a failed run leaves no partial file.
func WritePNG(path string, rows []Row, o Options) error {
	img, err := Render(rows, o)
	if err != nil {
		return fmt.Errorf("contactsheet: %s: %w", path, err)
	}
	return SavePNG(path, img)
}

// SavePNG encodes img as a PNG at path, through a temporary file in the same directory
// renamed into place.
func SavePNG(path string, img image.Image) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("contactsheet: creating %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = png.Encode(tmp, img); err != nil {
		return fmt.Errorf("contactsheet: encoding %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("contactsheet: writing %s: %w", path, err)
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("contactsheet: writing %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("contactsheet: writing %s: %w", path, err)
	}
	return nil
}
