package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/swav-go/swav/neighbors"
)

type searchFlags struct {
	modelFlags
	emb, index, out string
	paths           []string
	k, ef           int
}

func newSearchCmd() *cobra.Command {
	var f searchFlags
	cmd := &cobra.Command{
		Use:   "search --emb EMB [--index EMB.hnsw] ([--model m.swav] QUERY_IMAGE... | --path P...) [--k 10]",
		Short: "Find the images of an embeddings file most similar to query images or to files already in it",
		Long: fmt.Sprintf(`Find the k nearest neighbours, by cosine similarity, among the vectors of an embeddings
file: of query images (embedded with --model, default the embedded model; use the model
and --vectors that wrote the file), or of paths already in the file (--path; the path
itself is left out of its results).

The HNSW index is used when --index is given or EMB.hnsw exists (built by the index
command); otherwise the search is exact (fast below %d vectors). Results are a table
on standard output, or CSV/JSON Lines rows (query, rank, path, similarity) with --out.`, neighbors.ExactThreshold),
		RunE: func(cmd *cobra.Command, args []string) error { return runSearch(cmd, f, args) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.emb, "emb", "", "embeddings file to search (.npy, .jsonl or .csv, as written by embed)")
	fl.StringVar(&f.index, "index", "", "HNSW index of --emb (default: EMB.hnsw when it exists)")
	f.register(fl, modelFlagHelp{
		model:  "model that embeds QUERY_IMAGEs (default: the embedded Fashion-MNIST model)",
		output: "vectors the file holds: features or projection (as given to embed)",
	})
	fl.StringSliceVar(&f.paths, "path", nil, "query by a path already in the file (repeatable)")
	fl.IntVar(&f.k, "k", 10, "neighbours per query")
	fl.IntVar(&f.ef, "ef", neighbors.DefaultEf, "HNSW search breadth (at least k is used); more is slower and closer to exact")
	fl.StringVar(&f.out, "out", "", "write rows to this .csv or .jsonl file ('-' for CSV on standard output) instead of a table")
	return cmd
}

// hit is one output row of search.
type hit struct {
	Query      string  `json:"query"`
	Rank       int     `json:"rank"`
	Path       string  `json:"path"`
	Similarity float32 `json:"similarity"`
}

// openSearcher returns the index of set when one is given or found beside the file, else
// exact search; notes go to stderr.
func openSearcher(stderr io.Writer, set *neighbors.Set, emb, index string, ef int) (neighbors.Searcher, error) {
	explicit := index != ""
	if !explicit {
		index = neighbors.DefaultIndexPath(emb)
		if _, err := os.Stat(index); err != nil {
			if set.Len() >= neighbors.ExactThreshold {
				fmt.Fprintf(stderr, "note: %d vectors and no index at %s: exact search (swav-embed index %s builds one)\n", set.Len(), index, emb)
			}
			return neighbors.NewExact(set), nil
		}
	}
	ix, err := neighbors.Load(index, set)
	if err != nil {
		if !explicit && errors.Is(err, neighbors.ErrStale) {
			fmt.Fprintf(stderr, "warning: %v; using exact search\n", err)
			return neighbors.NewExact(set), nil
		}
		return nil, err
	}
	ix.Ef = ef
	return ix, nil
}

func runSearch(cmd *cobra.Command, f searchFlags, images []string) error {
	if f.emb == "" {
		return errors.New("search: --emb is required (the embeddings file to search)")
	}
	if (len(images) > 0 || f.fromFile != "") == (len(f.paths) > 0) {
		return errors.New("search: give query images or --path, not both and not neither")
	}
	if f.k < 1 {
		return fmt.Errorf("search: --k %d: want at least 1", f.k)
	}
	var write func([]hit) error
	if f.out != "" {
		var err error
		if write, err = hitWriter(cmd, f.out); err != nil {
			return err
		}
	}
	set, err := neighbors.Read(f.emb)
	if err != nil {
		return err
	}
	sr, err := openSearcher(cmd.ErrOrStderr(), set, f.emb, f.index, f.ef)
	if err != nil {
		return err
	}
	type query struct {
		name string
		vec  []float32
		skip int
	}
	var queries []query
	if len(f.paths) > 0 {
		for _, p := range f.paths {
			i := set.Find(p)
			if i < 0 {
				return fmt.Errorf("search: --path %s is not in %s (paths are matched exactly as listed there)", p, f.emb)
			}
			queries = append(queries, query{p, set.Row(i), i})
		}
	} else {
		paths, err := f.expandGlobs(cmd, images)
		if err != nil {
			return err
		}
		output, err := f.vectors()
		if err != nil {
			return err
		}
		m, err := f.load(output, false)
		if err != nil {
			return err
		}
		if m.Dim() != set.Dim {
			name := f.model
			if name == "" {
				name = "the embedded default model"
			}
			return fmt.Errorf("search: %s gives %d-d vectors (--vectors %s) but %s holds %d-d vectors: query with the model and --vectors that wrote the file",
				name, m.Dim(), f.output, f.emb, set.Dim)
		}
		err = m.EachFile(cmd.Context(), paths, func(i int, vec []float32, ferr error) error {
			if ferr != nil {
				return ferr
			}
			queries = append(queries, query{paths[i], vec, -1})
			return nil
		})
		if err != nil {
			return err
		}
	}
	var rows []hit
	for _, q := range queries {
		k := f.k
		if q.skip >= 0 {
			k++
		}
		rs, err := sr.Search(q.vec, k)
		if err != nil {
			return fmt.Errorf("search: query %s: %w", q.name, err)
		}
		rank := 0
		for _, r := range rs {
			if r.Index == q.skip || rank == f.k {
				continue
			}
			rank++
			rows = append(rows, hit{Query: q.name, Rank: rank, Path: set.Paths[r.Index], Similarity: r.Similarity})
		}
	}
	if write != nil {
		return write(rows)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "query\trank\tsimilarity\tpath")
	for _, h := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%s\n", h.Query, h.Rank, h.Similarity, h.Path)
	}
	return tw.Flush()
}

// hitWriter returns a function writing rows as CSV or JSON Lines to path ("-": CSV on
// standard output), chosen by the extension.
func hitWriter(cmd *cobra.Command, path string) (func([]hit) error, error) {
	lower := strings.ToLower(path)
	jsonl := strings.HasSuffix(lower, ".jsonl")
	if path != "-" && !jsonl && !strings.HasSuffix(lower, ".csv") {
		return nil, fmt.Errorf("search: --out %s: want a .csv or .jsonl file, or - for CSV on standard output", path)
	}
	return func(rows []hit) error {
		return writeFileOrStdout(cmd.OutOrStdout(), path, func(w io.Writer) error {
			if jsonl {
				enc := json.NewEncoder(w)
				enc.SetEscapeHTML(false)
				for _, h := range rows {
					if err := enc.Encode(h); err != nil {
						return err
					}
				}
				return nil
			}
			cw := csv.NewWriter(w)
			_ = cw.Write([]string{"query", "rank", "path", "similarity"})
			for _, h := range rows {
				_ = cw.Write([]string{h.Query, strconv.Itoa(h.Rank), h.Path, strconv.FormatFloat(float64(h.Similarity), 'f', 6, 32)})
			}
			cw.Flush()
			return cw.Error()
		})
	}, nil
}

// writeFileOrStdout runs fn on stdout for "-", else on a temporary file beside path that
// is renamed to path when fn and the close succeed.
func writeFileOrStdout(stdout io.Writer, path string, fn func(io.Writer) error) (err error) {
	if path == "-" {
		return fn(stdout)
	}
	dir, base := ".", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, base = path[:i+1], path[i+1:]
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return withPath("write", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := fn(f); err != nil {
		return withPath("write", path, err)
	}
	if err := f.Close(); err != nil {
		return withPath("write", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return withPath("write", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return withPath("write", path, err)
	}
	return nil
}
