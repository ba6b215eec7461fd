package dataset_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/swav-go/swav/dataset"
)

// idxBytes builds an IDX file by hand: magic 0x0000 08 <ndims>, the
// dimensions as big-endian uint32, then data.
func idxBytes(dims []uint32, data []byte) []byte {
	out := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		out = binary.BigEndian.AppendUint32(out, d)
	}
	return append(out, data...)
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Three 2×3 images with pixel values 10·image + position, labels 2, 0, 2.
var (
	tinyPix    = []byte{0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25}
	tinyLabels = []byte{2, 0, 2}
)

func TestIDXTiny(t *testing.T) {
	images := idxBytes([]uint32{3, 2, 3}, tinyPix)
	labels := idxBytes([]uint32{3}, tinyLabels)
	for _, tc := range []struct {
		name           string
		images, labels []byte
		imgFile        string
	}{
		{"raw", images, labels, "imgs-idx3-ubyte"},
		{"gzip", gz(t, images), gz(t, labels), "imgs-idx3-ubyte.gz"},
		{"gzip content without .gz name", gz(t, images), labels, "imgs.bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src, err := dataset.IDX(writeFile(t, dir, tc.imgFile, tc.images), writeFile(t, dir, "labels", tc.labels))
			if err != nil {
				t.Fatal(err)
			}
			if src.Len() != 3 {
				t.Fatalf("Len = %d", src.Len())
			}
			if h, w := src.ImageSize(); h != 2 || w != 3 {
				t.Errorf("ImageSize = %d, %d", h, w)
			}
			for i := 0; i < 3; i++ {
				img, err := src.Image(i)
				if err != nil {
					t.Fatal(err)
				}
				g := img.(*image.Gray)
				if g.Rect != image.Rect(0, 0, 3, 2) {
					t.Fatalf("bounds %v", g.Rect)
				}
				for y := 0; y < 2; y++ {
					for x := 0; x < 3; x++ {
						if want := uint8(10*i + 3*y + x); g.GrayAt(x, y).Y != want {
							t.Errorf("image %d (%d,%d) = %d, want %d", i, x, y, g.GrayAt(x, y).Y, want)
						}
					}
				}
				if l, ok := src.Label(i); !ok || l != int(tinyLabels[i]) {
					t.Errorf("Label(%d) = %d, %v", i, l, ok)
				}
			}
			if got := src.Name(1); got != tc.imgFile+"#1" {
				t.Errorf("Name(1) = %q", got)
			}
			if got := src.Classes(); !reflect.DeepEqual(got, []string{"0", "1", "2"}) {
				t.Errorf("Classes = %q", got)
			}
			// Image returns a copy: changing it leaves the source intact.
			img, _ := src.Image(0)
			img.(*image.Gray).Pix[0] = 99
			if src.Pixels(0)[0] != 0 {
				t.Error("Image aliases the packed pixels")
			}
		})
	}
}

func TestIDXUnlabelled(t *testing.T) {
	dir := t.TempDir()
	src, err := dataset.IDX(writeFile(t, dir, "i", idxBytes([]uint32{3, 2, 3}, tinyPix)), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.Label(0); ok {
		t.Error("Label reports a label without a label file")
	}
	if src.Classes() != nil {
		t.Errorf("Classes = %q, want nil", src.Classes())
	}
}

func TestIDXErrors(t *testing.T) {
	good := idxBytes([]uint32{3, 2, 3}, tinyPix)
	goodLabels := idxBytes([]uint32{3}, tinyLabels)
	tests := []struct {
		name           string
		images, labels []byte // labels nil: no label file
		badFile        string // "images" or "labels": which file the error names
		mention        string
		isIDX          bool
	}{
		{"bad magic", append([]byte{1, 2}, good[2:]...), nil, "images", "bad magic number 0x01020803", true},
		{"float elements", append([]byte{0, 0, 0x0D, 3}, good[4:]...), nil, "images", "element type 0x0d", true},
		{"labels given as images", goodLabels, nil, "images", "1 dimensions, want 3", true},
		{"images given as labels", good, good, "labels", "3 dimensions, want 1", true},
		{"truncated data", good[:len(good)-1], nil, "images", "need 18 data bytes but the file holds 17", true},
		{"truncated header", good[:7], nil, "images", "truncated dimensions", true},
		{"truncated gzip data", gz(t, good[:len(good)-4]), nil, "images", "truncated", true},
		{"trailing data", append(append([]byte{}, good...), 7), nil, "images", "holds 19", true},
		{"trailing data gzip", gz(t, append(append([]byte{}, good...), 7)), nil, "images", "holds more", true},
		{"count mismatch", good, idxBytes([]uint32{4}, []byte{1, 2, 3, 4}), "labels", "4 labels but", true},
		{"zero-size images", idxBytes([]uint32{3, 0, 3}, nil), nil, "images", "images are 0x3", true},
		{"huge header", idxBytes([]uint32{0xFFFFFFFF, 0xFFFF, 0xFFFF}, nil), nil, "images", "declare more than", true},
		{"empty file", []byte{}, nil, "images", "truncated header", true},
		{"truncated gzip header", []byte{0x1f, 0x8b}, nil, "images", "truncated gzip header", true}, // found by FuzzIDX
		{"bad gzip header", append([]byte{0x1f, 0x8b, 0x09}, bytes.Repeat([]byte{0}, 20)...), nil, "images", "gzip: invalid header", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			paths := map[string]string{"images": writeFile(t, dir, "images.idx", tc.images)}
			labelsPath := ""
			if tc.labels != nil {
				labelsPath = writeFile(t, dir, "labels.idx", tc.labels)
				paths["labels"] = labelsPath
			}
			_, err := dataset.IDX(paths["images"], labelsPath)
			if err == nil {
				t.Fatal("IDX succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "idx "+paths[tc.badFile]+": ") {
				t.Errorf("error %q does not start by naming %s", msg, paths[tc.badFile])
			}
			if !strings.Contains(msg, tc.mention) {
				t.Errorf("error %q does not mention %q", msg, tc.mention)
			}
			if errors.Is(err, dataset.ErrIDX) != tc.isIDX {
				t.Errorf("errors.Is(%q, ErrIDX) = %v, want %v", msg, !tc.isIDX, tc.isIDX)
			}
		})
	}
	if _, err := dataset.IDX(filepath.Join(t.TempDir(), "missing"), ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestFashionMNISTLayoutRawFiles(t *testing.T) {
	// FashionMNIST finds uncompressed files too, and rejects labels
	// outside the ten classes.
	dir := t.TempDir()
	writeFile(t, dir, "t10k-images-idx3-ubyte", idxBytes([]uint32{3, 2, 3}, tinyPix))
	writeFile(t, dir, "t10k-labels-idx1-ubyte", idxBytes([]uint32{3}, []byte{9, 0, 1}))
	src, err := dataset.FashionMNIST(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 3 || src.Name(0) != "t10k-images-idx3-ubyte#0" {
		t.Errorf("Len %d, Name(0) %q", src.Len(), src.Name(0))
	}
	if l, _ := src.Label(0); src.Classes()[l] != "Ankle boot" {
		t.Errorf("class of label %d = %q", l, src.Classes()[l])
	}
	if _, err := dataset.FashionMNIST(dir, true); !errors.Is(err, fs.ErrNotExist) ||
		!strings.Contains(err.Error(), "train-images-idx3-ubyte.gz") || !strings.Contains(err.Error(), "apt-get install -y dataset-fashion-mnist") {
		t.Errorf("missing train files: err = %v", err)
	}
	writeFile(t, dir, "t10k-labels-idx1-ubyte", idxBytes([]uint32{3}, []byte{9, 10, 1}))
	if _, err := dataset.FashionMNIST(dir, false); !errors.Is(err, dataset.ErrIDX) || !strings.Contains(err.Error(), "label 10") {
		t.Errorf("label 10: err = %v", err)
	}
}

// TestFashionMNISTReal reads the real dataset from Debian's package. It
// must not be skipped: a missing package is a failure.
func TestFashionMNISTReal(t *testing.T) {
	if _, err := os.Stat(dataset.DefaultFashionMNISTDir); err != nil {
		t.Fatalf("Fashion-MNIST is not installed (%v); install it with: apt-get install -y dataset-fashion-mnist", err)
	}
	tests := []struct {
		train     bool
		n         int
		perClass  int
		firstName string
	}{
		{true, 60000, 6000, "train-images-idx3-ubyte.gz#0"},
		{false, 10000, 1000, "t10k-images-idx3-ubyte.gz#0"},
	}
	for _, tc := range tests {
		src, err := dataset.FashionMNIST("", tc.train)
		if err != nil {
			t.Fatalf("FashionMNIST(train=%v): %v; install it with: apt-get install -y dataset-fashion-mnist", tc.train, err)
		}
		if src.Len() != tc.n {
			t.Fatalf("train=%v: Len = %d, want %d", tc.train, src.Len(), tc.n)
		}
		if h, w := src.ImageSize(); h != 28 || w != 28 {
			t.Errorf("train=%v: image size %dx%d, want 28x28", tc.train, h, w)
		}
		if src.Name(0) != tc.firstName {
			t.Errorf("Name(0) = %q, want %q", src.Name(0), tc.firstName)
		}
		counts := make([]int, 10)
		for i := 0; i < src.Len(); i++ {
			l, ok := src.Label(i)
			if !ok || l < 0 || l > 9 {
				t.Fatalf("train=%v: Label(%d) = %d, %v", tc.train, i, l, ok)
			}
			counts[l]++
		}
		for c, n := range counts {
			if n != tc.perClass {
				t.Errorf("train=%v: class %d has %d images, want %d", tc.train, c, n, tc.perClass)
			}
		}
		if !reflect.DeepEqual(src.Classes(), dataset.FashionMNISTClasses()) {
			t.Errorf("Classes = %q", src.Classes())
		}
		img, err := src.Image(src.Len() - 1)
		if err != nil || img.Bounds() != image.Rect(0, 0, 28, 28) {
			t.Errorf("last image: %v, %v", img.Bounds(), err)
		}
		if tc.train {
			// Known first training item: an ankle boot.
			if l, _ := src.Label(0); l != 9 || src.Classes()[l] != "Ankle boot" {
				t.Errorf("first train label = %d (%q), want 9 (Ankle boot)", l, src.Classes()[l])
			}
		}
	}
}
