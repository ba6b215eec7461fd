package embedio

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Writer streams embedding rows to an output file. Implementations are
// returned by [Create]; see the package documentation for the guarantees.
type Writer interface {
	// Write appends one row: the input path and its embedding, which must
	// have exactly the dimension given to Create. A row that is rejected
	// (wrong dimension, a path or value the format cannot hold) is not
	// written and the writer stays usable; an I/O error is sticky.
	Write(path string, vec []float32) error
	// Close commits the output: it finalizes, fsyncs and renames the
	// temporary file(s) to the final name(s). On error nothing is committed
	// and the temporary files are removed.
	Close() error
	// Abort removes the temporary file(s) without committing anything. It
	// is a no-op after a successful Close or a previous Abort.
	Abort() error
	// Count returns the number of rows written so far.
	Count() int
}

// SidecarPath returns the name of the file, committed next to an .npy
// output, that lists the input paths one per line: path + ".paths.txt".
func SidecarPath(path string) string {
	return path + ".paths.txt"
}

// ioBufferSize is the size of the write buffer of each output file.
const ioBufferSize = 64 << 10

// Create starts writing embeddings of dimension dim to path in the given
// format. The output only appears under path (and, for FormatNPY, under
// [SidecarPath](path)) when Close succeeds.
func Create(path string, format Format, dim int) (Writer, error) {
	if path == "" {
		return nil, errors.New("embedio: empty output path")
	}
	if !format.valid() {
		return nil, fmt.Errorf("embedio: %s: unknown output format %q: valid formats are %s", path, format, formatList())
	}
	if dim < 1 {
		return nil, fmt.Errorf("embedio: %s: embedding dimension must be at least 1, got %d", path, dim)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("embedio: output path %s is a directory", path)
	}

	w := &writer{path: path, dim: dim}
	var err error
	switch format {
	case FormatNPY:
		w.enc, w.files, err = newNPYEncoder(path, dim)
	case FormatJSONL:
		w.enc, w.files, err = newJSONLEncoder(path, dim)
	case FormatCSV:
		w.enc, w.files, err = newCSVEncoder(path, dim)
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// encoder is the format-specific part of a writer.
type encoder interface {
	// check validates a row before anything of it is written; its error is
	// wrapped by the caller with the file and row.
	check(path string, vec []float32) error
	// write encodes one validated row into the buffered temporary file(s).
	write(path string, vec []float32) error
	// finish completes the temporary file(s) for n rows (flushing any
	// encoder buffer, rewriting headers) before they are synced.
	finish(n int) error
}

// writerState is the life-cycle stage of a writer.
type writerState int

const (
	stateOpen      writerState = iota // accepting rows
	stateCommitted                    // Close succeeded
	stateDiscarded                    // aborted, or Close failed
)

// writer implements Writer on top of an encoder and its temporary files.
type writer struct {
	path  string
	dim   int
	enc   encoder
	files []*atomicFile // renamed in this order on Close; the main output last
	n     int
	state writerState
	err   error // sticky I/O error
}

// Write implements Writer.
func (w *writer) Write(path string, vec []float32) error {
	switch {
	case w.state == stateCommitted:
		return fmt.Errorf("embedio: %s: Write after Close", w.path)
	case w.state == stateDiscarded:
		return fmt.Errorf("embedio: %s: Write after Abort or a failed Close", w.path)
	case w.err != nil:
		return w.err
	}
	if len(vec) != w.dim {
		return fmt.Errorf("embedio: %s: row %d (%q): embedding has %d values, want %d", w.path, w.n, path, len(vec), w.dim)
	}
	if err := w.enc.check(path, vec); err != nil {
		return fmt.Errorf("embedio: %s: row %d (%q): %w", w.path, w.n, path, err)
	}
	if err := w.enc.write(path, vec); err != nil {
		w.err = fmt.Errorf("embedio: write %s: %w", w.path, err)
		return w.err
	}
	w.n++
	return nil
}

// Count implements Writer.
func (w *writer) Count() int { return w.n }

// Close implements Writer.
func (w *writer) Close() error {
	switch {
	case w.state == stateCommitted:
		return fmt.Errorf("embedio: %s: already closed", w.path)
	case w.state == stateDiscarded:
		return fmt.Errorf("embedio: %s: Close after Abort or a failed Close", w.path)
	case w.err != nil:
		return w.fail(fmt.Errorf("embedio: %s not written after an earlier error: %w", w.path, w.err))
	}
	if err := w.enc.finish(w.n); err != nil {
		return w.fail(fmt.Errorf("embedio: finish %s: %w", w.path, err))
	}
	for _, f := range w.files {
		if err := f.finish(); err != nil {
			return w.fail(err)
		}
	}
	for _, f := range w.files {
		if err := f.commit(); err != nil {
			// Roll back whatever was already renamed: a sidecar without
			// its array would describe data that was never committed.
			return w.fail(err)
		}
	}
	syncDir(filepath.Dir(w.path))
	w.state = stateCommitted
	return nil
}

// Abort implements Writer.
func (w *writer) Abort() error {
	if w.state != stateOpen {
		return nil
	}
	w.state = stateDiscarded
	return w.discard()
}

// fail discards every file, marks the writer unusable and returns err
// joined with any clean-up error.
func (w *writer) fail(err error) error {
	w.state = stateDiscarded
	return errors.Join(err, w.discard())
}

// discard removes all temporary files and any final file already renamed by
// this writer.
func (w *writer) discard() error {
	var errs []error
	for _, f := range w.files {
		errs = append(errs, f.discard())
	}
	return errors.Join(errs...)
}

// atomicFile is a buffered temporary file in the directory of final that is
// renamed to final on commit.
type atomicFile struct {
	final     string
	f         *os.File
	bw        *bufio.Writer
	closed    bool
	committed bool
}

// newAtomicFile creates the temporary file ".<base>.tmp-*" next to final.
func newAtomicFile(final string) (*atomicFile, error) {
	dir, base := filepath.Split(final)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("embedio: create temporary file for %s: %w", final, err)
	}
	// CreateTemp uses 0600; outputs are meant to be shared like any file
	// written with os.Create under a usual umask.
	if err := f.Chmod(0o644); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("embedio: set mode of temporary file for %s: %w", final, err)
	}
	return &atomicFile{final: final, f: f, bw: bufio.NewWriterSize(f, ioBufferSize)}, nil
}

// finish flushes, fsyncs and closes the temporary file.
func (a *atomicFile) finish() error {
	if err := a.bw.Flush(); err != nil {
		return fmt.Errorf("embedio: write %s: %w", a.final, err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("embedio: sync %s: %w", a.final, err)
	}
	a.closed = true
	if err := a.f.Close(); err != nil {
		return fmt.Errorf("embedio: close %s: %w", a.final, err)
	}
	return nil
}

// commit renames the finished temporary file to its final name.
func (a *atomicFile) commit() error {
	if err := os.Rename(a.f.Name(), a.final); err != nil {
		return fmt.Errorf("embedio: commit %s: %w", a.final, err)
	}
	a.committed = true
	return nil
}

// discard closes and removes the temporary file, or the final file if this
// atomicFile already committed it.
func (a *atomicFile) discard() error {
	var errs []error
	if !a.closed {
		a.closed = true
		if err := a.f.Close(); err != nil && !errors.Is(err, fs.ErrClosed) {
			errs = append(errs, fmt.Errorf("embedio: close temporary file for %s: %w", a.final, err))
		}
	}
	name := a.f.Name()
	if a.committed {
		name = a.final
		a.committed = false
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("embedio: remove %s: %w", name, err))
	}
	return errors.Join(errs...)
}

// syncDir fsyncs a directory so that renames in it are durable. It is best
// effort: some platforms (Windows) cannot sync a directory, and the data
// itself was already synced before the rename.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
