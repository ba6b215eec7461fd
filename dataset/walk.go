package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

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
	// pattern naming them explicitly (".cache/*") matches them.
	Hidden bool
}

// Walk lists the files matching a doublestar pattern such as
// "photos/**/*.{jpg,png}" ("**" crosses directories, "{a,b}" is
// alternation; use "/" as separator on every OS), following symbolic
// links. Directories are not listed. Matching is case-sensitive.
//
// files are in the OS's path syntax: the pattern's static base directory
// (the part before the first element holding a meta character) joined with
// the match, so they are relative when the pattern is. They come in
// doublestar's walk order, which is deterministic: for "a/**/*.png", the
// directories below a depth first by name, each one's matching files by
// name.
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
	if !doublestar.ValidatePattern(p) {
		return "", nil, nil, fmt.Errorf("dataset: pattern %q: %w", pattern, doublestar.ErrBadPattern)
	}
	root, rest := doublestar.SplitPattern(p)
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
	// Without WithFailOnIOErrors doublestar goes on past I/O errors; walkFS
	// records each one as it passes it on.
	matches, err := doublestar.Glob(w, rest, globOpts...)
	if err != nil {
		return nil, nil, err
	}
	// A path that failed (a link to itself, reported by doublestar as a
	// file since it is no directory) is a failure, not a file.
	kept := matches[:0]
	for _, m := range matches {
		if !w.failedAt[m] {
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
