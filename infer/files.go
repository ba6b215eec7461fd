package infer

import (
	gocontext "context"
	"errors"
	"fmt"
	"image"

	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/imageio"
)

// FileError is the failure of one file in EmbedFiles.
type FileError struct {
	Index int
	Path  string
	Err   error
}

// Error implements error.
func (e *FileError) Error() string { return fmt.Sprintf("%s: %v", e.Path, e.Err) }

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// EmbedFiles decodes, preprocesses and embeds the files at paths, decoding on
// Options.Workers goroutines ahead of the network. vecs[i] belongs to paths[i]; it is nil
// when that file could not be read, and the returned error (if any) then joins a
// *FileError per failed file (use errors.As). A cancelled context stops promptly and
// returns ctx.Err().
func (m *Model) EmbedFiles(ctx gocontext.Context, paths []string) (vecs [][]float32, err error) {
	vecs = make([][]float32, len(paths))
	var fileErrs []error
	err = m.EachFile(ctx, paths, func(i int, vec []float32, ferr error) error {
		if ferr != nil {
			fileErrs = append(fileErrs, &FileError{Index: i, Path: paths[i], Err: ferr})
			return nil
		}
		vecs[i] = vec
		return nil
	})
	if err != nil {
		return nil, err
	}
	return vecs, errors.Join(fileErrs...)
}

// EachFile streams the embeddings of paths to fn in input order, with the file's decode
// error instead of a vector when it could not be read; memory stays bounded by one batch
// whatever the number of files. An error returned by fn stops the run and is returned.
func (m *Model) EachFile(ctx gocontext.Context, paths []string, fn func(i int, vec []float32, err error) error) error {
	return m.each(ctx, len(paths), func(i int) (image.Image, error) {
		return imageio.DecodeFile(paths[i], m.opts.Decode)
	}, fn)
}

// EachImage is EachFile over the images of a dataset source, in index order.
func (m *Model) EachImage(ctx gocontext.Context, src dataset.Source, fn func(i int, vec []float32, err error) error) error {
	return m.each(ctx, src.Len(), src.Image, fn)
}

// each loads n images on worker goroutines, embeds them in order by batches, and hands
// each vector (or load error) to fn.
func (m *Model) each(ctx gocontext.Context, n int, load func(i int) (image.Image, error), fn func(i int, vec []float32, err error) error) error {
	ctx, cancel := gocontext.WithCancel(ctx)
	defer cancel()
	results := dataset.Ordered(ctx, n, m.opts.Workers, func(_ gocontext.Context, i int) (imageio.Tensor, error) {
		img, err := load(i)
		if err != nil {
			return imageio.Tensor{}, err
		}
		return m.PrepareInput(img)
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
		p.idx = append(p.idx, r.Index)
		p.in = append(p.in, r.Value)
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
