package dataset_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/imageio"
)

// writeTree creates files under root; a value of "png" or "jpg" writes a
// small valid image of that format whose grey level is len(name), anything
// else is written verbatim (so corrupt files are easy to make).
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := []byte(content)
		if content == "png" || content == "jpg" {
			m := image.NewGray(image.Rect(0, 0, 3, 2))
			for i := range m.Pix {
				m.Pix[i] = uint8(len(name))
			}
			var buf bytes.Buffer
			var err error
			if content == "png" {
				err = png.Encode(&buf, m)
			} else {
				err = jpeg.Encode(&buf, m, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			data = buf.Bytes()
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func rel(t *testing.T, root string, f *dataset.Folder) []string {
	t.Helper()
	out := make([]string, f.Len())
	for i := range out {
		r, err := filepath.Rel(root, f.Name(i))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = filepath.ToSlash(r)
	}
	return out
}

func TestGlob(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"cat/b.jpg":           "jpg",
		"cat/a.png":           "png",
		"cat/sub/c.png":       "png",
		"dog/x.jpg":           "jpg",
		"dog/notes.txt":       "not an image",
		"dog-small/y.png":     "png",
		"bird/bad.png":        "garbage, not a png",
		"bird/.hidden.png":    "png",
		".cache/z.png":        "png",
		"cat/UPPER.PNG":       "png",
		"dir.png/inside.jpeg": "jpg", // a directory named like an image
	})
	tests := []struct {
		name    string
		pattern string
		labels  bool
		caseSen bool
		want    []string
		classes []string
		labelOf []int
	}{
		{
			// Extensions match in any case: cat/UPPER.PNG too.
			name:    "doublestar and braces",
			pattern: "**/*.{jpg,png}",
			want:    []string{"bird/bad.png", "cat/UPPER.PNG", "cat/a.png", "cat/b.jpg", "cat/sub/c.png", "dog/x.jpg", "dog-small/y.png"},
		},
		{
			name:    "labels from first folder, classes sorted",
			pattern: "*/**/*.{jpg,png}",
			labels:  true,
			want:    []string{"bird/bad.png", "cat/UPPER.PNG", "cat/a.png", "cat/b.jpg", "cat/sub/c.png", "dog/x.jpg", "dog-small/y.png"},
			classes: []string{"bird", "cat", "dog", "dog-small"},
			labelOf: []int{0, 1, 1, 1, 1, 2, 3},
		},
		{
			// The directory itself: every image below it (any case, any
			// depth, not notes.txt nor hidden ones nor the directory
			// named dir.png), classes from its sub-folders.
			name:    "directory as ImageFolder",
			pattern: ".",
			labels:  true,
			want:    []string{"bird/bad.png", "cat/UPPER.PNG", "cat/a.png", "cat/b.jpg", "cat/sub/c.png", "dir.png/inside.jpeg", "dog/x.jpg", "dog-small/y.png"},
			classes: []string{"bird", "cat", "dir.png", "dog", "dog-small"},
			labelOf: []int{0, 1, 1, 1, 1, 2, 3, 4},
		},
		{
			name:    "case sensitive on request",
			pattern: "cat/*.png",
			caseSen: true,
			want:    []string{"cat/a.png"},
		},
		{
			name:    "single level star",
			pattern: "cat/*.png",
			want:    []string{"cat/UPPER.PNG", "cat/a.png"},
		},
		{
			name:    "alternation of folders",
			pattern: "{dog,dog-small}/*",
			labels:  true,
			want:    []string{"dog/notes.txt", "dog/x.jpg", "dog-small/y.png"},
			classes: []string{"dog", "dog-small"},
			labelOf: []int{0, 0, 1},
		},
		{
			name:    "hidden file named explicitly",
			pattern: "bird/.hidden.png",
			want:    []string{"bird/.hidden.png"},
		},
		{
			name:    "upper-case pattern, any case",
			pattern: "cat/*.PNG",
			want:    []string{"cat/UPPER.PNG", "cat/a.png"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pattern := filepath.ToSlash(root) + "/" + tc.pattern
			f, err := dataset.Glob(pattern, dataset.FolderOptions{Labels: tc.labels, CaseSensitive: tc.caseSen})
			if err != nil {
				t.Fatal(err)
			}
			if got := rel(t, root, f); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("files %q, want %q", got, tc.want)
			}
			if got := f.Classes(); !reflect.DeepEqual(got, tc.classes) {
				t.Errorf("classes %q, want %q", got, tc.classes)
			}
			for i := 0; i < f.Len(); i++ {
				l, ok := f.Label(i)
				if ok != tc.labels || (ok && l != tc.labelOf[i]) {
					t.Errorf("Label(%d) = %d, %v; want %v, %v", i, l, ok, tc.labelOf, tc.labels)
				}
			}
		})
	}
}

func TestGlobRelativePattern(t *testing.T) {
	// Patterns relative to the working directory, with "./" and "..".
	f, err := dataset.Glob("./../testdata/images/*.{jpg,png}", dataset.FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"../testdata/images/balloon.png", "../testdata/images/lighthouse.jpg",
		"../testdata/images/moon.png", "../testdata/images/mountains.png", "../testdata/images/sunset.jpg"}
	var got []string
	for i := 0; i < f.Len(); i++ {
		got = append(got, filepath.ToSlash(f.Name(i)))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if f.Root() != filepath.FromSlash("../testdata/images") {
		t.Errorf("Root = %q", f.Root())
	}
}

func TestGlobErrors(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"loose.png": "png", "cls/a.png": "png", "docs/readme.txt": "text"})
	base := filepath.ToSlash(root)
	tests := []struct {
		name    string
		pattern string
		labels  bool
		is      error
		mention []string
	}{
		{"no match", base + "/**/*.webp", false, dataset.ErrNoMatch, []string{base + "/**/*.webp", "matched no files"}},
		{"missing dir", base + "/nope/*.png", false, dataset.ErrNoMatch, []string{"nope"}},
		{"missing path", base + "/nope", false, dataset.ErrNoMatch, []string{base + "/nope does not exist"}},
		{"directory without images", base + "/docs", false, dataset.ErrNoMatch, []string{base + "/docs", "matched no files"}},
		{"bad pattern", base + "/[*.png", false, nil, []string{"[*.png"}},
		{"labels need class folder", base + "/**/*.png", true, nil, []string{"loose.png", "class folder"}},
		{"empty", "", false, nil, []string{"empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := dataset.Glob(tc.pattern, dataset.FolderOptions{Labels: tc.labels})
			if err == nil {
				t.Fatalf("Glob succeeded with %d files", f.Len())
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
			for _, m := range tc.mention {
				if !strings.Contains(filepath.ToSlash(err.Error()), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestFolderImages(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"a/good.png":  "png",
		"a/empty.png": "",
		"b/text.jpg":  "hello",
		"b/trunc.png": "\x89PNG\r\n\x1a\n\x00\x00",
	})
	f, err := dataset.Glob(filepath.ToSlash(root)+"/*/*.{png,jpg}", dataset.FolderOptions{Labels: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		want error // nil: decodes
	}{
		{"a/empty.png", imageio.ErrEmpty},
		{"a/good.png", nil},
		{"b/text.jpg", imageio.ErrUnknownFormat},
		{"b/trunc.png", imageio.ErrCorrupt},
	}
	if got := rel(t, root, f); len(got) != len(tests) {
		t.Fatalf("files %q", got)
	}
	for i, tc := range tests {
		img, err := f.Image(i)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.file, err)
				continue
			}
			// writeTree's grey level is len("a/good.png") = 10.
			if g, ok := img.(*image.Gray); !ok || g.Bounds() != image.Rect(0, 0, 3, 2) || g.GrayAt(1, 1) != (color.Gray{10}) {
				t.Errorf("%s: got %T %v", tc.file, img, img.Bounds())
			}
			continue
		}
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), f.Name(i)) {
			t.Errorf("%s: err = %v, want %v naming %s", tc.file, err, tc.want, f.Name(i))
		}
	}
}

func TestFolderDecodeOptions(t *testing.T) {
	f, err := dataset.Glob("../testdata/images/sunset.jpg", dataset.FolderOptions{Decode: imageio.Options{MaxPixels: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Image(0); !errors.Is(err, imageio.ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge from the folder's decode options", err)
	}
}
