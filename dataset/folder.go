package dataset

import (
	"errors"
	"fmt"
	"image"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/swav-go/swav/imageio"
)

// ErrNoMatch is wrapped by Glob when its pattern matches no file.
var ErrNoMatch = errors.New("pattern matched no files")

// FolderOptions configures Glob.
type FolderOptions struct {
	// Labels labels each file by the first path element below the
	// pattern's static base directory (torchvision's ImageFolder
	// convention: root/cat/x.jpg has class "cat"). Classes are sorted
	// and numbered from 0. Every matched file must then be inside such a
	// class folder.
	Labels bool
	// Decode is passed to imageio.DecodeFile by Folder.Image.
	Decode imageio.Options
}

// Folder is a Source of image files listed by Glob.
type Folder struct {
	pattern string
	root    string   // the pattern's static base directory
	paths   []string // in the OS's path syntax
	labels  []int    // nil when unlabelled
	classes []string // nil when unlabelled
	decode  imageio.Options
}

// Glob lists the files matching a doublestar pattern such as
// "photos/**/*.{jpg,png}" ("**" crosses directories, "{a,b}" is
// alternation; use "/" as separator on every OS). Directories are skipped,
// and so are hidden files and folders (names starting with "."), such as
// macOS's "._x.jpg" resource forks, unless the pattern names them
// explicitly. Matching is case-sensitive.
//
// The static base directory is the part of the pattern before the first
// element holding a meta character ("photos" above). Files are ordered by
// their path below it, compared element by element, so the order is
// deterministic and, with Labels, grouped by class. Files are not opened:
// a corrupt file fails only when Image decodes it.
//
// A pattern matching nothing returns an error wrapping ErrNoMatch that
// names the pattern; an unreadable directory or a malformed pattern is an
// error too.
func Glob(pattern string, opts FolderOptions) (*Folder, error) {
	if pattern == "" {
		return nil, errors.New("dataset: empty glob pattern")
	}
	p := filepath.ToSlash(filepath.Clean(pattern))
	if !doublestar.ValidatePattern(p) {
		return nil, fmt.Errorf("dataset: pattern %q: %w", pattern, doublestar.ErrBadPattern)
	}
	root, rest := doublestar.SplitPattern(p)
	matches, err := doublestar.Glob(os.DirFS(root), rest,
		doublestar.WithFilesOnly(), doublestar.WithFailOnIOErrors(), doublestar.WithNoHidden())
	if err != nil {
		return nil, fmt.Errorf("dataset: pattern %q: %w", pattern, err)
	}
	if len(matches) == 0 {
		return nil, fmt.Errorf("dataset: pattern %q: %w (searched under %s)", pattern, ErrNoMatch, filepath.FromSlash(root))
	}
	slices.SortFunc(matches, comparePaths)
	matches = slices.Compact(matches) // alternatives like {a,a*} can repeat a file

	f := &Folder{pattern: pattern, root: filepath.FromSlash(root), decode: opts.Decode}
	f.paths = make([]string, len(matches))
	for i, m := range matches {
		f.paths[i] = filepath.FromSlash(path.Join(root, m))
	}
	if !opts.Labels {
		return f, nil
	}
	names := make([]string, len(matches))
	for i, m := range matches {
		class, _, ok := strings.Cut(m, "/")
		if !ok {
			return nil, fmt.Errorf("dataset: pattern %q: with Labels every file must be in a class folder below %s, but %s is directly in it",
				pattern, f.root, f.paths[i])
		}
		names[i] = class
	}
	f.classes = slices.Compact(slices.Sorted(slices.Values(names)))
	f.labels = make([]int, len(names))
	for i, c := range names {
		f.labels[i], _ = slices.BinarySearch(f.classes, c)
	}
	return f, nil
}

// comparePaths orders slash-separated paths element by element, so that
// "a/x" < "a-b/y" (the folder "a" sorts before "a-b") as in a sorted tree.
func comparePaths(a, b string) int {
	for {
		ea, ra, moreA := strings.Cut(a, "/")
		eb, rb, moreB := strings.Cut(b, "/")
		if c := strings.Compare(ea, eb); c != 0 {
			return c
		}
		switch {
		case !moreA && !moreB:
			return 0
		case !moreA: // a is a proper prefix of b
			return -1
		case !moreB:
			return 1
		}
		a, b = ra, rb
	}
}

// Len returns the number of files.
func (f *Folder) Len() int { return len(f.paths) }

// Name returns the path of file i (the pattern's base directory joined with
// the matched path).
func (f *Folder) Name(i int) string { return f.paths[i] }

// Image decodes file i with imageio.DecodeFile; see that function for the
// result types and errors, which name the file.
func (f *Folder) Image(i int) (image.Image, error) { return imageio.DecodeFile(f.paths[i], f.decode) }

// Label returns the class index of file i when the folder is labelled.
func (f *Folder) Label(i int) (int, bool) {
	if f.labels == nil {
		_ = f.paths[i] // same bounds check as a labelled folder
		return 0, false
	}
	return f.labels[i], true
}

// Classes returns a copy of the sorted class names, or nil when unlabelled.
func (f *Folder) Classes() []string { return slices.Clone(f.classes) }

// Root returns the pattern's static base directory, below which paths and
// class folders are resolved.
func (f *Folder) Root() string { return f.root }

// Pattern returns the pattern given to Glob.
func (f *Folder) Pattern() string { return f.pattern }
