package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swav-go/swav"
	"github.com/swav-go/swav/linearprobe"
)

type predictFlags struct {
	modelFlags
	probe, out, format string
	topK               int
}

func newPredictCmd() *cobra.Command {
	var f predictFlags
	cmd := &cobra.Command{
		Use:   "predict --probe p.swav [--model m.swav] (IMAGES... | --from-file LIST) [--out preds.csv]",
		Short: "Classify images with a saved linear probe: path, class and top-k probabilities as CSV or JSONL",
		Long: `Embed the images with a model (the embedded default model unless --model
is given) and classify them with a linear probe saved by 'swav-embed probe --save-probe'.
The probe must come from the same model and --vectors it was trained on; a probe whose
feature dimension does not match the model's is refused.

Output (--out, by its extension, or standard output when absent or -): CSV with columns
path, class, probability, then class_2, probability_2 … up to --top-k; or JSONL with
{"path", "class", "top": [{"index", "class", "probability"}, …]}. Unreadable images are
listed on standard error and left out (--on-error skip) or stop the run (fail).

` + imageArgsHelp,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runPredict(cmd, f, args) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.probe, "probe", "", "linear probe saved by 'swav-embed probe --save-probe' (required)")
	f.register(fl, modelFlagHelp{
		model:    "model checkpoint the probe was trained on (default: the embedded model)",
		output:   "the vectors the probe was trained on: features or projection",
		decoding: true,
	})
	fl.StringVar(&f.out, "out", "", "output file: .csv or .jsonl (default: CSV on standard output; - too)")
	fl.StringVar(&f.format, "format", "", "csv or jsonl (default: from --out's extension)")
	fl.IntVar(&f.topK, "top-k", 3, "classes (with probabilities) per image")
	return cmd
}

// predictRow is one line of predict's JSONL output.
type predictRow struct {
	Path  string                         `json:"path"`
	Class string                         `json:"class"`
	Top   []linearprobe.ClassProbability `json:"top"`
}

func runPredict(cmd *cobra.Command, f predictFlags, patterns []string) (err error) {
	if f.probe == "" {
		return errors.New("give the probe with --probe FILE (saved by 'swav-embed probe --save-probe')")
	}
	if f.topK < 1 {
		return fmt.Errorf("--top-k is %d: it must be at least 1", f.topK)
	}
	onErr, err := f.onErrorPolicy()
	if err != nil {
		return err
	}
	output, err := f.vectors()
	if err != nil {
		return err
	}
	format, err := tableFormat(f.out)
	if err != nil {
		return err
	}
	if f.format != "" {
		if f.format != "csv" && f.format != "jsonl" {
			return fmt.Errorf("--format %q is not valid, formats are: csv, jsonl", f.format)
		}
		if f.out != "" && f.out != "-" && f.format != format {
			return fmt.Errorf("--format %s contradicts --out %s", f.format, f.out)
		}
		format = f.format
	}
	probe, err := linearprobe.LoadProbe(f.probe)
	if err != nil {
		return err
	}
	paths, skipped, err := f.images(cmd, patterns, onErr)
	if err != nil {
		return err
	}
	m, err := f.load(output, false)
	if err != nil {
		return err
	}
	if m.Dim() != probe.D {
		return fmt.Errorf("probe %s was trained on %d-dimensional vectors but the model gives %d-dimensional %s: "+
			"give the --model and --vectors the probe was trained with", f.probe, probe.D, m.Dim(), output)
	}
	if probe.Source != nil {
		fp, err := m.Fingerprint(cmd.Context())
		if err != nil {
			return err
		}
		name := f.model
		if name == "" {
			name = swav.DefaultModelName
		}
		if err := probe.CheckSource(name, output.String(), fp); err != nil {
			return fmt.Errorf("probe %s: %w: give --model %s --vectors %s", f.probe, err, probe.Source.Model, probe.Source.Vectors)
		}
	}
	k := min(f.topK, probe.C)
	w, err := createTable(f.out, format)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			w.abort()
		}
	}()
	header := []string{"path", "class", "probability"}
	for j := 2; j <= k; j++ {
		header = append(header, "class_"+strconv.Itoa(j), "probability_"+strconv.Itoa(j))
	}
	if err := w.header(header); err != nil {
		return err
	}
	written := 0
	bar := newProgress(cmd, len(paths), "predict", "img")
	err = probe.EachFilePrediction(cmd.Context(), m, paths, k, func(_ int, p linearprobe.Prediction) error {
		bar.Add(1)
		if p.Err != nil {
			return onErr.Handle(&skipped, p.Path, p.Err)
		}
		fields := []string{p.Path}
		for _, c := range p.Top {
			fields = append(fields, c.Class, formatFloat(c.Probability))
		}
		written++
		return w.record(fields, predictRow{Path: p.Path, Class: p.Top[0].Class, Top: p.Top})
	})
	bar.Finish()
	if err != nil {
		return err
	}
	reportSkipped(cmd.ErrOrStderr(), skipped)
	if written == 0 {
		return errors.New("no image could be classified")
	}
	if err := w.close(); err != nil {
		return err
	}
	if f.out != "" && f.out != "-" {
		infof(cmd, "classified %d images into %d classes → %s", written, probe.C, f.out)
	}
	return nil
}

// formatFloat writes a probability or score with 6 significant digits.
func formatFloat(v float32) string { return strconv.FormatFloat(float64(v), 'g', 6, 32) }

// tableFormat is "csv" or "jsonl" by out's extension; standard output ("" or "-") is CSV.
func tableFormat(out string) (string, error) {
	if out == "" || out == "-" {
		return "csv", nil
	}
	switch strings.ToLower(filepath.Ext(out)) {
	case ".csv":
		return "csv", nil
	case ".jsonl", ".ndjson":
		return "jsonl", nil
	}
	return "", fmt.Errorf("--out %s: the extension must be .csv or .jsonl", out)
}

// tableWriter writes CSV or JSONL records to standard output, or to a temporary file
// renamed to the destination on close (a failed run leaves nothing behind).
type tableWriter struct {
	format string
	buf    *bufio.Writer
	csv    *csv.Writer
	json   *json.Encoder
	tmp    *os.File // nil for standard output
	final  string
}

// createTable opens out ("" or "-": standard output) for records in format.
func createTable(out, format string) (*tableWriter, error) {
	t := &tableWriter{format: format, final: out}
	var w io.Writer = os.Stdout
	if out != "" && out != "-" {
		tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
		if err != nil {
			return nil, withPath("creating", out, err)
		}
		t.tmp, w = tmp, tmp
	}
	t.buf = bufio.NewWriter(w)
	if format == "csv" {
		t.csv = csv.NewWriter(t.buf)
	} else {
		t.json = json.NewEncoder(t.buf)
		t.json.SetEscapeHTML(false)
	}
	return t, nil
}

// header writes the CSV header (nothing for JSONL).
func (t *tableWriter) header(cols []string) error {
	if t.csv == nil {
		return nil
	}
	return t.wrap(t.csv.Write(cols))
}

// record writes fields as a CSV row, or v as a JSON line.
func (t *tableWriter) record(fields []string, v any) error {
	if t.csv != nil {
		return t.wrap(t.csv.Write(fields))
	}
	return t.wrap(t.json.Encode(v))
}

func (t *tableWriter) name() string {
	if t.tmp == nil {
		return "standard output"
	}
	return t.final
}

func (t *tableWriter) wrap(err error) error {
	if err != nil {
		return withPath("writing", t.name(), err)
	}
	return nil
}

// close flushes the records and moves the file into place.
func (t *tableWriter) close() error {
	if t.csv != nil {
		t.csv.Flush()
		if err := t.csv.Error(); err != nil {
			return t.wrap(err)
		}
	}
	if err := t.buf.Flush(); err != nil {
		return t.wrap(err)
	}
	if t.tmp == nil {
		return nil
	}
	if err := t.tmp.Close(); err != nil {
		return t.wrap(err)
	}
	if err := os.Chmod(t.tmp.Name(), 0o644); err != nil {
		return t.wrap(err)
	}
	if err := os.Rename(t.tmp.Name(), t.final); err != nil {
		return t.wrap(err)
	}
	t.tmp = nil
	return nil
}

// abort discards a file not yet closed.
func (t *tableWriter) abort() {
	if t.tmp != nil {
		_ = t.tmp.Close()
		_ = os.Remove(t.tmp.Name())
		t.tmp = nil
	}
}
