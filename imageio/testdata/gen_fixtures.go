//go:build ignore

// gen_fixtures writes the image fixtures used by the imageio and dataset
// tests and the README: small procedurally drawn "photos" in
// testdata/images/, and EXIF, CMYK, WebP and deliberately broken files in
// imageio/testdata/. Run it from the repository root:
//
//	go run ./imageio/testdata/gen_fixtures.go
//
// The output is deterministic. The WebP files need cwebp (Debian package
// webp) and the CMYK JPEG needs ImageMagick's convert (package imagemagick);
// without them those files are left as they are.
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

const (
	samples = "testdata/images"
	fixture = "imageio/testdata"
)

func main() {
	for _, d := range []string{samples, fixture + "/exif", fixture + "/bad"} {
		must(os.MkdirAll(d, 0o755))
	}

	// Sample "photos".
	sunset := draw64(96, 64, sunsetScene)
	writeJPEG(samples+"/sunset.jpg", sunset, 85, nil)
	mountains := draw64(96, 64, mountainScene)
	writePNG(samples+"/mountains.png", mountains)
	writeGIF(samples+"/leaf.gif", draw64(64, 64, leafScene))
	writePNG(samples+"/balloon.png", drawNRGBA(72, 72, balloonScene))
	writePNG(samples+"/moon.png", moonGray16(64, 64))
	writeBMP(samples+"/city.bmp", draw64(64, 64, cityScene))
	writeTIFF(samples+"/forest.tiff", draw64(80, 64, forestScene))
	// A portrait photo stored sideways, as a phone held upright writes it:
	// the pixels are landscape and EXIF orientation 6 rotates them for
	// display.
	lighthouse := draw64(64, 96, lighthouseScene)
	writeJPEG(samples+"/lighthouse.jpg", storeForOrientation(lighthouse, 6), 85, exifAPP1(6, false))
	beach := draw64(96, 64, beachScene)
	if tmp, ok := tempPNG(beach); ok {
		run("cwebp", "-quiet", "-q", "80", tmp, "-o", samples+"/beach.webp")
		os.Remove(tmp)
	}

	// EXIF orientation fixtures: the displayed image is quadrants; file
	// orientN.jpg stores it so that orientation N restores it.
	quad := quadrants(32, 16)
	for o := 1; o <= 8; o++ {
		var app1 []byte
		if o > 1 {
			app1 = exifAPP1(o, o%2 == 0) // alternate Motorola and Intel byte order
		}
		writeJPEG(fmt.Sprintf("%s/exif/orient%d.jpg", fixture, o), storeForOrientation(quad, o), 95, app1)
	}
	// Orientation 6 but with the IFD offset pointing past the segment: the
	// orientation must be ignored.
	bad := exifAPP1(6, false)
	binary.BigEndian.PutUint32(bad[4+6+4:], 0xFFFF0000)
	writeJPEG(fixture+"/exif/bad_ifd_offset.jpg", quad, 95, bad)

	// Lossless WebP with transparency and its source, and a CMYK JPEG.
	alpha := drawNRGBA(24, 16, func(x, y float64) color.NRGBA {
		return color.NRGBA{uint8(x * 255), uint8(y * 255), 128, uint8(255 * math.Min(1, 2*x))}
	})
	writePNG(fixture+"/lossless_src.png", alpha)
	run("cwebp", "-quiet", "-lossless", "-exact", fixture+"/lossless_src.png", "-o", fixture+"/lossless.webp")
	writePNG(fixture+"/cmyk_src.png", quad)
	run("convert", fixture+"/cmyk_src.png", "-colorspace", "CMYK", "-quality", "95", fixture+"/cmyk.jpg")

	// Broken inputs.
	must(os.WriteFile(fixture+"/bad/empty.png", nil, 0o644))
	must(os.WriteFile(fixture+"/bad/notimage.jpg", []byte("This is a text file, not a JPEG.\n"), 0o644))
	png1 := read(samples + "/mountains.png")
	must(os.WriteFile(fixture+"/bad/truncated.png", png1[:len(png1)/2], 0o644))
	jpg1 := read(samples + "/sunset.jpg")
	must(os.WriteFile(fixture+"/bad/truncated.jpg", jpg1[:len(jpg1)/2], 0o644))
	must(os.WriteFile(fixture+"/bad/huge.png", hugePNG(100000, 100000), 0o644))
	must(os.WriteFile(fixture+"/bad/garbage.png", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0x5a}, 40)...), 0o644))
}

// ---- scenes: functions of normalised coordinates x, y in [0, 1) ----

func sunsetScene(x, y float64) color.RGBA64 {
	horizon := 0.62
	if y < horizon {
		t := y / horizon
		c := mix(rgb(0.25, 0.12, 0.45), rgb(1.0, 0.55, 0.2), t)
		if d := math.Hypot(x-0.6, (y-0.5)*1.5); d < 0.13 {
			c = mix(rgb(1, 0.95, 0.6), c, smooth(0.1, 0.13, d))
		}
		return c
	}
	t := (y - horizon) / (1 - horizon)
	c := mix(rgb(0.55, 0.3, 0.3), rgb(0.1, 0.1, 0.25), t)
	// Sun glitter on the water.
	if math.Abs(x-0.6) < 0.08*(1-t*0.5) && math.Sin(y*140+noise(x*8, y*8)*4) > 0.4 {
		c = mix(c, rgb(1, 0.8, 0.4), 0.6)
	}
	return c
}

func mountainScene(x, y float64) color.RGBA64 {
	c := mix(rgb(0.45, 0.65, 0.95), rgb(0.85, 0.9, 1), y)
	ridges := []struct {
		base, amp, freq float64
		col             color.RGBA64
	}{
		{0.45, 0.18, 9, rgb(0.45, 0.5, 0.6)},
		{0.6, 0.12, 14, rgb(0.3, 0.38, 0.35)},
		{0.78, 0.06, 23, rgb(0.2, 0.35, 0.15)},
	}
	for i, r := range ridges {
		h := r.base - r.amp*(0.6*math.Abs(math.Sin(x*r.freq*0.5+float64(i)))+0.4*noise(x*r.freq, float64(i)))
		if y > h {
			c = r.col
			if i == 0 && y < h+0.05 {
				c = rgb(0.95, 0.95, 0.97) // snow cap
			}
			c = mix(c, rgb(0, 0, 0), 0.15*noise(x*40, y*40))
		}
	}
	return c
}

func leafScene(x, y float64) color.RGBA64 {
	c := mix(rgb(0.9, 0.85, 0.7), rgb(0.8, 0.7, 0.55), noise(x*6, y*6))
	// Leaf: an ellipse rotated by 45 degrees.
	u, v := (x-0.5+y-0.5)/math.Sqrt2, (y-0.5-(x-0.5))/math.Sqrt2
	if (u*u)/0.16+(v*v)/0.035 < 1 {
		c = mix(rgb(0.2, 0.55, 0.15), rgb(0.5, 0.75, 0.2), 0.5+u)
		if math.Abs(v) < 0.012 || math.Abs(math.Mod(u*12+math.Abs(v)*8, 1)) < 0.08 {
			c = rgb(0.7, 0.85, 0.4) // veins
		}
	}
	return c
}

func balloonScene(x, y float64) color.NRGBA {
	if d := math.Hypot(x-0.5, (y-0.4)*0.9); d < 0.3 {
		shade := 1 - 0.6*math.Hypot(x-0.4, y-0.28)
		a := 1 - smooth(0.28, 0.3, d)
		return color.NRGBA{uint8(230 * shade), uint8(40 * shade), uint8(50 * shade), uint8(255 * a)}
	}
	if math.Abs(x-0.5-0.03*math.Sin(y*20)) < 0.012 && y > 0.66 {
		return color.NRGBA{60, 60, 60, 255} // string
	}
	return color.NRGBA{0, 0, 0, 0}
}

func cityScene(x, y float64) color.RGBA64 {
	c := mix(rgb(0.05, 0.05, 0.2), rgb(0.2, 0.15, 0.35), y)
	if noise(x*80, y*80) > 0.93 && y < 0.5 {
		c = rgb(0.9, 0.9, 0.8) // stars
	}
	col := math.Floor(x * 9)
	height := 0.35 + 0.45*noise(col*1.7, 3)
	if 1-y < height {
		c = rgb(0.12, 0.12, 0.16)
		// Windows: one pixel in every 3×3 cell, lit at random.
		gx, gy := x*64/3, y*64/3
		if math.Mod(gx, 1) < 0.34 && math.Mod(gy, 1) < 0.34 && noise(math.Floor(gx), math.Floor(gy)) > 0.5 {
			c = rgb(1, 0.85, 0.4) // lit window
		}
	}
	return c
}

func forestScene(x, y float64) color.RGBA64 {
	c := mix(rgb(0.7, 0.85, 0.9), rgb(0.4, 0.55, 0.35), y)
	for i := 0; i < 7; i++ {
		cx := (float64(i) + 0.5 + 0.3*(noise(float64(i), 1)-0.5)) / 7
		top := 0.2 + 0.25*noise(float64(i), 2)
		if y > top && math.Abs(x-cx) < (y-top)*0.35 && y < 0.85 {
			c = mix(rgb(0.05, 0.3, 0.1), rgb(0.15, 0.45, 0.15), noise(x*30, y*30))
		}
		if y >= 0.85 && math.Abs(x-cx) < 0.015 {
			c = rgb(0.35, 0.2, 0.1) // trunk
		}
	}
	return c
}

func lighthouseScene(x, y float64) color.RGBA64 {
	c := mix(rgb(0.5, 0.7, 0.95), rgb(0.9, 0.95, 1), y)
	if y > 0.8 {
		c = mix(rgb(0.1, 0.3, 0.6), rgb(0.05, 0.2, 0.4), noise(x*20, y*20))
	}
	halfWidth := 0.08 + 0.06*(y-0.2)
	if y > 0.2 && y < 0.85 && math.Abs(x-0.5) < halfWidth {
		if int(y*10)%2 == 0 {
			return rgb(0.85, 0.1, 0.1)
		}
		return rgb(0.97, 0.97, 0.97)
	}
	if y > 0.12 && y <= 0.2 && math.Abs(x-0.5) < 0.07 {
		return rgb(1, 0.9, 0.3) // lamp
	}
	return c
}

func beachScene(x, y float64) color.RGBA64 {
	shore := 0.55 + 0.05*math.Sin(x*9)
	switch {
	case y < 0.35:
		return mix(rgb(0.35, 0.6, 0.95), rgb(0.75, 0.88, 1), y/0.35)
	case y < shore:
		return mix(rgb(0.0, 0.45, 0.6), rgb(0.2, 0.7, 0.75), (y-0.35)/(shore-0.35)+0.1*noise(x*30, y*30))
	case y < shore+0.03:
		return rgb(0.95, 0.97, 0.97) // surf
	}
	return mix(rgb(0.93, 0.83, 0.6), rgb(0.8, 0.68, 0.45), noise(x*25, y*25))
}

// quadrants is the displayed image of the EXIF fixtures: red, green, blue
// and white quarters (top-left, top-right, bottom-left, bottom-right).
func quadrants(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	cols := [4]color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {255, 255, 255, 255}}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetRGBA(x, y, cols[2*(2*y/h)+2*x/w])
		}
	}
	return m
}

// storeForOrientation returns the pixels a camera stores for displayed image
// d under EXIF orientation o. It follows the EXIF definition of each value
// (where stored row 0 and column 0 appear on screen), independently of
// imageio.ApplyOrientation.
func storeForOrientation(d *image.RGBA, o int) *image.RGBA {
	wd, hd := d.Rect.Dx(), d.Rect.Dy()
	type side int
	const (
		top side = iota
		bottom
		left
		right
	)
	row0, col0 := [9]side{0, top, top, bottom, bottom, left, right, right, left}[o],
		[9]side{0, left, right, right, left, top, top, bottom, bottom}[o]
	ws, hs := wd, hd
	if o >= 5 {
		ws, hs = hd, wd
	}
	s := image.NewRGBA(image.Rect(0, 0, ws, hs))
	for r := 0; r < hs; r++ {
		for c := 0; c < ws; c++ {
			var vx, vy int
			if o <= 4 { // stored rows are displayed rows
				vy, vx = r, c
				if row0 == bottom {
					vy = hd - 1 - r
				}
				if col0 == right {
					vx = wd - 1 - c
				}
			} else { // stored rows are displayed columns
				vx, vy = r, c
				if row0 == right {
					vx = wd - 1 - r
				}
				if col0 == bottom {
					vy = hd - 1 - c
				}
			}
			s.SetRGBA(c, r, d.RGBAAt(vx, vy))
		}
	}
	return s
}

// exifAPP1 builds a JPEG APP1 segment (marker included) holding an EXIF
// block whose IFD0 has two entries: ImageDescription and Orientation.
func exifAPP1(o int, intel bool) []byte {
	var bo interface {
		binary.ByteOrder
		binary.AppendByteOrder
	} = binary.BigEndian
	t := []byte("MM\x00\x2a")
	if intel {
		bo, t = binary.LittleEndian, []byte("II\x2a\x00")
	}
	t = bo.AppendUint32(t, 8) // IFD0 offset
	t = bo.AppendUint16(t, 2) // entry count
	// 0x010E ImageDescription, ASCII, 4 bytes inline: "swav".
	t = bo.AppendUint16(t, 0x010E)
	t = bo.AppendUint16(t, 2)
	t = bo.AppendUint32(t, 4)
	t = append(t, "swav"...)
	// 0x0112 Orientation, SHORT, count 1, value left-justified.
	t = bo.AppendUint16(t, 0x0112)
	t = bo.AppendUint16(t, 3)
	t = bo.AppendUint32(t, 1)
	t = bo.AppendUint16(t, uint16(o))
	t = bo.AppendUint16(t, 0)
	t = bo.AppendUint32(t, 0) // no next IFD
	payload := append([]byte("Exif\x00\x00"), t...)
	seg := []byte{0xFF, 0xE1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(len(payload)+2))
	return append(seg, payload...)
}

// hugePNG returns a PNG whose IHDR declares w×h RGB pixels but which holds
// almost no data.
func hugePNG(w, h uint32) []byte {
	out := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB, deflate, no filter, no interlace
	out = appendChunk(out, "IHDR", ihdr)
	out = appendChunk(out, "IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	return appendChunk(out, "IEND", nil)
}

func appendChunk(out []byte, typ string, data []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	body := append([]byte(typ), data...)
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
}

func moonGray16(w, h int) *image.Gray16 {
	m := image.NewGray16(image.Rect(0, 0, w, h))
	for py := 0; py < h; py++ {
		for px := 0; px < w; px++ {
			x, y := (float64(px)+0.5)/float64(w), (float64(py)+0.5)/float64(h)
			v := 0.03 + 0.02*noise(x*50, y*50)
			if d := math.Hypot(x-0.5, y-0.5); d < 0.4 {
				v = 0.85 - 0.35*d - 0.25*noise(x*7, y*7)
				for _, cr := range [][3]float64{{0.4, 0.4, 0.06}, {0.62, 0.55, 0.09}, {0.45, 0.68, 0.05}} {
					if math.Hypot(x-cr[0], y-cr[1]) < cr[2] {
						v -= 0.2
					}
				}
				v *= 1 - smooth(0.38, 0.4, d)
			}
			m.SetGray16(px, py, color.Gray16{uint16(math.Max(0, math.Min(1, v)) * 65535)})
		}
	}
	return m
}

// ---- helpers ----

func rgb(r, g, b float64) color.RGBA64 {
	return color.RGBA64{u16(r), u16(g), u16(b), 0xffff}
}

func u16(v float64) uint16 { return uint16(math.Max(0, math.Min(1, v))*65535 + 0.5) }

func mix(a, b color.RGBA64, t float64) color.RGBA64 {
	t = math.Max(0, math.Min(1, t))
	f := func(p, q uint16) uint16 { return uint16(float64(p)*(1-t) + float64(q)*t + 0.5) }
	return color.RGBA64{f(a.R, b.R), f(a.G, b.G), f(a.B, b.B), 0xffff}
}

func smooth(e0, e1, x float64) float64 {
	t := math.Max(0, math.Min(1, (x-e0)/(e1-e0)))
	return t * t * (3 - 2*t)
}

// noise is deterministic smooth value noise in [0, 1].
func noise(x, y float64) float64 {
	hash := func(i, j int) float64 {
		h := uint32(i)*374761393 + uint32(j)*668265263
		h = (h ^ h>>13) * 1274126177
		return float64(h^h>>16) / float64(math.MaxUint32)
	}
	ix, iy := int(math.Floor(x)), int(math.Floor(y))
	fx, fy := smooth(0, 1, x-float64(ix)), smooth(0, 1, y-float64(iy))
	a := hash(ix, iy)*(1-fx) + hash(ix+1, iy)*fx
	b := hash(ix, iy+1)*(1-fx) + hash(ix+1, iy+1)*fx
	return a*(1-fy) + b*fy
}

func draw64(w, h int, f func(x, y float64) color.RGBA64) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for py := 0; py < h; py++ {
		for px := 0; px < w; px++ {
			m.Set(px, py, f((float64(px)+0.5)/float64(w), (float64(py)+0.5)/float64(h)))
		}
	}
	return m
}

func drawNRGBA(w, h int, f func(x, y float64) color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for py := 0; py < h; py++ {
		for px := 0; px < w; px++ {
			m.SetNRGBA(px, py, f((float64(px)+0.5)/float64(w), (float64(py)+0.5)/float64(h)))
		}
	}
	return m
}

func writePNG(path string, m image.Image) {
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	must(enc.Encode(&b, m))
	must(os.WriteFile(path, b.Bytes(), 0o644))
}

// writeJPEG encodes m and inserts segment app (if any) right after SOI.
func writeJPEG(path string, m image.Image, q int, app []byte) {
	var b bytes.Buffer
	must(jpeg.Encode(&b, m, &jpeg.Options{Quality: q}))
	data := b.Bytes()
	out := append([]byte{}, data[:2]...)
	out = append(out, app...)
	out = append(out, data[2:]...)
	must(os.WriteFile(path, out, 0o644))
}

func writeGIF(path string, m image.Image) {
	var b bytes.Buffer
	must(gif.Encode(&b, m, &gif.Options{NumColors: 256, Drawer: draw.FloydSteinberg}))
	must(os.WriteFile(path, b.Bytes(), 0o644))
}

func writeBMP(path string, m image.Image) {
	var b bytes.Buffer
	must(bmp.Encode(&b, m))
	must(os.WriteFile(path, b.Bytes(), 0o644))
}

func writeTIFF(path string, m image.Image) {
	var b bytes.Buffer
	must(tiff.Encode(&b, m, &tiff.Options{Compression: tiff.Deflate, Predictor: true}))
	must(os.WriteFile(path, b.Bytes(), 0o644))
}

func tempPNG(m image.Image) (string, bool) {
	f, err := os.CreateTemp("", "fixture-*.png")
	must(err)
	must(png.Encode(f, m))
	must(f.Close())
	return f.Name(), true
}

// run executes an external converter, or reports that it is missing.
func run(name string, args ...string) {
	if _, err := exec.LookPath(name); err != nil {
		log.Printf("%s not installed: %s not regenerated", name, filepath.Base(args[len(args)-1]))
		return
	}
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	must(cmd.Run())
}

func read(path string) []byte {
	b, err := os.ReadFile(path)
	must(err)
	return b
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
