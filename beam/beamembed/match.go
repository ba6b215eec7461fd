package beamembed

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/swav-go/swav/dataset"
)

// matchFn expands one input pattern into file paths, and sends the paths that could
// not be read while walking a local pattern to the dead letter.
type matchFn struct{}

// ProcessElement expands pattern: a local pattern with the CLI's walker, a pattern with
// a scheme through its Beam filesystem. A pattern that matches no file is an error, as
// in `swav-embed embed`.
func (f *matchFn) ProcessElement(ctx context.Context, pattern string, emit func(string), dead func(Failure)) error {
	if isLocal(pattern) {
		files, failed, err := dataset.Walk(pattern, dataset.WalkOptions{Hidden: true})
		if err != nil {
			return err
		}
		for _, werr := range failed {
			fail(ctx, dead, werr.Path, ReasonUnreadablePath, werr)
		}
		if len(files) == 0 {
			if len(failed) > 0 {
				return fmt.Errorf("pattern %q matches no readable file: %d path(s) could not be read, the first: %w", pattern, len(failed), failed[0])
			}
			return fmt.Errorf("pattern %q matches no file", pattern)
		}
		for _, p := range files {
			emit(p)
		}
		return nil
	}
	fsys, err := filesystem.New(ctx, pattern)
	if err != nil {
		return fmt.Errorf("pattern %q: %w", pattern, err)
	}
	defer fsys.Close()
	files, err := fsys.List(ctx, pattern)
	if err != nil {
		return fmt.Errorf("pattern %q: %w", pattern, err)
	}
	if len(files) == 0 {
		return fmt.Errorf("pattern %q matches no file", pattern)
	}
	for _, p := range files {
		emit(p)
	}
	return nil
}
