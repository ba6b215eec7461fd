package imageio

import (
	"image"
	"image/color"
	"image/draw"
)

// Canonical converts a decoded image into the form Decode returns: an
// *image.Gray for *image.Gray and *image.Gray16 sources, otherwise an opaque
// *image.RGBA with every pixel composited over bg (nil means white). The
// result's bounds start at (0, 0). An *image.Gray already starting at (0, 0)
// is returned as is, without a copy.
func Canonical(img image.Image, bg color.Color) image.Image {
	switch m := img.(type) {
	case *image.Gray:
		if m.Rect.Min == (image.Point{}) {
			return m
		}
		out := image.NewGray(image.Rect(0, 0, m.Rect.Dx(), m.Rect.Dy()))
		for y := 0; y < out.Rect.Dy(); y++ {
			copy(out.Pix[y*out.Stride:(y+1)*out.Stride], m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y+y):])
		}
		return out
	case *image.Gray16:
		b := m.Rect
		out := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := 0; y < b.Dy(); y++ {
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			dst := out.Pix[y*out.Stride : (y+1)*out.Stride]
			for x := range dst {
				v := uint32(src[2*x])<<8 | uint32(src[2*x+1])
				dst[x] = uint8((v*255 + 32767) / 65535) // round(v * 255/65535)
			}
		}
		return out
	}
	return Flatten(img, bg)
}

// Flatten returns an opaque *image.RGBA copy of img, bounds starting at
// (0, 0), with transparent and translucent pixels composited ("over") onto
// bg; nil bg means white. A translucent bg is first composited over black.
// Colour models without alpha (YCbCr, CMYK, Gray, ...) are converted with the
// standard library's conversions, e.g. CMYK with R = 255·(1−C)·(1−K).
func Flatten(img image.Image, bg color.Color) *image.RGBA {
	if bg == nil {
		bg = color.White
	}
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
		draw.Draw(dst, dst.Rect, img, b.Min, draw.Src)
		return dst
	}
	r, g, bb, _ := bg.RGBA() // premultiplied: equals bg over black
	fill := color.RGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(bb >> 8), A: 0xff}
	draw.Draw(dst, dst.Rect, image.NewUniform(fill), image.Point{}, draw.Src)
	draw.Draw(dst, dst.Rect, img, b.Min, draw.Over)
	return dst
}
