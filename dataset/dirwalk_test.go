package dataset_test

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/swav-go/swav/dataset"
)

// relFiles returns files relative to root, slash-separated.
func relFiles(t *testing.T, root string, files []string) []string {
	t.Helper()
	out := make([]string, len(files))
	for i, f := range files {
		r, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = filepath.ToSlash(r)
	}
	return out
}

// TestWalkDirectoryAndCase: a directory given as the pattern lists every image below
// it by extension in any case, at any depth, without hidden entries, non-images or
// directories named like images; "*.jpg" matches IMG_0001.JPG unless CaseSensitive; a
// file matched by two alternatives is listed once; an existing path with meta
// characters in its name is taken literally.
func TestWalkDirectoryAndCase(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"IMG_0001.JPG":          "jpg",
		"b.jpeg":                "jpg",
		"notes.txt":             "not an image",
		"raw.CR2":               "not decodable",
		"sub/c.Png":             "png",
		"sub/deep/d.webp":       "webp bytes", // listed by extension; decoding is not Walk's job
		"sub/e.tiff":            "tiff bytes",
		".hidden/f.png":         "png",
		"sub/.g.png":            "png",
		"dir.png/h.gif":         "gif bytes",
		"2020[1]/i.png":         "png",
		"2020[1]/x[2].bmp":      "bmp bytes",
		"other/lower-only.jpg":  "jpg",
		"other/UPPER-ONLY.JPEG": "jpg",
	})
	walk := func(pattern string, opts dataset.WalkOptions) []string {
		t.Helper()
		files, failed, err := dataset.Walk(pattern, opts)
		if err != nil || len(failed) > 0 {
			t.Fatalf("Walk(%q): failed %v, err %v", pattern, failed, err)
		}
		return relFiles(t, root, files)
	}
	// doublestar's walk order: each directory's files by name, then its sub-folders.
	allImages := []string{"IMG_0001.JPG", "b.jpeg", "2020[1]/i.png", "2020[1]/x[2].bmp", "dir.png/h.gif",
		"other/UPPER-ONLY.JPEG", "other/lower-only.jpg", "sub/c.Png", "sub/e.tiff", "sub/deep/d.webp"}
	sorted := func(s []string) []string { return slices.Sorted(slices.Values(s)) }
	for _, tc := range []struct {
		name, pattern string
		opts          dataset.WalkOptions
		want          []string
	}{
		{"directory", root, dataset.WalkOptions{}, allImages},
		{"directory with a trailing slash", root + string(filepath.Separator), dataset.WalkOptions{}, allImages},
		// Hidden applies to wildcards, not to a directory given as such.
		{"directory, Hidden ignored", root, dataset.WalkOptions{Hidden: true}, allImages},
		{"directory with meta characters, literally", filepath.Join(root, "2020[1]"), dataset.WalkOptions{}, []string{"2020[1]/i.png", "2020[1]/x[2].bmp"}},
		{"file with meta characters, literally", filepath.Join(root, "2020[1]", "x[2].bmp"), dataset.WalkOptions{}, []string{"2020[1]/x[2].bmp"}},
		{"DirPattern of that directory", dataset.DirPattern(filepath.Join(root, "2020[1]")), dataset.WalkOptions{}, []string{"2020[1]/i.png", "2020[1]/x[2].bmp"}},
		{"lower-case extension matches upper case", filepath.ToSlash(root) + "/**/*.jpg", dataset.WalkOptions{}, []string{"IMG_0001.JPG", "other/lower-only.jpg"}},
		{"upper-case pattern matches lower case", filepath.ToSlash(root) + "/other/*.JPG", dataset.WalkOptions{}, []string{"other/lower-only.jpg"}},
		{"case-sensitive on request", filepath.ToSlash(root) + "/**/*.jpg", dataset.WalkOptions{CaseSensitive: true}, []string{"other/lower-only.jpg"}},
		{"two alternatives, one file, listed once", filepath.ToSlash(root) + "/*.{jpg,JPG,Jpg}", dataset.WalkOptions{}, []string{"IMG_0001.JPG"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := walk(tc.pattern, tc.opts)
			if strings.HasPrefix(tc.name, "directory") && !reflect.DeepEqual(sorted(got), sorted(tc.want)) ||
				!strings.HasPrefix(tc.name, "directory") && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Walk(%q) = %q, want %q", tc.pattern, got, tc.want)
			}
		})
	}
	// Every extension of ImageExtensions is lower case without a dot, and the
	// directory listing holds exactly the files whose extension is one of them.
	exts := map[string]bool{}
	for _, e := range dataset.ImageExtensions() {
		if e != strings.ToLower(e) || strings.Contains(e, ".") {
			t.Errorf("extension %q: want lower case without a dot", e)
		}
		exts[e] = true
	}
	for _, f := range allImages {
		if !exts[strings.ToLower(strings.TrimPrefix(filepath.Ext(f), "."))] {
			t.Errorf("%s listed, but its extension is not in ImageExtensions", f)
		}
	}
	// A directory holding no image is no error, and matches nothing.
	empty := filepath.Join(root, "sub", "deep", "none")
	writeTree(t, empty, map[string]string{"readme.md": "text"})
	if got := walk(empty, dataset.WalkOptions{}); len(got) != 0 {
		t.Errorf("Walk of a folder without images = %q, want nothing", got)
	}
}
