package imageio

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the committed fuzz seed corpora under testdata/fuzz")

// fuzzSeeds returns the seed corpus shared by FuzzSniff and FuzzDecodeConfig:
// each format's magic, small JPEGs that exercise the scan counter (a
// written progressive file, bombs, stray bytes, a hidden SOS, truncation).
func fuzzSeeds() map[string][]byte {
	prog := encodeProgressive(16, 16, testPlanes(16, 16), libjpegLikeScript)
	sos := bytes.Index(prog, []byte{0xff, 0xda})
	seeds := map[string][]byte{
		"magic-jpeg":         []byte("\xff\xd8\xff"),
		"magic-png":          []byte("\x89PNG\r\n\x1a\n"),
		"magic-gif":          []byte("GIF89a"),
		"magic-webp":         []byte("RIFF\x00\x00\x00\x00WEBP"),
		"magic-bmp":          []byte("BM"),
		"magic-tiff-le":      []byte("II*\x00"),
		"magic-tiff-be":      []byte("MM\x00*"),
		"jpeg-progressive":   prog,
		"jpeg-truncated":     prog[:len(prog)/2],
		"jpeg-bomb":          progressiveBomb(64, 64, 5),
		"jpeg-baseline-2":    baselineManyScans(16, 8, 2),
		"jpeg-stray-bytes":   append(append(slices.Clone(prog[:sos]), 0x12, 0xff, 0x00, 0xff, 0xff), prog[sos:]...),
		"jpeg-sos-in-app1":   append(append(slices.Clone(prog[:2]), 0xff, 0xe1, 0x00, 0x06, 0xff, 0xda, 0x00, 0x02), prog[2:]...),
		"jpeg-sos-after-eoi": append(slices.Clone(prog), 0xff, 0xda, 0x00, 0x08, 1, 1, 0, 1, 63, 0),
	}
	return seeds
}

// TestFuzzSeedCorpora checks that the committed seed corpora are those
// fuzzSeeds generates (run with -update to rewrite them).
func TestFuzzSeedCorpora(t *testing.T) {
	for _, target := range []string{"FuzzSniff", "FuzzDecodeConfig"} {
		dir := filepath.Join("testdata", "fuzz", target)
		for name, data := range fuzzSeeds() {
			want := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data)))
			path := filepath.Join(dir, "seed-"+name)
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != want {
				t.Errorf("%s is missing or stale (err %v): run go test ./imageio -run TestFuzzSeedCorpora -args -update", path, err)
			}
		}
	}
}

// addFixtures adds the repository's image files to a fuzz corpus.
func addFixtures(f *testing.F) {
	for _, dir := range []string{"../testdata/images", "testdata", "testdata/bad", "testdata/exif"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || e.Name() == "huge.png" || !strings.Contains(".jpg.png.gif.webp.bmp.tiff", filepath.Ext(e.Name())) {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
}

var sentinels = []error{ErrEmpty, ErrUnknownFormat, ErrCorrupt, ErrTooLarge}

func wrapsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// fuzzOptions keeps each input's decoding cheap: at most 2^16 pixels and a
// JPEG budget of 2^22 scan-pixels.
var fuzzOptions = Options{MaxPixels: 1 << 16, MaxJPEGScanPixels: 1 << 22, MaxFileBytes: 1 << 20}

// FuzzSniff checks the sniffing that DecodeFile does on a file's first
// bytes: it needs no more than sniffLen bytes, agrees with DecodeConfig's
// verdict, and DecodeFile on a file behaves exactly as DecodeBytes on its
// content.
func FuzzSniff(f *testing.F) {
	addFixtures(f)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		format := Sniff(data)
		if head := Sniff(data[:min(len(data), sniffLen)]); head != format {
			t.Fatalf("Sniff = %q on the data but %q on its first %d bytes", format, head, sniffLen)
		}
		_, cfgFormat, err := DecodeConfig(data, "fuzz", fuzzOptions)
		switch {
		case len(data) == 0:
			if !errors.Is(err, ErrEmpty) {
				t.Fatalf("empty data: %v", err)
			}
		case format == "":
			if !errors.Is(err, ErrUnknownFormat) {
				t.Fatalf("Sniff found no format but DecodeConfig says %v", err)
			}
		case errors.Is(err, ErrUnknownFormat) || cfgFormat != format:
			t.Fatalf("Sniff = %q but DecodeConfig = %q, %v", format, cfgFormat, err)
		}

		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		fromFile, errFile := DecodeFile(path, fuzzOptions)
		fromBytes, errBytes := DecodeBytes(data, path, fuzzOptions)
		switch {
		case (errFile == nil) != (errBytes == nil) || (errFile != nil && errFile.Error() != errBytes.Error()):
			t.Fatalf("DecodeFile: %v\nDecodeBytes: %v", errFile, errBytes)
		case errFile != nil && !wrapsSentinel(errFile):
			t.Fatalf("error %q wraps no sentinel", errFile)
		case errFile == nil && fromFile.Bounds() != fromBytes.Bounds():
			t.Fatalf("DecodeFile bounds %v, DecodeBytes %v", fromFile.Bounds(), fromBytes.Bounds())
		}
	})
}

// FuzzDecodeConfig checks DecodeConfig and the JPEG scan counter: errors
// wrap a sentinel; scanJPEG finds the frame header image/jpeg finds (the
// same dimensions), never counts a scan that has no SOS marker, counts at
// least one scan in every JPEG image/jpeg decodes, and counts no more in a
// prefix; and decoding under the budget stays fast.
func FuzzDecodeConfig(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, format, err := DecodeConfig(data, "fuzz", fuzzOptions)
		if err != nil && !wrapsSentinel(err) {
			t.Fatalf("error %q wraps no sentinel", err)
		}
		if err == nil && (cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > 1<<16) {
			t.Fatalf("DecodeConfig accepted %dx%d", cfg.Width, cfg.Height)
		}

		s := scanJPEG(data)
		if markers := bytes.Count(data, []byte{0xff, 0xda}); s.scans > markers {
			t.Fatalf("%d scans but %d SOS markers", s.scans, markers)
		}
		if s.width != 0 && s.components != 1 && s.components != 3 && s.components != 4 {
			t.Fatalf("frame with %d components", s.components)
		}
		if p := scanJPEG(data[:len(data)/2]); p.scans > s.scans {
			t.Fatalf("half of the data has %d scans, all of it %d", p.scans, s.scans)
		}
		if len(data) >= 2 && data[0] == 0xff && data[1] == 0xd8 {
			if jc, err := jpeg.DecodeConfig(bytes.NewReader(data)); err == nil && (jc.Width != s.width || jc.Height != s.height) {
				t.Fatalf("image/jpeg finds a %dx%d frame, scanJPEG %+v", jc.Width, jc.Height, s)
			}
		}

		start := time.Now()
		img, err := DecodeBytes(data, "fuzz", fuzzOptions)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("decoding took %v under the budget", d)
		}
		if err != nil && !wrapsSentinel(err) {
			t.Fatalf("error %q wraps no sentinel", err)
		}
		if err == nil && format == FormatJPEG && s.scans < 1 {
			t.Fatalf("image/jpeg decoded a %v image but scanJPEG counted %+v", img.Bounds(), s)
		}
	})
}
