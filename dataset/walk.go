package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// ErrSymlinkLoop is wrapped by the WalkError of a directory that is one of
// its own ancestors, reached through a symbolic link: Walk does not enter
// it (again), so a link such as photos/all -> .. cannot make "**" recurse
// forever or list every file once per level.
var ErrSymlinkLoop = errors.New("symbolic link loop")

// WalkError is a path that Walk could not read while listing a pattern's
// files: a directory it could not list, an entry it could not inspect
// (e.g. a symbolic link that points to itself), or a symbolic link loop.
// Files below such a path may be missing from the listing.
type WalkError struct {
	// Path is the absolute path that could not be read.
	Path string
	// Op is the failed operation ("open", "readdirent", "stat", or
	// "enter" for a symbolic link loop).
	Op string
	// Err is the cause: a system error such as syscall.EACCES (test with
	// errors.Is(err, fs.ErrPermission)), or an error wrapping
	// ErrSymlinkLoop.
	Err error

	rel string // slash-separated, below the pattern's base directory
}

// Error formats the failure as "walking PATH: OP: CAUSE".
func (e *WalkError) Error() string { return fmt.Sprintf("walking %s: %s: %v", e.Path, e.Op, e.Err) }

// Unwrap returns the cause.
func (e *WalkError) Unwrap() error { return e.Err }

// WalkOptions configures Walk.
type WalkOptions struct {
	// Hidden matches hidden files and folders (names starting with ".")
	// like any other. By default "*", "?" and "**" skip them, and only a
	// pattern naming them explicitly (".cache/*") matches them. It does not
	// apply to a directory given as the pattern, whose hidden entries are
	// always left out.
	Hidden bool
	// CaseSensitive matches letters in the pattern's wildcard part only
	// to the same case. By default they match either case, so "*.jpg"
	// also matches "IMG_0001.JPG"; the pattern's static base directory is
	// looked up as written either way.
	CaseSensitive bool
}

// ImageExtensions returns the file name extensions (lower case, without
// the dot) of the formats imageio decodes: the files a directory given as
// a pattern stands for.
func ImageExtensions() []string {
	return []string{"jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff"}
}

// DirPattern returns the doublestar pattern a directory given to Walk or
// Glob stands for: every image below it, at any depth, by extension
// ("dir/**/*.{jpg,jpeg,…}"). The directory is escaped, so meta characters
// in its name are matched literally.
func DirPattern(dir string) string {
	return escapeMeta(filepath.ToSlash(filepath.Clean(dir))) + "/" + dirRest()
}

// dirRest is the part of DirPattern below the directory.
func dirRest() string { return "**/*.{" + strings.Join(ImageExtensions(), ",") + "}" }

// escapeMeta escapes doublestar's meta characters in a literal path.
func escapeMeta(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(metaChars, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// metaChars are the characters with a meaning in a doublestar pattern.
const metaChars = "*?[]{}\\"

// Walk lists the files matching a doublestar pattern such as
// "photos/**/*.{jpg,png}" ("**" crosses directories, "{a,b}" is
// alternation; use "/" as separator on every OS), following symbolic
// links. Directories are not listed. Letters match either case unless
// opts.CaseSensitive, so "*.jpg" matches "IMG_0001.JPG".
//
// A pattern that names an existing directory stands for every image below
// it ([DirPattern]: the extensions of [ImageExtensions] in any case, at any
// depth, hidden files and folders left out), so "photos" lists what
// "photos/**/*.{jpg,…}" would. An existing path is taken literally even
// when its name holds meta characters: "photos[2020]" is that folder, not
// a character class.
//
// files are in the OS's path syntax: the pattern's static base directory
// (the part before the first element holding a meta character) joined with
// the match, so they are relative when the pattern is. They come in
// doublestar's walk order, which is deterministic: for "a/**/*.png", the
// directories below a depth first by name, each one's matching files by
// name. A file matched by several alternatives (as "*.{jpg,JPG}" does
// without case sensitivity) is listed once, where first met.
//
// An I/O error does not stop the walk: every path that could not be read
// (a directory that cannot be listed, an entry that cannot be inspected, a
// directory reached again through a symbolic link loop) is returned in
// failed, with its absolute path, in the order met, and the walk goes on
// with the rest. A path that does not exist is not a failure: it matches
// nothing. err reports an empty or malformed pattern, or a base directory
// whose absolute path cannot be resolved.
func Walk(pattern string, opts WalkOptions) (files []string, failed []*WalkError, err error) {
	root, matches, failed, err := list(pattern, opts)
	if err != nil {
		return nil, nil, err
	}
	files = make([]string, len(matches))
	for i, m := range matches {
		files[i] = filepath.FromSlash(path.Join(root, m))
	}
	return files, failed, nil
}

// list is Walk returning the pattern's base directory (slash-separated) and
// the matches relative to it.
func list(pattern string, opts WalkOptions) (root string, matches []string, failed []*WalkError, err error) {
	if pattern == "" {
		return "", nil, nil, errors.New("dataset: empty glob pattern")
	}
	p := filepath.ToSlash(filepath.Clean(pattern))
	var rest string
	if fi, serr := os.Stat(filepath.Clean(pattern)); serr == nil && (fi.IsDir() || strings.ContainsAny(p, metaChars)) {
		// An existing path is taken literally, even with meta characters
		// in its name ("photos[2020]"): a directory stands for the images
		// below it, a file for itself.
		if fi.IsDir() {
			root, rest, opts.Hidden = p, dirRest(), false
		} else {
			root, rest = path.Dir(p), escapeMeta(path.Base(p))
		}
	} else {
		if !doublestar.ValidatePattern(p) {
			return "", nil, nil, fmt.Errorf("dataset: pattern %q: %w", pattern, doublestar.ErrBadPattern)
		}
		root, rest = doublestar.SplitPattern(p)
	}
	abs, err := filepath.Abs(filepath.FromSlash(root))
	if err != nil {
		return "", nil, nil, fmt.Errorf("dataset: pattern %q: %w", pattern, err)
	}
	matches, failed, err = walk(os.DirFS(filepath.FromSlash(root)), abs, rest, opts)
	if err != nil {
		return "", nil, nil, fmt.Errorf("dataset: pattern %q: %w", pattern, err)
	}
	return root, matches, failed, nil
}

// walk globs rest in fsys (the pattern's base directory, whose absolute
// path is abs) and returns the matches, slash-separated and relative to
// fsys, and the failures.
func walk(fsys fs.FS, abs, rest string, opts WalkOptions) ([]string, []*WalkError, error) {
	w := &walkFS{fsys: fsys, abs: abs, info: map[string]fs.FileInfo{}, failedAt: map[string]bool{}}
	if rest == "" || rest == ".." {
		// A pattern without meta characters that names a directory ("/",
		// "..", "../.."): there is nothing below it to walk, and it is
		// not a file.
		return nil, nil, nil
	}
	globOpts := []doublestar.GlobOption{doublestar.WithFilesOnly()}
	if !opts.Hidden {
		globOpts = append(globOpts, doublestar.WithNoHidden())
	}
	if !opts.CaseSensitive {
		globOpts = append(globOpts, doublestar.WithCaseInsensitive())
	}
	// Without WithFailOnIOErrors doublestar goes on past I/O errors; walkFS
	// records each one as it passes it on.
	matches, err := doublestar.Glob(w, rest, globOpts...)
	if err != nil {
		return nil, nil, err
	}
	// A path that failed (a link to itself, reported by doublestar as a
	// file since it is no directory) is a failure, not a file. Alternatives
	// matching the same file ({jpg,JPG} without case sensitivity) list it
	// once.
	kept := matches[:0]
	seen := make(map[string]bool, len(matches))
	for _, m := range matches {
		if !w.failedAt[m] && !seen[m] {
			seen[m] = true
			kept = append(kept, m)
		}
	}
	return kept, w.failed, nil
}

// walkFS is the file system doublestar walks: fsys, with every I/O error
// other than "does not exist" recorded, and directories that are their own
// ancestors (symbolic link loops) refused.
type walkFS struct {
	fsys     fs.FS
	abs      string                 // fsys's root as an absolute OS path
	info     map[string]fs.FileInfo // Stat of the directories met, by name
	failed   []*WalkError
	failedAt map[string]bool
}

func (w *walkFS) Open(name string) (fs.File, error) { return w.fsys.Open(name) }

func (w *walkFS) Stat(name string) (fs.FileInfo, error) {
	fi, err := fs.Stat(w.fsys, name)
	if err != nil {
		w.fail(name, err)
	}
	return fi, err
}

func (w *walkFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if ancestor, ok := w.loop(name); ok {
		err := &fs.PathError{Op: "enter", Path: name,
			Err: fmt.Errorf("%w: it is %s again", ErrSymlinkLoop, filepath.Join(w.abs, filepath.FromSlash(ancestor)))}
		w.fail(name, err)
		return nil, err
	}
	entries, err := fs.ReadDir(w.fsys, name)
	if err != nil {
		w.fail(name, err)
		if len(entries) > 0 {
			return entries, nil // walk what could be listed; the error is recorded
		}
	}
	return entries, err
}

// loop reports whether directory name is the same directory as one of its
// ancestors, and which.
func (w *walkFS) loop(name string) (string, bool) {
	if name == "." {
		return "", false
	}
	fi, err := w.dirInfo(name)
	if err != nil {
		return "", false // ReadDir reports it
	}
	for a := path.Dir(name); ; a = path.Dir(a) {
		if ai, err := w.dirInfo(a); err == nil && os.SameFile(fi, ai) {
			return a, true
		}
		if a == "." {
			return "", false
		}
	}
}

func (w *walkFS) dirInfo(name string) (fs.FileInfo, error) {
	if fi, ok := w.info[name]; ok {
		return fi, nil
	}
	fi, err := fs.Stat(w.fsys, name)
	if err == nil {
		w.info[name] = fi
	}
	return fi, err
}

// fail records the first error met at name, unless the path does not exist.
func (w *walkFS) fail(name string, err error) {
	if errors.Is(err, fs.ErrNotExist) || w.failedAt[name] {
		return
	}
	w.failedAt[name] = true
	we := &WalkError{Path: filepath.Join(w.abs, filepath.FromSlash(name)), Op: "walk", Err: err, rel: name}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		we.Op, we.Err = pe.Op, pe.Err
	}
	w.failed = append(w.failed, we)
}
