package imageio

import (
	"encoding/binary"
	"image"
)

// exifOrientationTag is the TIFF/EXIF tag number of Orientation.
const exifOrientationTag = 0x0112

// Orientation returns the EXIF orientation (1 to 8) recorded in encoded
// image data: the APP1 "Exif" segment of a JPEG, the eXIf chunk of a PNG or
// the EXIF chunk of a WebP file. It returns 1 (as stored, no transform) when
// there is no orientation tag or when the metadata is malformed in any way;
// it never panics and reads nothing outside data.
func Orientation(data []byte) int {
	var tiffData []byte
	switch Sniff(data) {
	case FormatJPEG:
		tiffData = jpegExif(data)
	case FormatPNG:
		tiffData = pngExif(data)
	case FormatWebP:
		tiffData = webpExif(data)
	}
	if tiffData == nil {
		return 1
	}
	return tiffOrientation(tiffData)
}

// jpegExif returns the TIFF structure inside the first APP1 Exif segment of
// a JPEG file, or nil.
func jpegExif(data []byte) []byte {
	i := 2 // after SOI
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return nil // not at a marker: malformed
		}
		marker := data[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7): // no length
			i += 2
			continue
		case marker == 0xDA || marker == 0xD9: // start of scan, end of image
			return nil
		}
		segLen := int(binary.BigEndian.Uint16(data[i+2:]))
		if segLen < 2 || i+2+segLen > len(data) {
			return nil
		}
		seg := data[i+4 : i+2+segLen]
		if marker == 0xE1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return seg[6:]
		}
		i += 2 + segLen
	}
	return nil
}

// pngExif returns the payload of a PNG file's eXIf chunk, or nil.
func pngExif(data []byte) []byte {
	i := 8 // after the signature
	for i+12 <= len(data) {
		n := binary.BigEndian.Uint32(data[i:])
		typ := string(data[i+4 : i+8])
		if uint64(n) > uint64(len(data)-i-12) {
			return nil
		}
		body := data[i+8 : i+8+int(n)]
		switch typ {
		case "eXIf":
			return body
		case "IEND":
			return nil
		}
		i += 12 + int(n)
	}
	return nil
}

// webpExif returns the payload of a WebP file's EXIF chunk, or nil. Some
// writers prefix the TIFF data with "Exif\0\0"; that prefix is dropped.
func webpExif(data []byte) []byte {
	i := 12 // after "RIFF" size "WEBP"
	for i+8 <= len(data) {
		n := binary.LittleEndian.Uint32(data[i+4:])
		if uint64(n) > uint64(len(data)-i-8) {
			return nil
		}
		body := data[i+8 : i+8+int(n)]
		if string(data[i:i+4]) == "EXIF" {
			if len(body) >= 6 && string(body[:6]) == "Exif\x00\x00" {
				body = body[6:]
			}
			return body
		}
		i += 8 + int(n) + int(n&1) // chunks are padded to an even size
	}
	return nil
}

// tiffOrientation reads the Orientation tag from IFD0 of a TIFF structure
// (the body of an EXIF block), returning 1 when absent or invalid.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	off := uint64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > uint64(len(t)) {
		return 1
	}
	count := uint64(bo.Uint16(t[off:]))
	for k := uint64(0); k < count; k++ {
		e := off + 2 + 12*k
		if e+12 > uint64(len(t)) {
			return 1
		}
		entry := t[e : e+12]
		if bo.Uint16(entry) != exifOrientationTag {
			continue
		}
		var v uint32
		switch typ, n := bo.Uint16(entry[2:]), bo.Uint32(entry[4:]); {
		case n != 1:
			return 1
		case typ == 3: // SHORT, left-justified in the value field
			v = uint32(bo.Uint16(entry[8:]))
		case typ == 4: // LONG, written by a few non-conforming tools
			v = bo.Uint32(entry[8:])
		default:
			return 1
		}
		if v < 1 || v > 8 {
			return 1
		}
		return int(v)
	}
	return 1
}

// ApplyOrientation returns img transformed for display according to EXIF
// orientation o, as PIL's ImageOps.exif_transpose does:
//
//	1 unchanged                 5 transpose (mirror along the main diagonal)
//	2 mirror left-right         6 rotate 90° clockwise
//	3 rotate 180°               7 transverse (mirror along the anti-diagonal)
//	4 mirror top-bottom         8 rotate 90° counter-clockwise
//
// Orientations 5 to 8 swap width and height. Any other value of o returns
// img unchanged. The result is a new *image.Gray when img is an *image.Gray
// and a new *image.RGBA otherwise, with bounds starting at (0, 0).
func ApplyOrientation(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	var (
		pix    []byte
		stride int
		bpp    int
		b      = img.Bounds()
	)
	switch m := img.(type) {
	case *image.Gray:
		pix, stride, bpp = m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 1
	case *image.RGBA:
		pix, stride, bpp = m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 4
	default:
		rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				rgba.Set(x, y, img.At(b.Min.X+x, b.Min.Y+y))
			}
		}
		pix, stride, bpp = rgba.Pix, rgba.Stride, 4
	}
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := make([]byte, ow*oh*bpp)
	for y := 0; y < h; y++ {
		row := pix[y*stride:]
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			copy(out[(dy*ow+dx)*bpp:(dy*ow+dx+1)*bpp], row[x*bpp:(x+1)*bpp])
		}
	}
	r := image.Rect(0, 0, ow, oh)
	if bpp == 1 {
		return &image.Gray{Pix: out, Stride: ow, Rect: r}
	}
	return &image.RGBA{Pix: out, Stride: 4 * ow, Rect: r}
}
