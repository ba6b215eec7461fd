package imageio

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swav-go/swav/internal/hostile"
)

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestScanJPEGCountsScans(t *testing.T) {
	// The fixtures were written by libjpeg-turbo's jpegtran (see
	// testdata/gen_jpeg_fixtures.sh): its default progressive script has
	// 10 scans for YCbCr; the restart variants put an RSTn marker after
	// every MCU inside each scan; many_scans.jpg follows a 100-scan script.
	tests := []struct {
		name string
		data []byte
		want jpegScans
	}{
		{"sunset.jpg (baseline)", mustRead(t, "../testdata/images/sunset.jpg"), jpegScans{96, 64, 3, false, 1}},
		{"cmyk.jpg (baseline, 4 components)", mustRead(t, "testdata/cmyk.jpg"), jpegScans{32, 16, 4, false, 1}},
		{"baseline_rst.jpg", mustRead(t, "testdata/baseline_rst.jpg"), jpegScans{96, 64, 3, false, 1}},
		{"progressive.jpg", mustRead(t, "testdata/progressive.jpg"), jpegScans{96, 64, 3, true, 10}},
		{"progressive_rst.jpg", mustRead(t, "testdata/progressive_rst.jpg"), jpegScans{96, 64, 3, true, 10}},
		{"many_scans.jpg", mustRead(t, "testdata/many_scans.jpg"), jpegScans{96, 64, 3, true, 100}},
		{"written, libjpeg-like script", encodeProgressive(16, 16, testPlanes(16, 16), libjpegLikeScript), jpegScans{16, 16, 3, true, 10}},
		{"bomb", progressiveBomb(8192, 8192, 100), jpegScans{8192, 8192, 1, true, 100}},
		{"baseline, 5 scans", baselineManyScans(24, 8, 5), jpegScans{24, 8, 1, false, 5}},
		{"not a JPEG", []byte("\x89PNG\r\n\x1a\n"), jpegScans{}},
	}
	for _, tc := range tests {
		if got := scanJPEG(tc.data); got != tc.want {
			t.Errorf("%s: scanJPEG = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestScanJPEGFollowsImageJPEGParsing(t *testing.T) {
	base := encodeProgressive(16, 16, testPlanes(16, 16), libjpegLikeScript)
	sos := bytes.Index(base, []byte{0xff, 0xda})
	// A hostile file may hide a scan from a naive parser; each of these
	// still holds 10 scans that image/jpeg decodes.
	junk := append(append(append([]byte{}, base[:sos]...), 0x12, 0x34, 0xff, 0x00, 0x56, 0xff, 0xff, 0xff), base[sos:]...)
	for name, data := range map[string][]byte{"stray and fill bytes before a scan": junk} {
		if got := scanJPEG(data).scans; got != 10 {
			t.Errorf("%s: %d scans, want 10", name, got)
		}
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			t.Errorf("%s: image/jpeg fails (%v): the test file is not what it claims", name, err)
		}
	}
	// An SOS inside an APPn segment or after EOI is not a scan; a scan
	// before the frame header or a second frame header end the file for
	// image/jpeg, and for scanJPEG.
	app := append(append(append([]byte{}, base[:2]...), 0xff, 0xe1, 0x00, 0x06, 0xff, 0xda, 0x00, 0x02), base[2:]...)
	if got := scanJPEG(app).scans; got != 10 {
		t.Errorf("SOS inside APP1: %d scans, want 10", got)
	}
	after := append(append([]byte{}, base...), 0xff, 0xda, 0x00, 0x08, 1, 1, 0, 1, 63, 0)
	if got := scanJPEG(after).scans; got != 10 {
		t.Errorf("SOS after EOI: %d scans, want 10", got)
	}
	sof := bytes.Index(base, []byte{0xff, 0xc2})
	twoSOF := append(append(append([]byte{}, base[:sos]...), base[sof:sof+2+17]...), base[sos:]...)
	if got := scanJPEG(twoSOF).scans; got != 0 {
		t.Errorf("second SOF: %d scans, want 0 (image/jpeg stops there)", got)
	}
	if _, err := jpeg.Decode(bytes.NewReader(twoSOF)); err == nil {
		t.Errorf("image/jpeg decodes a file with two frame headers: the test's premise is wrong")
	}
}

// testPlanes returns smooth Y, Cb and Cr planes of a w×h test picture.
func testPlanes(w, h int) [][]uint8 {
	planes := [][]uint8{make([]uint8, w*h), make([]uint8, w*h), make([]uint8, w*h)}
	for y := range h {
		for x := range w {
			planes[0][y*w+x] = uint8(16 + (x*200)/w + (y*30)/h)
			planes[1][y*w+x] = uint8(128 + (x-w/2)*60/w)
			planes[2][y*w+x] = uint8(128 + (y-h/2)*60/h)
		}
	}
	return planes
}

func TestProgressiveFixturesDecodeLikeBaseline(t *testing.T) {
	// jpegtran rewrites the same DCT coefficients, so these versions of
	// sunset.jpg decode to exactly the same pixels. (image/jpeg cannot
	// decode progressive_rst.jpg, progressive scans with restart markers:
	// "missing 0xff00 sequence"; it serves scanJPEG's test only.)
	want, err := DecodeFile("../testdata/images/sunset.jpg", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"baseline_rst.jpg", "progressive.jpg", "many_scans.jpg"} {
		got, err := DecodeFile(filepath.Join("testdata", name), Options{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got.(*image.RGBA).Pix, want.(*image.RGBA).Pix) {
			t.Errorf("%s decodes to other pixels than sunset.jpg", name)
		}
	}
	_, err = DecodeFile("testdata/many_scans.jpg", Options{MaxJPEGScans: 99})
	if !errors.Is(err, ErrTooComplex) || !errors.Is(err, ErrTooLarge) ||
		!strings.Contains(err.Error(), "many_scans.jpg") || !strings.Contains(err.Error(), "100 scans") ||
		!strings.Contains(err.Error(), "MaxJPEGScans") {
		t.Errorf("MaxJPEGScans 99: err = %v, want ErrTooComplex naming the file, 100 scans and the option", err)
	}
}

func TestWrittenProgressiveJPEGDecodes(t *testing.T) {
	// A 10-scan progressive JPEG of a 256×192 colour picture (the shape of
	// libjpeg's script) decodes under the default budget, close to the
	// picture it was made from.
	const w, h = 256, 192
	planes := testPlanes(w, h)
	data := encodeProgressive(w, h, planes, libjpegLikeScript)
	img, err := DecodeBytes(data, "written.jpg", Options{})
	if err != nil {
		t.Fatal(err)
	}
	rgba := img.(*image.RGBA)
	var sum, worst float64
	for y := range h {
		for x := range w {
			i := y*w + x
			r, g, b := color.YCbCrToRGB(planes[0][i], planes[1][i], planes[2][i])
			p := rgba.Pix[rgba.PixOffset(x, y):]
			for c, v := range []uint8{r, g, b} {
				d := float64(int(p[c]) - int(v))
				if d < 0 {
					d = -d
				}
				sum += d
				worst = max(worst, d)
			}
		}
	}
	if mean := sum / (3 * w * h); mean > 1.5 || worst > 12 {
		t.Errorf("decoded picture differs from its source by %.2f on average, %.0f at worst; want ≤ 1.5 and ≤ 12", mean, worst)
	}
}

func TestProgressiveBombRefused(t *testing.T) {
	// The bomb of issue #11: 100 scans over 8192×8192 pixels in 14 KiB,
	// which image/jpeg took 43 s and 320 MB to decode on a loaded 2-core machine.
	bomb := progressiveBomb(8192, 8192, 100)
	if len(bomb) > 16<<10 {
		t.Fatalf("bomb is %d bytes, want a small file", len(bomb))
	}
	path := filepath.Join(t.TempDir(), "bomb.jpg")
	if err := os.WriteFile(path, bomb, 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	start := time.Now()
	alloc := hostile.Allocated(func() { _, err = DecodeFile(path, Options{}) })
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTooComplex) || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooComplex and ErrTooLarge", err)
	}
	for _, want := range []string{path, "progressive JPEG with 100 scans over 8192x8192", "MaxJPEGScanPixels"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if elapsed > time.Second {
		t.Errorf("refusing took %v, want < 1 s", elapsed)
	}
	if alloc > 1<<20 {
		t.Errorf("refusing allocated %d bytes, want < 1 MiB", alloc)
	}
	t.Logf("bomb (%d bytes) refused in %v, %d bytes allocated", len(bomb), elapsed, alloc)

	// 3000 scans of a 256×256 image fit the pixel budget (2×10^8) but not
	// the scan limit.
	many := progressiveBomb(256, 256, 3000)
	start = time.Now()
	_, _, err = DecodeConfig(many, "many.jpg", Options{})
	if !errors.Is(err, ErrTooComplex) || !strings.Contains(err.Error(), "3000 scans, over the limit of 100 (Options.MaxJPEGScans)") {
		t.Errorf("3000 scans: err = %v, want the scan limit", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusing 3000 scans took %v", d)
	}
}

func TestJPEGBudgetOptions(t *testing.T) {
	bomb := progressiveBomb(64, 64, 100) // 100 × 4096 = 409,600 scan-pixels
	tests := []struct {
		opts    Options
		wantErr string // "" for success
	}{
		{Options{}, ""},
		{Options{MaxJPEGScans: 100, MaxJPEGScanPixels: 409600}, ""}, // limits are inclusive
		{Options{MaxJPEGScans: 99}, "100 scans, over the limit of 99"},
		{Options{MaxJPEGScanPixels: 409599}, "409600 scan-pixels, over the budget of 409599"},
		{Options{MaxJPEGScans: -1, MaxJPEGScanPixels: -1}, ""},
	}
	for _, tc := range tests {
		img, err := DecodeBytes(bomb, "b.jpg", tc.opts)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%+v: %v", tc.opts, err)
		case tc.wantErr == "" && img.Bounds() != image.Rect(0, 0, 64, 64):
			t.Errorf("%+v: bounds %v", tc.opts, img.Bounds())
		case tc.wantErr != "" && (!errors.Is(err, ErrTooComplex) || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%+v: err = %v, want ErrTooComplex with %q", tc.opts, err, tc.wantErr)
		}
	}
	if _, err := DecodeBytes(progressiveBomb(8, 8, 101), "b.jpg", Options{MaxJPEGScans: -1}); err != nil {
		t.Errorf("MaxJPEGScans -1: 101 scans refused: %v", err)
	}
}

func TestSequentialJPEGWithExtraScansRefused(t *testing.T) {
	one, err := DecodeBytes(baselineManyScans(16, 8, 1), "one.jpg", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := one.(*image.Gray); !ok || g.Pix[0] != 128 || g.Pix[len(g.Pix)-1] != 128 {
		t.Errorf("one-scan baseline file decodes to %T, want flat grey 128", one)
	}
	// image/jpeg decodes the whole frame once per scan: 20 scans of a
	// 1024×1024 frame (490 KB) would cost about 0.4 s, and 16 of an
	// 8192×8192 frame tens of seconds.
	_, err = DecodeBytes(baselineManyScans(16, 8, 2), "two.jpg", Options{})
	if !errors.Is(err, ErrTooComplex) || !strings.Contains(err.Error(), "sequential JPEG with 2 scans for 1 components") {
		t.Errorf("two scans of one component: err = %v, want ErrTooComplex", err)
	}
}

func TestDecodeFileRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero.png")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "folder.jpg")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, reason := range map[string]string{zero: "character device", fifo: "named pipe", folder: "directory"} {
		done := make(chan error, 1)
		start := time.Now()
		go func() { _, err := DecodeFile(path, Options{}); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), reason) {
				t.Errorf("%s: err = %v, want ErrNotRegular naming the path and %q", filepath.Base(path), err, reason)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("%s: refused after %v", filepath.Base(path), d)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: DecodeFile still blocked after 5 s", filepath.Base(path))
		}
	}
}

func TestDecodeFileSizeCap(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.jpg")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0xff, 0xd8, 0xff}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Truncate(huge, 4<<30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	start := time.Now()
	alloc := hostile.Allocated(func() { _, err = DecodeFile(huge, Options{}) })
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), huge) ||
		!strings.Contains(err.Error(), "4294967296 bytes") || !strings.Contains(err.Error(), "MaxFileBytes") {
		t.Errorf("4 GiB file: err = %v, want ErrTooLarge naming the path, its size and the option", err)
	}
	if d := time.Since(start); d > time.Second || alloc > 64<<10 {
		t.Errorf("4 GiB file refused after %v and %d bytes allocated, want < 1 s and < 64 KiB", d, alloc)
	}

	// The cap is inclusive, and configurable.
	sunset := mustRead(t, "../testdata/images/sunset.jpg")
	small := filepath.Join(dir, "sunset.jpg")
	if err := os.WriteFile(small, sunset, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeFile(small, Options{MaxFileBytes: int64(len(sunset))}); err != nil {
		t.Errorf("file of exactly MaxFileBytes: %v", err)
	}
	if _, err := DecodeFile(small, Options{MaxFileBytes: int64(len(sunset)) - 1}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("file one byte over MaxFileBytes: err = %v, want ErrTooLarge", err)
	}
}

func TestDecodeFileSniffsBeforeReading(t *testing.T) {
	// A 64 MiB file (under the cap) in no image format is refused from its
	// first bytes, without reading or allocating the rest.
	path := filepath.Join(t.TempDir(), "movie.png")
	if err := os.WriteFile(path, []byte("RIFF....AVI LIST"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 64<<20); err != nil {
		t.Fatal(err)
	}
	var err error
	alloc := hostile.Allocated(func() { _, err = DecodeFile(path, Options{}) })
	if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), `"RIFF....`) {
		t.Errorf("err = %v, want ErrUnknownFormat quoting the first bytes", err)
	}
	if alloc > 64<<10 {
		t.Errorf("refusing allocated %d bytes, want < 64 KiB", alloc)
	}
}

// zeros is an endless reader that counts what it hands out.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	clear(p)
	z.n += int64(len(p))
	return len(p), nil
}

func TestDecodeReaderCap(t *testing.T) {
	z := &zeros{}
	_, err := Decode(z, "stream", Options{MaxFileBytes: 1 << 20})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "MaxFileBytes") {
		t.Errorf("endless reader: err = %v, want ErrTooLarge", err)
	}
	if z.n > 2<<20 {
		t.Errorf("read %d bytes of an endless reader with a 1 MiB cap", z.n)
	}
}
