package dataset

import (
	"errors"
	"fmt"
	"image"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

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
	// CaseSensitive matches the pattern's letters to the same case only
	// (see WalkOptions); by default "*.jpg" also matches "IMG_0001.JPG".
	CaseSensitive bool
}

// Folder is a Source of image files listed by Glob. Its items are the
// matched files, in path order, followed by the paths the listing could not
// read (see Glob), whose Image returns the *WalkError.
type Folder struct {
	pattern string
	root    string   // the pattern's static base directory
	paths   []string // in the OS's path syntax
	failed  []*WalkError
	labels  []int    // nil when unlabelled; one per path, then one per failure (-1: none)
	classes []string // nil when unlabelled
	decode  imageio.Options
}

// Glob lists the files matching a doublestar pattern such as
// "photos/**/*.{jpg,png}" ("**" crosses directories, "{a,b}" is
// alternation; use "/" as separator on every OS). Directories are skipped,
// and so are hidden files and folders (names starting with "."), such as
// macOS's "._x.jpg" resource forks, unless the pattern names them
// explicitly. Letters match either case unless opts.CaseSensitive ("*.jpg"
// matches "IMG_0001.JPG"); symbolic links are followed, but a link back to
// one of its own ancestor directories is not entered again.
//
// A pattern naming a directory (no meta characters) stands for every image
// below it, as in Walk: Glob("train", FolderOptions{Labels: true}) is
// torchvision's ImageFolder("train").
//
// The static base directory is the part of the pattern before the first
// element holding a meta character ("photos" above). Files are ordered by
// their path below it, compared element by element, so the order is
// deterministic and, with Labels, grouped by class. Files are not opened:
// a corrupt file fails only when Image decodes it.
//
// An I/O error while listing (an unreadable sub-folder, a symbolic link
// loop; see Walk) does not fail Glob: each path that could not be read
// becomes an item after the files, named by its absolute path, whose Image
// returns its *WalkError, so that the consumer's OnError policy skips and
// reports it, or fails, like a corrupt file. With Labels such an item has
// the label of the class folder it lies in, if that class holds files, and
// no label otherwise.
//
// A pattern matching no file returns an error wrapping ErrNoMatch that
// names the pattern (and wraps the first listing failure, if any; a path
// without meta characters that does not exist is said to be missing); a
// malformed pattern is an error too.
func Glob(pattern string, opts FolderOptions) (*Folder, error) {
	root, matches, failed, err := list(pattern, WalkOptions{CaseSensitive: opts.CaseSensitive})
	if err != nil {
		return nil, err
	}
	if len(matches) == 0 {
		if _, serr := os.Stat(pattern); errors.Is(serr, fs.ErrNotExist) && !strings.ContainsAny(filepath.ToSlash(pattern), metaChars) {
			return nil, fmt.Errorf("dataset: %s does not exist: %w", pattern, ErrNoMatch)
		}
		if len(failed) > 0 {
			return nil, fmt.Errorf("dataset: pattern %q: %w (searched under %s), and %d path(s) could not be read, the first: %w",
				pattern, ErrNoMatch, filepath.FromSlash(root), len(failed), failed[0])
		}
		return nil, fmt.Errorf("dataset: pattern %q: %w (searched under %s)", pattern, ErrNoMatch, filepath.FromSlash(root))
	}
	slices.SortFunc(matches, comparePaths)
	matches = slices.Compact(matches) // alternatives like {a,a*} can repeat a file
	slices.SortFunc(failed, func(a, b *WalkError) int { return comparePaths(a.rel, b.rel) })

	f := &Folder{pattern: pattern, root: filepath.FromSlash(root), failed: failed, decode: opts.Decode}
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
	f.labels = make([]int, len(names), len(names)+len(failed))
	for i, c := range names {
		f.labels[i], _ = slices.BinarySearch(f.classes, c)
	}
	for _, e := range failed {
		label := -1
		if class, _, ok := strings.Cut(e.rel, "/"); ok {
			if k, found := slices.BinarySearch(f.classes, class); found {
				label = k
			}
		}
		f.labels = append(f.labels, label)
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

// Len returns the number of items: the files, then the paths that could
// not be read while listing them.
func (f *Folder) Len() int { return len(f.paths) + len(f.failed) }

// Name returns the path of item i: for a file, the pattern's base directory
// joined with the matched path; for a listing failure, its absolute path.
func (f *Folder) Name(i int) string {
	if i >= len(f.paths) && i < f.Len() {
		return f.failed[i-len(f.paths)].Path
	}
	return f.paths[i]
}

// Image decodes file i with imageio.DecodeFile; see that function for the
// result types and errors, which name the file. For a listing failure it
// returns the *WalkError, which names the path.
func (f *Folder) Image(i int) (image.Image, error) {
	if i >= len(f.paths) && i < f.Len() {
		return nil, f.failed[i-len(f.paths)]
	}
	return imageio.DecodeFile(f.paths[i], f.decode)
}

// Label returns the class index of item i when the folder is labelled; a
// listing failure outside every class folder holding files has none.
func (f *Folder) Label(i int) (int, bool) {
	if f.labels == nil {
		_ = f.Name(i) // same bounds check as a labelled folder
		return 0, false
	}
	if l := f.labels[i]; l >= 0 {
		return l, true
	}
	return 0, false
}

// Failed returns the paths that could not be read while listing the files
// (also the last items of the folder), sorted by path.
func (f *Folder) Failed() []*WalkError { return slices.Clone(f.failed) }

// Classes returns a copy of the sorted class names, or nil when unlabelled.
func (f *Folder) Classes() []string { return slices.Clone(f.classes) }

// Root returns the pattern's static base directory, below which paths and
// class folders are resolved.
func (f *Folder) Root() string { return f.root }

// Pattern returns the pattern given to Glob.
func (f *Folder) Pattern() string { return f.pattern }
