package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/embedio"
	"github.com/swav-go/swav/infer"
)

type embedFlags struct {
	modelFlags
	out, format string
	raw         bool
}

// defaultEmbedOut is embed's --out when none is given (with --format F: embeddings.F).
const defaultEmbedOut = "embeddings.npy"

func newEmbedCmd() *cobra.Command {
	var f embedFlags
	cmd := &cobra.Command{
		Use:   "embed [--model m.swav] (IMAGES... | --from-file LIST) [--out emb.npy|emb.jsonl|emb.csv|-]",
		Short: "Embed images (globs, files, directories) into .npy, .jsonl or .csv",
		Long: `Embed the images with a model (the embedded default model unless --model is given).
Vectors are written as they are computed to a temporary file renamed to --out on success
(an error or Ctrl-C leaves no partial file); .npy output gets a sidecar OUT.paths.txt
listing the files in the same order. --out - writes JSON Lines or CSV (--format; CSV by
default) to standard output, with progress and messages on standard error.

` + imageArgsHelp,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("out") && f.format != "" {
				f.out = "embeddings." + strings.ToLower(f.format)
			}
			return runEmbed(cmd, f, args)
		},
	}
	fl := cmd.Flags()
	f.register(fl, modelFlagHelp{model: modelHelp, output: "vectors to write: features (pooled backbone) or projection (head output)", decoding: true})
	fl.StringVar(&f.out, "out", defaultEmbedOut, "output file: .npy (float32 N×D + OUT.paths.txt), .jsonl or .csv; - for standard output (jsonl or csv)")
	fl.StringVar(&f.format, "format", "", "output format npy, jsonl or csv (default: from --out's extension; csv for -)")
	fl.BoolVar(&f.raw, "raw", false, "write vectors without L2 normalisation")
	return cmd
}

// embedFormat is the output format of --out and --format: --format must agree with a
// known extension of --out, and standard output (-) takes jsonl or csv (default csv)
// since .npy needs its sidecar file.
func embedFormat(out, format string) (embedio.Format, error) {
	if out == "-" {
		if format == "" {
			return embedio.FormatCSV, nil
		}
		fm, err := embedio.FormatFromPath("standard output", format)
		if err != nil {
			return "", &usageError{err}
		}
		if fm == embedio.FormatNPY {
			return "", &usageError{fmt.Errorf("--format npy cannot go to standard output (--out -): .npy needs a file and its OUT.paths.txt sidecar; give --out FILE.npy, or --format jsonl or csv")}
		}
		return fm, nil
	}
	byExt, extErr := embedio.FormatFromPath(out, "")
	if format == "" {
		if extErr != nil {
			return "", &usageError{extErr}
		}
		return byExt, nil
	}
	fm, err := embedio.FormatFromPath(out, format)
	if err != nil {
		return "", &usageError{err}
	}
	if extErr == nil && fm != byExt {
		return "", &usageError{fmt.Errorf("--format %s contradicts --out %s (a .%s name): make them agree, or drop --format", fm, out, byExt)}
	}
	return fm, nil
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
	format, err := embedFormat(f.out, f.format)
	if err != nil {
		return err
	}
	paths, skipped, err := f.images(cmd, patterns, onErr)
	if err != nil {
		return err
	}
	m, err := f.load(output, f.raw)
	if err != nil {
		return err
	}
	dest, shown := f.out, f.out
	if f.out == "-" {
		// embedio writes files: stage the rows in a private temporary folder, copied to
		// standard output once complete and always removed.
		dir, err := os.MkdirTemp("", "swav-embed-*")
		if err != nil {
			return fmt.Errorf("--out -: a temporary folder for the rows: %w", err)
		}
		defer os.RemoveAll(dir)
		dest, shown = filepath.Join(dir, "rows."+string(format)), "standard output"
	}
	w, err := embedio.Create(dest, format, m.Dim())
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = w.Abort()
		}
	}()
	bar := newProgress(cmd, len(paths), "embed", "img")
	start := time.Now()
	err = m.EachFile(cmd.Context(), paths, func(i int, vec []float32, ferr error) error {
		bar.Add(1)
		if ferr != nil {
			return onErr.Handle(&skipped, paths[i], ferr)
		}
		return w.Write(paths[i], vec)
	})
	bar.Finish()
	if err != nil {
		return err
	}
	if w.Count() == 0 {
		// Nothing under --out rather than an empty file: the deferred Abort removes the
		// temporary file.
		reportSkipped(cmd.ErrOrStderr(), skipped)
		return fmt.Errorf("no image could be embedded: %s not written", shown)
	}
	if err := w.Close(); err != nil {
		return err
	}
	if f.out == "-" {
		if err := copyToStdout(cmd.OutOrStdout(), dest); err != nil {
			return err
		}
	}
	elapsed := time.Since(start)
	infof(cmd, "embedded %d images (%d-d %s) in %s (%.1f images/s) → %s",
		w.Count(), m.Dim(), output, elapsed.Round(time.Millisecond), float64(w.Count())/elapsed.Seconds(), shown)
	reportSkipped(cmd.ErrOrStderr(), skipped)
	return nil
}

// copyToStdout copies the finished file at path to stdout.
func copyToStdout(stdout io.Writer, path string) error {
	r, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--out -: %w", err)
	}
	defer r.Close()
	if _, err := io.Copy(stdout, r); err != nil {
		return fmt.Errorf("writing standard output: %w", err)
	}
	return nil
}
