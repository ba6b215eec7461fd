package infer

import (
	gocontext "context"
	"errors"
	"fmt"
	"image"

	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/imageio"
)

// FileError is the failure of one file in EmbedFiles (and Embeddings.Failed).
type FileError struct {
	// Index is the file's position in the paths given to EmbedFiles.
	Index int
	// Path is the file.
	Path string
	// Err is why it could not be embedded (unreadable, undecodable, empty …).
	Err error
}

// Error implements error.
func (e *FileError) Error() string { return fmt.Sprintf("%s: %v", e.Path, e.Err) }

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// Embeddings is what EmbedFiles returns: the vectors of the files that were embedded,
// with their paths, and the files that were not. Every vector is set and has the
// model's Dim: a file that failed appears in Failed only.
type Embeddings struct {
	// Paths are the files embedded, in input order. Vectors[i] is the vector of
	// Paths[i], and Index[i] its position in the paths given to EmbedFiles.
	Paths   []string
	Vectors [][]float32
	Index   []int
	// Failed lists the files that could not be read, decoded or prepared, in input
	// order; empty when every file was embedded.
	Failed []*FileError
}

// Err returns nil when every file was embedded, else an error joining the Failed ones
// (each a *FileError, found with errors.As), for a caller that wants all or nothing.
func (e *Embeddings) Err() error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f
	}
	return errors.Join(errs...)
}

// EmbedFiles decodes, preprocesses and embeds the files at paths, decoding on
// Options.Workers goroutines ahead of the network. A file that cannot be read or decoded
// does not stop the others: it is listed in the result's Failed, and the result's Paths
// and Vectors hold the files that were embedded (all of them when Failed is empty; see
// Embeddings.Err). The error is for the run as a whole: a cancelled context (ctx.Err()),
// a closed Model (ErrClosed) or a failed forward pass; the result is then nil.
func (m *Model) EmbedFiles(ctx gocontext.Context, paths []string) (*Embeddings, error) {
	res := &Embeddings{}
	err := m.EachFile(ctx, paths, func(i int, vec []float32, ferr error) error {
		if ferr != nil {
			res.Failed = append(res.Failed, &FileError{Index: i, Path: paths[i], Err: ferr})
			return nil
		}
		res.Paths = append(res.Paths, paths[i])
		res.Vectors = append(res.Vectors, vec)
		res.Index = append(res.Index, i)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// EachFile streams the embeddings of paths to fn in input order, with the file's decode
// error instead of a vector when it could not be read; memory stays bounded by one batch
// whatever the number of files. An error returned by fn stops the run and is returned;
// so are a cancelled context, ErrClosed and a failed forward pass.
func (m *Model) EachFile(ctx gocontext.Context, paths []string, fn func(i int, vec []float32, err error) error) error {
	return m.each(ctx, len(paths), func(i int) (string, image.Image, error) {
		img, err := imageio.DecodeFile(paths[i], m.opts.Decode)
		return paths[i], img, err
	}, fn)
}

// EachImage is EachFile over the images of a dataset source, in index order.
func (m *Model) EachImage(ctx gocontext.Context, src dataset.Source, fn func(i int, vec []float32, err error) error) error {
	return m.each(ctx, src.Len(), func(i int) (string, image.Image, error) {
		img, err := src.Image(i)
		return src.Name(i), img, err
	}, fn)
}

// each loads n images (each with its name for a warning) on worker goroutines, embeds
// them in order by batches, and hands each vector (or load error) to fn.
func (m *Model) each(ctx gocontext.Context, n int, load func(i int) (string, image.Image, error), fn func(i int, vec []float32, err error) error) error {
	if err := m.open(); err != nil {
		return err
	}
	ctx, cancel := gocontext.WithCancel(ctx)
	defer cancel()
	// Workers check the fit of each image; the first misfit in input order is warned
	// about, so the warning names the same file whatever the decoding order.
	type prepared struct {
		in     imageio.Tensor
		misfit string
	}
	results := dataset.Ordered(ctx, n, m.opts.Workers, func(_ gocontext.Context, i int) (prepared, error) {
		name, img, err := load(i)
		if err != nil {
			return prepared{}, err
		}
		misfit := m.misfit(name, img)
		in, err := PrepareInput(m.pre, img)
		return prepared{in, misfit}, err
	})
	type pending struct {
		idx []int
		in  []imageio.Tensor
	}
	var p pending
	flush := func() error {
		if len(p.in) == 0 {
			return nil
		}
		vecs, err := m.runBatch(p.in)
		if err != nil {
			return err
		}
		for k, i := range p.idx {
			if err := fn(i, vecs[k], nil); err != nil {
				return err
			}
		}
		p = pending{}
		return nil
	}
	for r := range results {
		if r.Err != nil {
			// Earlier files must reach fn first: flush the batch before reporting.
			if err := flush(); err != nil {
				return err
			}
			if err := fn(r.Index, nil, r.Err); err != nil {
				return err
			}
			continue
		}
		m.warn(r.Value.misfit)
		p.idx = append(p.idx, r.Index)
		p.in = append(p.in, r.Value.in)
		if len(p.in) == m.opts.BatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return flush()
}
