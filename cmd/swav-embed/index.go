package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/swav-go/swav/neighbors"
)

func newIndexCmd() *cobra.Command {
	var out string
	var m, efc int
	var force bool
	cmd := &cobra.Command{
		Use:   "index EMB [--out EMB.hnsw] [--m 16] [--ef-construction 200]",
		Short: "Build an approximate nearest-neighbour (HNSW) index over an embeddings file",
		Long: fmt.Sprintf(`Build an HNSW graph (cosine similarity) over the vectors of an embeddings file written by
embed (.npy with its .paths.txt sidecar, .jsonl or .csv) and save it beside the file
(default EMB.hnsw, e.g. emb.npy.hnsw), where search and dedup find it. The index records a
checksum of the embeddings and paths, so an index of an older file is refused, not used.

Below %d vectors exact search takes about a millisecond per query, so no index is
written unless --force is given.`, neighbors.ExactThreshold),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := neighbors.Read(args[0])
			if err != nil {
				return err
			}
			if out == "" {
				out = neighbors.DefaultIndexPath(args[0])
			}
			if set.Len() < neighbors.ExactThreshold && !force {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s holds %d vectors, fewer than %d: search and dedup use exact search, no index written (--force builds one anyway)\n",
					args[0], set.Len(), neighbors.ExactThreshold)
				return nil
			}
			start := time.Now()
			bar := newProgress(cmd, set.Len(), "index", "vec")
			ix, err := neighbors.Build(cmd.Context(), set, neighbors.IndexOptions{M: m, EfConstruction: efc,
				Progress: func(done, _ int) { bar.Set(done) }})
			bar.Finish()
			if err != nil {
				return err
			}
			if err := ix.Save(out); err != nil {
				return err
			}
			info, err := os.Stat(out)
			if err != nil {
				return err
			}
			infof(cmd, "indexed %d %d-d vectors in %s → %s (%.1f MB)",
				set.Len(), set.Dim, time.Since(start).Round(time.Millisecond), out, float64(info.Size())/1e6)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "index file (default: EMB.hnsw beside the embeddings)")
	cmd.Flags().IntVar(&m, "m", neighbors.DefaultM, "links per node and layer (2·m in the bottom layer); more is slower to build, better recall")
	cmd.Flags().IntVar(&efc, "ef-construction", neighbors.DefaultEfConstruction, "candidates considered per insertion; more is slower to build, better graph")
	cmd.Flags().BoolVar(&force, "force", false, fmt.Sprintf("build an index even below %d vectors", neighbors.ExactThreshold))
	return cmd
}
