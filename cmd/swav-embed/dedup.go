package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/dedup"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/internal/contactsheet"
	"github.com/swav-go/swav/neighbors"
)

type dedupFlags struct {
	modelFlags
	emb, index, out, sheets string
	threshold               float32
	k                       int
}

func newDedupCmd() *cobra.Command {
	var f dedupFlags
	cmd := &cobra.Command{
		Use:   "dedup (--emb EMB | [--model m.swav] IMAGES... | --from-file LIST) --out groups.csv [--threshold T] [--sheets DIR]",
		Short: "Find groups of near-duplicate images by cosine similarity of their embeddings",
		Long: fmt.Sprintf(`Join every pair of images whose embeddings' cosine similarity reaches --threshold and
write each connected group of two or more images as CSV rows: group number, path, and the
similarity to the group's first member (a member joined through another may be below the
threshold). Images come from an embeddings file (--emb) or are embedded with --model
(default: the embedded model) from globs, files or directories (see embed --help) or a
--from-file list. With --sheets, a PNG contact sheet per group is
written to DIR (group-0001.png, …).

Pairs are exact (every pair compared) below %d vectors; above, the file's index (EMB.hnsw,
or --index) supplies each image's --k nearest neighbours, and one is built in memory when
there is none.

The default threshold, %.2f, was measured with the embedded default model against
augmented copies (crop to 80–95 %% of each side, flip, brightness/contrast ×0.8–1.2, JPEG
quality 60–90): on the photos of testdata/images it finds 91 %% of copies with no false
pair (precision 1.000, recall 0.911). On Fashion-MNIST it finds 93 %% of copies but the
default model also puts 10 %% of all pairs of different garments above it, so groups mix
copies with look-alikes there at any threshold. BENCHMARKS.md ("dedup") has the figures.
Another model needs its own threshold.`, neighbors.ExactThreshold, dedup.DefaultThreshold),
		RunE: func(cmd *cobra.Command, args []string) error { return runDedup(cmd, f, args) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.emb, "emb", "", "embeddings file (.npy, .jsonl or .csv, as written by embed)")
	fl.StringVar(&f.index, "index", "", "HNSW index of --emb (default: EMB.hnsw when it exists)")
	f.register(fl, modelFlagHelp{
		model:  "model that embeds the GLOBs (default: the embedded Fashion-MNIST model)",
		output: "vectors to compare: features or projection",
	})
	fl.Float32Var(&f.threshold, "threshold", dedup.DefaultThreshold, "cosine similarity from which two images are duplicates (measured for the default model; see --help)")
	fl.IntVar(&f.k, "k", dedup.DefaultK, "neighbours per image asked of an index (large sets only)")
	fl.StringVar(&f.out, "out", "", "groups CSV (group,path,similarity); '-' for standard output")
	fl.StringVar(&f.sheets, "sheets", "", "also write a PNG contact sheet per group into this folder")
	return cmd
}

func runDedup(cmd *cobra.Command, f dedupFlags, globs []string) error {
	if f.out == "" {
		return errors.New("dedup: --out is required (the groups CSV, or - for standard output)")
	}
	if (f.emb != "") == (len(globs) > 0 || f.fromFile != "") {
		return &usageError{errors.New("dedup: give --emb or images (GLOBs, files, directories, --from-file), not both and not neither")}
	}
	if !(f.threshold > -1 && f.threshold <= 1) {
		return fmt.Errorf("dedup: --threshold %v: want a cosine similarity in (−1, 1]", f.threshold)
	}
	var set *neighbors.Set
	var err error
	if f.emb != "" {
		if set, err = neighbors.Read(f.emb); err != nil {
			return err
		}
	} else if set, err = embedForDedup(cmd, f, globs); err != nil {
		return err
	}
	var sr neighbors.Searcher
	if set.Len() >= neighbors.ExactThreshold {
		if f.emb != "" {
			if sr, err = openSearcher(io.Discard, set, f.emb, f.index, neighbors.DefaultEf); err != nil {
				return err
			}
		}
		if _, ok := sr.(*neighbors.Index); !ok {
			infof(cmd, "building an in-memory index of %d vectors (swav-embed index saves one for reuse)", set.Len())
			if sr, err = neighbors.Build(cmd.Context(), set, neighbors.IndexOptions{}); err != nil {
				return err
			}
		}
	}
	groups, err := dedup.Find(cmd.Context(), set, dedup.Options{Threshold: f.threshold, Searcher: sr, K: f.k})
	if err != nil {
		return err
	}
	if err := writeFileOrStdout(cmd.OutOrStdout(), f.out, func(w io.Writer) error { return dedup.WriteCSV(w, groups) }); err != nil {
		return err
	}
	dups := 0
	for _, g := range groups {
		dups += len(g)
	}
	infof(cmd, "%d groups of near-duplicates (%d of %d images) at cosine ≥ %.3f", len(groups), dups, set.Len(), f.threshold)
	if f.sheets != "" {
		return writeSheets(f.sheets, groups)
	}
	return nil
}

// embedForDedup embeds the files matching globs, skipping (and listing) unreadable ones.
func embedForDedup(cmd *cobra.Command, f dedupFlags, globs []string) (*neighbors.Set, error) {
	paths, skipped, err := f.images(cmd, globs, dataset.Skip)
	if err != nil {
		return nil, err
	}
	output, err := f.vectors()
	if err != nil {
		return nil, err
	}
	m, err := f.load(output, false)
	if err != nil {
		return nil, err
	}
	var kept []string
	var vecs [][]float32
	err = m.EachFile(cmd.Context(), paths, func(i int, vec []float32, ferr error) error {
		if ferr != nil {
			return dataset.Skip.Handle(&skipped, paths[i], ferr)
		}
		kept = append(kept, paths[i])
		vecs = append(vecs, vec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	reportSkipped(cmd.ErrOrStderr(), skipped)
	if len(vecs) == 0 {
		return nil, errors.New("dedup: no image could be embedded")
	}
	return neighbors.NewSet(kept, vecs)
}

// sheetColumns is the number of thumbnails per row of a contact sheet.
const sheetColumns = 8

// writeSheets draws group-NNNN.png in dir for every group: its images in rows of
// sheetColumns, each labelled with its similarity to the first.
func writeSheets(dir string, groups []dedup.Group) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dedup: sheets: %w", err)
	}
	var failed []string
	for gi, g := range groups {
		var rows []contactsheet.Row
		for start := 0; start < len(g); start += sheetColumns {
			var row contactsheet.Row
			if start == 0 {
				row.Caption = fmt.Sprintf("group %d: %d images", gi+1, len(g))
			}
			for _, m := range g[start:min(start+sheetColumns, len(g))] {
				img, err := imageio.DecodeFile(m.Path, imageio.Options{})
				if err != nil {
					failed = append(failed, m.Path)
					img = nil
				}
				row.Images = append(row.Images, img)
				row.Labels = append(row.Labels, fmt.Sprintf("%.3f", m.Similarity))
			}
			rows = append(rows, row)
		}
		path := filepath.Join(dir, fmt.Sprintf("group-%04d.png", gi+1))
		if err := contactsheet.WritePNG(path, rows, contactsheet.Options{Columns: sheetColumns}); err != nil {
			return withPath("dedup: sheet", path, err)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(os.Stderr, "%d images could not be read for the sheets (drawn as crossed cells): %s\n", len(failed), strings.Join(failed[:min(len(failed), 5)], ", "))
	}
	return nil
}
