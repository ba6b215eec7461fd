package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Test hooks, nil outside tests: saveWriterHook wraps the temporary file's
// writer (to inject write failures); saveBeforeRenameHook runs after the
// temporary file is complete and synced, just before the rename (to simulate
// a crash at the last moment).
var (
	saveWriterHook       func(io.Writer) io.Writer
	saveBeforeRenameHook func(tmpPath string) error
)

// Save encodes f (see Encode) and writes it to path atomically: the bytes go
// to a temporary file in the same directory (named ".<base>.*.tmp"), which is
// fsynced, closed, renamed over path, after which the directory is fsynced.
// Readers of path therefore see either the previous file or the complete new
// one, never a partial write; on error the temporary file is removed and any
// previous file at path is untouched. (After a hard crash a stray temporary
// file may remain; it is never at path.)
//
// A new file gets permissions 0644; a replaced file keeps its permissions. If
// path is a symbolic link, the link itself is replaced.
func Save(path string, f *File, opts EncodeOptions) error {
	if err := save(path, f, opts); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

func save(path string, f *File, opts EncodeOptions) (err error) {
	if f == nil {
		return fmt.Errorf("%w: nil File", ErrInvalid)
	}
	perm := fs.FileMode(0o644)
	if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
		perm = fi.Mode().Perm()
	}

	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return err
	}
	tmpPath := tmp.Name()
	closed, renamed := false, false
	defer func() {
		if err != nil && !renamed {
			if !closed {
				tmp.Close()
			}
			os.Remove(tmpPath)
		}
	}()

	var w io.Writer = tmp
	if saveWriterHook != nil {
		w = saveWriterHook(w)
	}
	if err := encode(w, f, opts); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	closed = true
	if err := tmp.Close(); err != nil {
		return err
	}
	if saveBeforeRenameHook != nil {
		if err := saveBeforeRenameHook(tmpPath); err != nil {
			return err
		}
	}
	if err := os.Rename(tmpPath, path); err != nil {
		return err
	}
	renamed = true
	// The rename is done: from here on the new file is in place, so an
	// error only means its directory entry may not be durable yet.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("saved, but syncing directory failed: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory so a rename within it is durable. Windows does
// not support syncing directories (and does not need it), so it is a no-op
// there.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}

// Load reads and decodes the checkpoint at path with the default
// ReadOptions; it is LoadWith(path, ReadOptions{}), see there. path is used
// as the name in errors.
func Load(path string) (*File, error) {
	return LoadWith(path, ReadOptions{})
}
