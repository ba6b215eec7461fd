package main

import (
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/embedio"
	"github.com/swav-go/swav/infer"
)

type embedFlags struct {
	modelFlags
	out, format string
	raw         bool
}

func newEmbedCmd() *cobra.Command {
	var f embedFlags
	cmd := &cobra.Command{
		Use:   "embed [--model m.swav] GLOB... --out emb.npy",
		Short: "Embed images matching doublestar globs into .npy, .jsonl or .csv",
		Long: `Embed every image matching the globs (e.g. 'photos/**/*.{jpg,jpeg,png,webp}') with a model
(the embedded default model unless --model is given). Vectors are written as they are
computed to a temporary file renamed to --out on success; .npy output gets a sidecar
OUT.paths.txt listing the files in the same order.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runEmbed(cmd, f, args) },
	}
	fl := cmd.Flags()
	f.register(fl, modelFlagHelp{model: modelHelp, output: "vectors: features (pooled backbone) or projection (head output)", batchFlag: "batch"})
	fl.StringVar(&f.out, "out", "embeddings.npy", "output file: .npy (float32 N×D + OUT.paths.txt), .jsonl or .csv")
	fl.StringVar(&f.format, "format", "", "output format npy, jsonl or csv (default: from --out's extension)")
	fl.BoolVar(&f.raw, "raw", false, "write vectors without L2 normalisation")
	return cmd
}

// expandGlobs returns the files matching the patterns (doublestar globs; hidden files
// match too) in walk order per pattern, without duplicates. A path that cannot be read
// while walking (an unreadable folder, a symbolic link loop) is an error naming its
// absolute path; walkGlobs can go on past such paths instead.
func expandGlobs(patterns []string) ([]string, error) {
	paths, _, err := walkGlobs(patterns, dataset.Fail)
	return paths, err
}

// walkGlobs is expandGlobs under an error policy: a path that could not be read while
// walking does not stop the walk but goes to onErr, so under skip it is returned as a
// skipped entry naming its absolute path (for the run's skip report), and under fail it
// is the error.
func walkGlobs(patterns []string, onErr dataset.OnError) ([]string, []dataset.Skipped, error) {
	var paths []string
	var skipped []dataset.Skipped
	seen := map[string]bool{}
	for _, p := range patterns {
		files, failed, err := dataset.Walk(p, dataset.WalkOptions{Hidden: true})
		if err != nil {
			return nil, nil, err
		}
		for _, werr := range failed {
			if seen[werr.Path] {
				continue
			}
			seen[werr.Path] = true
			if err := onErr.Handle(&skipped, werr.Path, werr); err != nil {
				return nil, nil, fmt.Errorf("pattern %q: %w", p, err)
			}
		}
		if len(files) == 0 {
			if len(failed) > 0 {
				return nil, nil, fmt.Errorf("pattern %q matches no readable file: %d path(s) could not be read, the first: %w", p, len(failed), failed[0])
			}
			return nil, nil, fmt.Errorf("pattern %q matches no file", p)
		}
		for _, m := range files {
			if !seen[m] {
				seen[m] = true
				paths = append(paths, m)
			}
		}
	}
	return paths, skipped, nil
}

func loadModel(path string, opts infer.Options) (*swav.Model, error) {
	if path == "" {
		return swav.LoadDefault(opts)
	}
	return swav.Load(path, opts)
}

func runEmbed(cmd *cobra.Command, f embedFlags, patterns []string) (err error) {
	onErr, err := f.onErrorPolicy()
	if err != nil {
		return err
	}
	output, err := f.vectors()
	if err != nil {
		return err
	}
	format, err := embedio.FormatFromPath(f.out, f.format)
	if err != nil {
		return err
	}
	paths, skipped, err := walkGlobs(patterns, onErr)
	if err != nil {
		return err
	}
	m, err := f.load(output, f.raw)
	if err != nil {
		return err
	}
	w, err := embedio.Create(f.out, format, m.Dim())
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = w.Abort()
		}
	}()
	bar := progressbar.NewOptions(len(paths), progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("embed"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("img"),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	start := time.Now()
	err = m.EachFile(cmd.Context(), paths, func(i int, vec []float32, ferr error) error {
		_ = bar.Add(1)
		if ferr != nil {
			return onErr.Handle(&skipped, paths[i], ferr)
		}
		return w.Write(paths[i], vec)
	})
	_ = bar.Finish()
	if err != nil {
		return err
	}
	if w.Count() == 0 {
		// Nothing under --out rather than an empty file: the deferred Abort removes the
		// temporary file.
		reportSkipped(skipped)
		return fmt.Errorf("no image could be embedded: %s not written", f.out)
	}
	if err := w.Close(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(os.Stderr, "embedded %d images (%d-d %s) in %s (%.1f images/s) → %s\n",
		w.Count(), m.Dim(), output, elapsed.Round(time.Millisecond), float64(w.Count())/elapsed.Seconds(), f.out)
	reportSkipped(skipped)
	return nil
}

// reportSkipped lists the skipped images on standard error.
func reportSkipped(skipped []dataset.Skipped) {
	if len(skipped) > 0 {
		fmt.Fprintf(os.Stderr, "skipped %d:\n", len(skipped))
		for _, s := range skipped {
			fmt.Fprintf(os.Stderr, "  %s\n", s)
		}
	}
}
