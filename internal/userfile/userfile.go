// Package userfile opens files that come from a user's disk with bounds: regular
// files only (FIFOs, devices, sockets and directories are refused by name and
// reason before anything is read, so a FIFO cannot hang the caller), the size
// checked by Stat against a caller's cap before reading, and the read itself
// limited in case the file grows after the check.
//
// Every error names the path and wraps ErrNotRegular or ErrTooLarge (or the
// underlying *fs.PathError), so callers can report the file and the reason.
package userfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular reports a path that is not a regular file (a directory, FIFO,
// device, socket or other special file).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge reports a file larger than the caller's cap.
var ErrTooLarge = errors.New("file too large")

// File is an open regular file whose size was checked against a cap.
// Reads through File stop at the cap even if the file grew after Open.
type File struct {
	f    *os.File
	r    io.Reader
	path string
	size int64
	max  int64
	read int64
}

// Open opens path for reading if it is a regular file (after following symbolic
// links) of at most max bytes; max <= 0 means no cap. The file is opened
// non-blocking and its mode checked again on the open descriptor, so a path
// swapped for a FIFO between the two checks cannot block.
func Open(path string, max int64) (*File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err // *fs.PathError already names the path
	}
	if err := check(path, fi, max); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err = f.Stat()
	if err == nil {
		err = check(path, fi, max)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	uf := &File{f: f, path: path, size: fi.Size(), max: max}
	uf.r = f
	if max > 0 {
		uf.r = io.LimitReader(f, max+1)
	}
	return uf, nil
}

func check(path string, fi fs.FileInfo, max int64) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, Describe(fi.Mode()))
	}
	if max > 0 && fi.Size() > max {
		return fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrTooLarge, fi.Size(), max)
	}
	return nil
}

// Describe names the kind of file a mode denotes ("a directory", "a named pipe (FIFO)",
// "a character device", ...), for errors about files that are not regular.
func Describe(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "mode " + m.String()
}

// Size is the file's size as checked at Open.
func (f *File) Size() int64 { return f.size }

// Name is the path given to Open.
func (f *File) Name() string { return f.path }

// OS returns the underlying *os.File (for ReadAt or Seek). Reads through it are
// not limited; prefer Read, or io.NewSectionReader(f.OS(), 0, f.Size()).
func (f *File) OS() *os.File { return f.f }

// Read reads from the file; past the cap it fails with ErrTooLarge.
func (f *File) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	f.read += int64(n)
	if f.max > 0 && f.read > f.max {
		return n, fmt.Errorf("%s: %w: grew past the limit of %d bytes while being read", f.path, ErrTooLarge, f.max)
	}
	return n, err
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// ReadFile reads the whole of path under the rules of Open.
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := Open(path, max)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadAll(nil)
}

// ReadAll reads the rest of the file (to EOF, within the cap) and returns it
// appended to head — the bytes a caller already read from it, or nil. The buffer is
// sized from the checked size, so a file that did not change is read without
// regrowing.
func (f *File) ReadAll(head []byte) ([]byte, error) {
	data := make([]byte, 0, max(f.Size(), int64(len(head)))+1) // +1: EOF is seen without a regrow
	data = append(data, head...)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
