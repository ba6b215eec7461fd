package beamembed

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/infer"
)

// Embedding is one embedded file: its path as matched and its vector.
type Embedding struct {
	Path   string
	Vector []float32
}

// Failure is one file (or, for ReasonUnreadablePath, one folder met while matching)
// that could not be embedded: the dead-letter record.
type Failure struct {
	// Path is the file's path as matched (for an unreadable path met while walking a
	// local pattern, its absolute path).
	Path string `json:"path"`
	// Reason is one of the Reason constants.
	Reason string `json:"reason"`
	// Error is the error's text, the same the swav-embed CLI reports for the file.
	Error string `json:"error"`
}

// Reason classifies why a file went to the dead letter; it is also the suffix of the
// file's "skipped_REASON" counter.
type Reason string

// The dead-letter reasons.
const (
	// ReasonNotRegular: a directory, FIFO, device or socket (imageio.ErrNotRegular).
	ReasonNotRegular Reason = "not_regular"
	// ReasonTooLarge: over the file-size or pixel cap (imageio.ErrTooLarge).
	ReasonTooLarge Reason = "too_large"
	// ReasonTooComplex: a JPEG over the scan budget (imageio.ErrTooComplex).
	ReasonTooComplex Reason = "too_complex"
	// ReasonEmpty: a zero-byte file (imageio.ErrEmpty).
	ReasonEmpty Reason = "empty"
	// ReasonUnknownFormat: not JPEG, PNG, GIF, WebP, BMP or TIFF (imageio.ErrUnknownFormat).
	ReasonUnknownFormat Reason = "unknown_format"
	// ReasonCorrupt: damaged or truncated image data (imageio.ErrCorrupt).
	ReasonCorrupt Reason = "corrupt"
	// ReasonNotFound: the file disappeared or is a dangling link (fs.ErrNotExist).
	ReasonNotFound Reason = "not_found"
	// ReasonPermission: the file cannot be opened (fs.ErrPermission).
	ReasonPermission Reason = "permission"
	// ReasonPreprocess: decoded, but it cannot be turned into the model's input.
	ReasonPreprocess Reason = "preprocess"
	// ReasonUnreadablePath: a folder or entry that could not be read while matching.
	ReasonUnreadablePath Reason = "unreadable_path"
	// ReasonPathNotUTF8: the path is not UTF-8, which the JSONL output cannot carry.
	ReasonPathNotUTF8 Reason = "path_not_utf8"
	// ReasonNonFinite: the model returned NaN or ±Inf, which JSONL cannot carry.
	ReasonNonFinite Reason = "non_finite"
	// ReasonRead: any other read error.
	ReasonRead Reason = "read_error"
)

// Classify returns the dead-letter reason of a read or decode error.
func Classify(err error) Reason {
	switch {
	case errors.Is(err, imageio.ErrNotRegular):
		return ReasonNotRegular
	case errors.Is(err, imageio.ErrTooComplex): // before ErrTooLarge, which it also wraps
		return ReasonTooComplex
	case errors.Is(err, imageio.ErrTooLarge):
		return ReasonTooLarge
	case errors.Is(err, imageio.ErrEmpty):
		return ReasonEmpty
	case errors.Is(err, imageio.ErrUnknownFormat):
		return ReasonUnknownFormat
	case errors.Is(err, imageio.ErrCorrupt):
		return ReasonCorrupt
	case errors.Is(err, fs.ErrNotExist):
		return ReasonNotFound
	case errors.Is(err, fs.ErrPermission):
		return ReasonPermission
	}
	return ReasonRead
}

// Namespace is the namespace of the pipeline's Beam metrics.
const Namespace = "swav"

// The counters; skipped files count under "skipped_" + their Reason.
var (
	embeddedCounter  = beam.NewCounter(Namespace, "embedded")
	bytesReadCounter = beam.NewCounter(Namespace, "bytes_read")
	batchesCounter   = beam.NewCounter(Namespace, "batches")
)

// SkippedCounter is the name of the counter of files skipped for reason r.
func SkippedCounter(r Reason) string { return "skipped_" + string(r) }

// fail counts a dead-letter record and emits it.
func fail(ctx context.Context, emit func(Failure), path string, r Reason, err error) {
	beam.NewCounter(Namespace, SkippedCounter(r)).Inc(ctx, 1)
	emit(Failure{Path: path, Reason: string(r), Error: err.Error()})
}

// isLocal reports whether path has no filesystem scheme (Beam's rule: a "://" after
// at least one character), i.e. is read from the local disk.
func isLocal(path string) bool { return strings.Index(path, "://") <= 0 }

// fileCap is the effective imageio.Options.MaxFileBytes: 0 is its default, a
// negative value no cap (-1).
func fileCap(v int64) int64 {
	switch {
	case v == 0:
		return imageio.DefaultMaxFileBytes
	case v < 0:
		return -1
	}
	return v
}

// filesystems caches one Beam filesystem per scheme for a DoFn instance (a GCS or S3
// filesystem holds a client, too costly to create per file).
type filesystems map[string]filesystem.Interface

// get returns the filesystem of path's scheme.
func (c filesystems) get(ctx context.Context, path string) (filesystem.Interface, error) {
	scheme := path[:strings.Index(path, "://")]
	if fsys, ok := c[scheme]; ok {
		return fsys, nil
	}
	fsys, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	c[scheme] = fsys
	return fsys, nil
}

// close closes every cached filesystem.
func (c filesystems) close() error {
	var errs []error
	for scheme, fsys := range c {
		errs = append(errs, fsys.Close())
		delete(c, scheme)
	}
	return errors.Join(errs...)
}

// readRemote reads a file through a Beam filesystem with the bounds userfile applies
// to local files: the size the filesystem reports is checked against max (negative: no
// cap) before reading, and the read stops past max in case the object grew. what
// ("image", "checkpoint") starts the error texts, which name the path; a size over the
// cap wraps tooLarge.
func readRemote(ctx context.Context, fsys filesystem.Interface, path string, max int64, what string, tooLarge error) ([]byte, error) {
	size, err := fsys.Size(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if max >= 0 && size > max {
		return nil, fmt.Errorf("%s %s: %w: %d bytes, the limit is %d", what, path, tooLarge, size, max)
	}
	r, err := fsys.OpenRead(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	defer r.Close()
	var src io.Reader = r
	if max >= 0 {
		src = io.LimitReader(r, max+1)
	}
	data, err := io.ReadAll(src)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if max >= 0 && int64(len(data)) > max {
		return nil, fmt.Errorf("%s %s: %w: more than %d bytes (it grew while read)", what, path, tooLarge, max)
	}
	return data, nil
}

// errModelTooLarge is wrapped by the error for a remote model over MaxModelBytes.
var errModelTooLarge = errors.New("model file too large")

// loadModel loads the embedded default model (path ""), a local checkpoint, or a
// checkpoint read through a Beam filesystem.
func loadModel(ctx context.Context, fss filesystems, path string, opts infer.Options, maxBytes int64) (*infer.Model, error) {
	if path == "" {
		m, err := swav.LoadDefault(opts)
		if err != nil {
			return nil, err
		}
		return m.Model, nil
	}
	if isLocal(path) {
		return infer.Load(path, opts)
	}
	fsys, err := fss.get(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	data, err := readRemote(ctx, fsys, path, maxBytes, "checkpoint", errModelTooLarge)
	if err != nil {
		return nil, err
	}
	opts.Read.MaxFileBytes = maxBytes
	return infer.LoadBytes(data, path, opts)
}

// pendingInput is one prepared image waiting for its batch.
type pendingInput struct {
	path string
	in   imageio.Tensor
}

// embedFn reads, prepares and embeds files in batches. Its exported fields are its
// configuration, serialised to the workers; the model is loaded in Setup, once per
// worker process (see workerModels).
type embedFn struct {
	Model         string
	Output        string
	Raw           bool
	BatchSize     int
	MaxFileBytes  int64
	MaxPixels     int
	MaxModelBytes int64
	// JSONSafe routes paths that are not UTF-8 and non-finite vectors to the dead
	// letter, since the JSONL output cannot carry them.
	JSONSafe bool

	model *infer.Model
	fss   filesystems
	batch []pendingInput
}

// Setup gets the model from the worker process's cache, loading it on first use.
func (f *embedFn) Setup(ctx context.Context) error {
	output, err := infer.ParseOutput(f.Output)
	if err != nil {
		return err
	}
	f.fss = filesystems{}
	key := modelKey{Model: f.Model, Output: output, Raw: f.Raw, BatchSize: f.BatchSize, MaxModelBytes: f.MaxModelBytes}
	f.model, err = workerModels.get(key, func() (*infer.Model, error) {
		return loadModel(ctx, f.fss, f.Model, infer.Options{Output: output, Raw: f.Raw, BatchSize: f.BatchSize}, f.MaxModelBytes)
	})
	return err
}

// modelKey is what determines a loaded model.
type modelKey struct {
	Model         string
	Output        infer.Output
	Raw           bool
	BatchSize     int
	MaxModelBytes int64
}

// modelCache holds the models loaded in this process, one per modelKey.
type modelCache struct {
	mu     sync.Mutex
	models map[modelKey]*infer.Model
}

// workerModels is the worker process's model cache, the one piece of process-wide
// state here, on purpose: a Beam worker runs one DoFn instance per bundle thread
// (Dataflow starts several per vCPU), and one model per instance would multiply the
// weights in memory and the graph compilations by that number. An infer.Model is safe
// for concurrent use and serialises its forward passes, each of which already uses
// every core; the instances still read and decode their files in parallel.
var workerModels = &modelCache{models: map[modelKey]*infer.Model{}}

// get returns the model for key, loading it with load if this process has none yet. A
// failed load is not cached, so a transient read error is retried by the next Setup.
// Loads of the same key are serialised, so a model is loaded once per process.
func (c *modelCache) get(key modelKey, load func() (*infer.Model, error)) (*infer.Model, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.models[key]; ok {
		return m, nil
	}
	m, err := load()
	if err != nil {
		return nil, err
	}
	c.models[key] = m
	return m, nil
}

// StartBundle starts with an empty batch.
func (f *embedFn) StartBundle(_ context.Context, _ func(Embedding), _ func(Failure)) {
	f.batch = f.batch[:0]
}

// ProcessElement reads and prepares one file and embeds the batch once it is full.
func (f *embedFn) ProcessElement(ctx context.Context, path string, emit func(Embedding), dead func(Failure)) error {
	if f.JSONSafe && !utf8.ValidString(path) {
		fail(ctx, dead, path, ReasonPathNotUTF8, errors.New("path is not valid UTF-8, which JSON cannot represent exactly; use the npy or csv format"))
		return nil
	}
	img, n, err := f.decode(ctx, path)
	if err != nil {
		fail(ctx, dead, path, Classify(err), err)
		return nil
	}
	in, err := f.model.PrepareInput(img)
	if err != nil {
		fail(ctx, dead, path, ReasonPreprocess, err)
		return nil
	}
	bytesReadCounter.Inc(ctx, n)
	f.batch = append(f.batch, pendingInput{path: path, in: in})
	if len(f.batch) >= f.BatchSize {
		return f.flush(ctx, emit, dead)
	}
	return nil
}

// FinishBundle embeds the last, partial batch of the bundle.
func (f *embedFn) FinishBundle(ctx context.Context, emit func(Embedding), dead func(Failure)) error {
	return f.flush(ctx, emit, dead)
}

// Teardown releases the cached filesystems.
func (f *embedFn) Teardown() error {
	if f.fss == nil {
		return nil
	}
	return f.fss.close()
}

// decode reads and decodes one image with the CLI's bounds and returns it with the
// number of bytes of its file.
func (f *embedFn) decode(ctx context.Context, path string) (image.Image, int64, error) {
	opts := imageio.Options{MaxFileBytes: f.MaxFileBytes, MaxPixels: f.MaxPixels}
	if isLocal(path) {
		// The CLI's reader: regular files only, size checked before reading.
		img, err := imageio.DecodeFile(path, opts)
		if err != nil {
			return nil, 0, err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, 0, fmt.Errorf("image %s: %w", path, err)
		}
		return img, fi.Size(), nil
	}
	fsys, err := f.fss.get(ctx, path)
	if err != nil {
		return nil, 0, fmt.Errorf("image %s: %w", path, err)
	}
	data, err := readRemote(ctx, fsys, path, fileCap(f.MaxFileBytes), "image", imageio.ErrTooLarge)
	if err != nil {
		return nil, 0, err
	}
	img, err := imageio.DecodeBytes(data, path, opts)
	return img, int64(len(data)), err
}

// flush embeds the pending batch and emits its vectors.
func (f *embedFn) flush(ctx context.Context, emit func(Embedding), dead func(Failure)) error {
	if len(f.batch) == 0 {
		return nil
	}
	inputs := make([]imageio.Tensor, len(f.batch))
	for i, p := range f.batch {
		inputs[i] = p.in
	}
	vecs, err := f.model.EmbedTensors(ctx, inputs)
	if err != nil {
		return fmt.Errorf("embed a batch of %d files starting with %s: %w", len(f.batch), f.batch[0].path, err)
	}
	batchesCounter.Inc(ctx, 1)
	for i, v := range vecs {
		path := f.batch[i].path
		if f.JSONSafe {
			if j := nonFinite(v); j >= 0 {
				fail(ctx, dead, path, ReasonNonFinite, fmt.Errorf("embedding value %d is %v, which JSON cannot represent", j, v[j]))
				continue
			}
		}
		emit(Embedding{Path: path, Vector: v})
		embeddedCounter.Inc(ctx, 1)
	}
	f.batch = f.batch[:0]
	return nil
}

// nonFinite returns the index of the first NaN or ±Inf in v, or -1.
func nonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}
