package imageio_test

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"

	"github.com/swav-go/swav/imageio"
)

func TestEXIFOrientationFixtures(t *testing.T) {
	// orientN.jpg stores the 32×16 quadrant picture so that applying EXIF
	// orientation N displays it upright (see gen_fixtures.go, which builds
	// them from the EXIF definition of each value).
	for o := 1; o <= 8; o++ {
		t.Run(fmt.Sprint(o), func(t *testing.T) {
			path := fmt.Sprintf("testdata/exif/orient%d.jpg", o)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := imageio.Orientation(data); got != o {
				t.Errorf("Orientation = %d, want %d", got, o)
			}
			img, err := imageio.DecodeFile(path, imageio.Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkQuadrants(t, img, 32, 16)
		})
	}
}

func TestEXIFMalformedIsIgnored(t *testing.T) {
	// Orientation 6 whose IFD offset points outside the segment: the image
	// is returned as stored.
	path := "testdata/exif/bad_ifd_offset.jpg"
	img, err := imageio.DecodeFile(path, imageio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkQuadrants(t, img, 32, 16)
}

func TestApplyOrientation(t *testing.T) {
	// Source 3 wide × 2 tall:
	//	1 2 3
	//	4 5 6
	// Expected results written out by hand from the EXIF definitions.
	src := &image.Gray{Pix: []uint8{1, 2, 3, 4, 5, 6}, Stride: 3, Rect: image.Rect(0, 0, 3, 2)}
	tests := []struct {
		o    int
		w, h int
		want []uint8
	}{
		{1, 3, 2, []uint8{1, 2, 3, 4, 5, 6}},
		{2, 3, 2, []uint8{3, 2, 1, 6, 5, 4}}, // mirror left-right
		{3, 3, 2, []uint8{6, 5, 4, 3, 2, 1}}, // rotate 180
		{4, 3, 2, []uint8{4, 5, 6, 1, 2, 3}}, // mirror top-bottom
		{5, 2, 3, []uint8{1, 4, 2, 5, 3, 6}}, // transpose
		{6, 2, 3, []uint8{4, 1, 5, 2, 6, 3}}, // rotate 90° clockwise
		{7, 2, 3, []uint8{6, 3, 5, 2, 4, 1}}, // transverse
		{8, 2, 3, []uint8{3, 6, 2, 5, 1, 4}}, // rotate 90° counter-clockwise
		{0, 3, 2, []uint8{1, 2, 3, 4, 5, 6}}, // invalid: unchanged
		{9, 3, 2, []uint8{1, 2, 3, 4, 5, 6}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.o), func(t *testing.T) {
			got := imageio.ApplyOrientation(src, tc.o).(*image.Gray)
			if got.Rect != image.Rect(0, 0, tc.w, tc.h) {
				t.Fatalf("bounds %v, want %dx%d", got.Rect, tc.w, tc.h)
			}
			var pix []uint8
			for y := 0; y < tc.h; y++ {
				pix = append(pix, got.Pix[y*got.Stride:y*got.Stride+tc.w]...)
			}
			if !reflect.DeepEqual(pix, tc.want) {
				t.Errorf("pixels %v, want %v", pix, tc.want)
			}
			// The same transform on RGBA (and on an offset sub-image) moves
			// whole pixels identically.
			rgba := image.NewRGBA(image.Rect(5, 7, 8, 9))
			for i, v := range src.Pix {
				rgba.SetRGBA(5+i%3, 7+i/3, color.RGBA{v, 2 * v, 3 * v, 255})
			}
			gotRGBA := imageio.ApplyOrientation(rgba, tc.o)
			b := gotRGBA.Bounds()
			for y := 0; y < tc.h; y++ {
				for x := 0; x < tc.w; x++ {
					v := tc.want[y*tc.w+x]
					if c := gotRGBA.At(b.Min.X+x, b.Min.Y+y); c != (color.RGBA{v, 2 * v, 3 * v, 255}) {
						t.Errorf("RGBA (%d,%d) = %v, want value %d", x, y, c, v)
					}
				}
			}
		})
	}
}

// exifTIFF builds the TIFF body of an EXIF block with a single IFD0 entry.
func exifTIFF(bo binary.ByteOrder, tag, typ uint16, count uint32, value []byte) []byte {
	t := []byte("MM\x00\x2a\x00\x00\x00\x08")
	if bo == binary.LittleEndian {
		t = []byte("II\x2a\x00\x08\x00\x00\x00")
	}
	t = append(t, make([]byte, 2+12+4)...)
	bo.PutUint16(t[8:], 1)
	bo.PutUint16(t[10:], tag)
	bo.PutUint16(t[12:], typ)
	bo.PutUint32(t[14:], count)
	copy(t[18:22], value)
	return t
}

func short(bo binary.ByteOrder, v uint16) []byte {
	b := make([]byte, 4)
	bo.PutUint16(b, v)
	return b
}

func long(bo binary.ByteOrder, v uint32) []byte {
	b := make([]byte, 4)
	bo.PutUint32(b, v)
	return b
}

// jpegWith returns a minimal JPEG prefix (SOI, the given segments, SOS) —
// enough for Orientation, which stops at the scan.
func jpegWith(segments ...[]byte) []byte {
	out := []byte{0xFF, 0xD8}
	for _, s := range segments {
		out = append(out, s...)
	}
	return append(out, 0xFF, 0xDA, 0x00, 0x02)
}

func segment(marker byte, payload []byte) []byte {
	s := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(s[2:], uint16(len(payload)+2))
	return append(s, payload...)
}

func app1(tiff []byte) []byte { return segment(0xE1, append([]byte("Exif\x00\x00"), tiff...)) }

func pngWith(chunks ...[]byte) []byte {
	out := []byte("\x89PNG\r\n\x1a\n")
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}

func pngChunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	body := append([]byte(typ), data...)
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
}

func webpWith(chunks ...[]byte) []byte {
	var body []byte
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(4+len(body)))
	out = append(out, "WEBP"...)
	return append(out, body...)
}

func riffChunk(fourcc string, data []byte) []byte {
	out := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func TestOrientationParsing(t *testing.T) {
	be, le := binary.ByteOrder(binary.BigEndian), binary.ByteOrder(binary.LittleEndian)
	good := exifTIFF(be, 0x0112, 3, 1, short(be, 6))
	xmp := segment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>"))
	truncatedIFD := exifTIFF(be, 0x0112, 3, 1, short(be, 6))[:16]
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"jpeg big-endian", jpegWith(app1(good)), 6},
		{"jpeg little-endian", jpegWith(app1(exifTIFF(le, 0x0112, 3, 1, short(le, 8)))), 8},
		{"jpeg LONG value", jpegWith(app1(exifTIFF(le, 0x0112, 4, 1, long(le, 3)))), 3},
		{"after JFIF and XMP segments", jpegWith(segment(0xE0, []byte("JFIF\x00\x01\x02")), xmp, app1(good)), 6},
		{"fill bytes before marker", append([]byte{0xFF, 0xD8, 0xFF, 0xFF}, jpegWith(app1(good))[2:]...), 6},
		{"no exif", jpegWith(segment(0xE0, []byte("JFIF\x00"))), 1},
		{"exif after scan ignored", append(jpegWith(), app1(good)...), 1},
		{"value 0", jpegWith(app1(exifTIFF(be, 0x0112, 3, 1, short(be, 0)))), 1},
		{"value 9", jpegWith(app1(exifTIFF(be, 0x0112, 3, 1, short(be, 9)))), 1},
		{"count 2", jpegWith(app1(exifTIFF(be, 0x0112, 3, 2, short(be, 6)))), 1},
		{"wrong type ASCII", jpegWith(app1(exifTIFF(be, 0x0112, 2, 1, short(be, 6)))), 1},
		{"other tag only", jpegWith(app1(exifTIFF(be, 0x0110, 3, 1, short(be, 6)))), 1},
		{"bad byte order", jpegWith(app1(append([]byte("XX"), good[2:]...))), 1},
		{"bad magic 43", jpegWith(app1(append([]byte("MM\x00\x2b"), good[4:]...))), 1},
		{"IFD offset too large", jpegWith(app1(append(append([]byte("MM\x00\x2a"), long(be, 1<<31)...), good[8:]...))), 1},
		{"IFD offset below header", jpegWith(app1(append(append([]byte("MM\x00\x2a"), long(be, 2)...), good[8:]...))), 1},
		{"entry truncated", jpegWith(app1(truncatedIFD)), 1},
		{"segment length past end", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 'E', 'x'}, 1},
		{"segment length < 2", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x01, 0xFF, 0xDA}, 1},
		{"garbage between segments", append([]byte{0xFF, 0xD8, 0x00, 0x00}, app1(good)...), 1},
		{"png eXIf", pngWith(pngChunk("IHDR", make([]byte, 13)), pngChunk("eXIf", good), pngChunk("IEND", nil)), 6},
		{"png eXIf after IEND ignored", pngWith(pngChunk("IEND", nil), pngChunk("eXIf", good)), 1},
		{"png chunk length past end", pngWith([]byte{0x7F, 0xFF, 0xFF, 0xFF, 'e', 'X', 'I', 'f', 0, 0, 0, 0}), 1},
		{"webp EXIF", webpWith(riffChunk("VP8X", make([]byte, 10)), riffChunk("EXIF", good)), 6},
		{"webp EXIF with Exif prefix after odd chunk", webpWith(riffChunk("ICCP", []byte{1, 2, 3}), riffChunk("EXIF", append([]byte("Exif\x00\x00"), good...))), 6},
		{"webp chunk size past end", webpWith([]byte("EXIF\xff\xff\xff\x7f")), 1},
		{"gif has no exif", []byte("GIF89a"), 1},
		{"empty", nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := imageio.Orientation(tc.data); got != tc.want {
				t.Errorf("Orientation = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestOrientationNeverPanics(t *testing.T) {
	base, err := os.ReadFile("testdata/exif/orient6.jpg")
	if err != nil {
		t.Fatal(err)
	}
	// Every prefix (only the metadata part matters), then random
	// corruptions of the metadata bytes.
	for n := 0; n <= 200 && n <= len(base); n++ {
		if o := imageio.Orientation(base[:n]); o < 1 || o > 8 {
			t.Fatalf("prefix %d: orientation %d", n, o)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, len(base))
	for i := 0; i < 20000; i++ {
		copy(buf, base)
		for k := 0; k < 1+rng.IntN(4); k++ {
			buf[2+rng.IntN(60)] = byte(rng.IntN(256))
		}
		if o := imageio.Orientation(buf); o < 1 || o > 8 {
			t.Fatalf("mutation %d: orientation %d", i, o)
		}
	}
}

func TestDecodeAppliesPNGOrientation(t *testing.T) {
	// A 2×1 PNG with an eXIf chunk saying "rotate 90° clockwise".
	src := image.NewGray(image.Rect(0, 0, 2, 1))
	src.Pix = []uint8{10, 200}
	plain := encodePNG(t, src)
	// Insert eXIf right after IHDR (8-byte signature + 25-byte IHDR chunk).
	be := binary.ByteOrder(binary.BigEndian)
	withExif := append(append(append([]byte{}, plain[:33]...), pngChunk("eXIf", exifTIFF(be, 0x0112, 3, 1, short(be, 6)))...), plain[33:]...)
	img, err := imageio.DecodeBytes(withExif, "rot.png", imageio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := img.(*image.Gray)
	if g.Rect != image.Rect(0, 0, 1, 2) || g.Pix[0] != 10 || g.Pix[g.Stride] != 200 {
		t.Errorf("got %v %v, want 1x2 [10 200]", g.Rect, g.Pix)
	}
}
