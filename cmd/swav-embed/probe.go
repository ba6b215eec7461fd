package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/spf13/cobra"

	"github.com/swav-go/swav"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/evaluate"
	"github.com/swav-go/swav/infer"
	"github.com/swav-go/swav/linearprobe"
)

type probeFlags struct {
	model, train, test, trainIdx, testIdx, trainLabels, testLabels string
	trainEmb, testEmb                                              string
	onError, output, reportPath, confusionPath, saveProbe          string
	rawPixels, knn, noLinear                                       bool
	epochs, workers, batch                                         int
	seed                                                           uint64
}

func newProbeCmd() *cobra.Command {
	var f probeFlags
	cmd := &cobra.Command{
		Use:   "probe [--model m.swav] (--train DIR|GLOB --test DIR|GLOB | --train-idx F --test-idx F)",
		Short: "Evaluate frozen features with a linear probe (and kNN) on labelled images",
		Long: `Embed labelled training and test images with a model (labels from the first sub-folder
below each glob's base, the ImageFolder convention, or from IDX label files), train the
paper's linear classifier on the training features, and report top-1/top-5, per-class
accuracy and the confusion matrix on the test set. --knn adds weighted kNN (k = 20, 200).
--raw-pixels evaluates the pixels themselves (the baseline) instead of a model.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runProbe(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "model checkpoint (default: the embedded model)")
	fl.StringVar(&f.train, "train", "", "training images: a directory of class folders (as torchvision's ImageFolder) or a doublestar glob such as 'train/**/*.png' (class = first sub-folder)")
	fl.StringVar(&f.test, "test", "", "test images: a directory of class folders or a doublestar glob")
	fl.StringVar(&f.trainIdx, "train-idx", "", "training images as an IDX file")
	fl.StringVar(&f.testIdx, "test-idx", "", "test images as an IDX file")
	fl.StringVar(&f.trainLabels, "train-labels", "", "IDX labels of --train-idx (default: its name with images-idx3 → labels-idx1)")
	fl.StringVar(&f.testLabels, "test-labels", "", "IDX labels of --test-idx (default: derived likewise)")
	fl.StringVar(&f.trainEmb, "train-emb", "", "saved training embeddings (from embed: .npy, .jsonl or .csv; labels from each path's folder) instead of images")
	fl.StringVar(&f.testEmb, "test-emb", "", "saved test embeddings (as --train-emb)")
	onErrorFlag(fl, &f.onError, onErrorHelp)
	vectorsFlag(fl, &f.output, "vectors: features (pooled backbone, the paper's protocol) or projection")
	fl.BoolVar(&f.rawPixels, "raw-pixels", false, "use the [0,1] pixels as features instead of a model (baseline)")
	fl.BoolVar(&f.knn, "knn", false, "also evaluate weighted kNN (k 20 and 200, temperature 0.07)")
	fl.BoolVar(&f.noLinear, "no-linear", false, "skip the linear probe")
	fl.IntVar(&f.epochs, "epochs", 0, "linear probe epochs (default 30)")
	fl.Uint64Var(&f.seed, "seed", 0, "probe seed")
	fl.StringVar(&f.reportPath, "report", "", "write the reports as JSON to this file")
	fl.StringVar(&f.confusionPath, "confusion", "", "write the linear probe's confusion matrix as PNG to this file")
	fl.StringVar(&f.saveProbe, "save-probe", "", "save the trained linear probe (checkpoint format) to this file")
	fl.IntVar(&f.workers, "workers", 2, workersHelp)
	batchSizeFlag(fl, &f.batch, 64, batchHelp)
	return cmd
}

// labelledSource opens a glob (labels from sub-folders) or an IDX pair.
func labelledSource(glob, idx, labels, which string) (dataset.Source, error) {
	switch {
	case glob != "" && idx != "":
		return nil, fmt.Errorf("give --%s or --%s-idx, not both", which, which)
	case glob != "":
		return dataset.Glob(glob, dataset.FolderOptions{Labels: true})
	case idx != "":
		if labels == "" {
			labels = filepath.Join(filepath.Dir(idx), strings.Replace(filepath.Base(idx), "images-idx3", "labels-idx1", 1))
			if labels == idx {
				return nil, fmt.Errorf("cannot derive the labels file of %s: give --%s-labels", idx, which)
			}
		}
		return dataset.IDX(idx, labels)
	}
	return nil, fmt.Errorf("give the %s images with --%s GLOB or --%s-idx FILE", which, which, which)
}

func runProbe(cmd *cobra.Command, f probeFlags) error {
	ctx := cmd.Context()
	be, err := newBackend()
	if err != nil {
		return err
	}
	var train, test linearprobe.Dataset
	if (f.trainEmb == "") != (f.testEmb == "") {
		return errors.New("give both --train-emb and --test-emb")
	}
	if f.trainEmb != "" {
		if train, err = linearprobe.ReadEmbeddings(f.trainEmb); err != nil {
			return err
		}
		if test, err = linearprobe.ReadEmbeddings(f.testEmb); err != nil {
			return err
		}
		return probeAndReport(cmd, f, be, train, test, nil)
	}
	trainSrc, err := labelledSource(f.train, f.trainIdx, f.trainLabels, "train")
	if err != nil {
		return err
	}
	testSrc, err := labelledSource(f.test, f.testIdx, f.testLabels, "test")
	if err != nil {
		return err
	}
	onErr, err := parseOnError(f.onError)
	if err != nil {
		return err
	}
	var source *linearprobe.Source // which model and vectors a saved probe reads
	if f.rawPixels {
		if train, err = evaluate.RawPixels(trainSrc, 1); err != nil {
			return err
		}
		if test, err = evaluate.RawPixels(testSrc, 1); err != nil {
			return err
		}
	} else {
		output, err := parseVectors(f.output)
		if err != nil {
			return err
		}
		m, err := loadModel(f.model, infer.Options{Backend: be, Output: output, BatchSize: f.batch, Workers: f.workers})
		if err != nil {
			return err
		}
		if f.saveProbe != "" {
			if source, err = probeSource(ctx, m, f.model, output); err != nil {
				return err
			}
		}
		for _, part := range []struct {
			name string
			src  dataset.Source
			dst  *linearprobe.Dataset
		}{{"train", trainSrc, &train}, {"test", testSrc, &test}} {
			bar := newProgress(cmd, part.src.Len(), "embed "+part.name, "img")
			d, skipped, err := evaluate.Embed(ctx, m.Model, part.src, onErr, func(done, _ int) { bar.Set(done) })
			bar.Finish()
			if err != nil {
				return err
			}
			reportSkipped(cmd.ErrOrStderr(), skipped)
			*part.dst = d
		}
	}
	return probeAndReport(cmd, f, be, train, test, source)
}

// probeSource describes the model and vectors a probe is trained on (see
// linearprobe.Source); path is --model, empty for the embedded default.
func probeSource(ctx context.Context, m *swav.Model, path string, output infer.Output) (*linearprobe.Source, error) {
	fp, err := m.Fingerprint(ctx)
	if err != nil {
		return nil, err
	}
	if path == "" {
		path = swav.DefaultModelName
	}
	return &linearprobe.Source{Model: path, Vectors: output.String(), Fingerprint: fp}, nil
}

// probeAndReport trains and evaluates the probes and prints (and saves) the reports.
// source, when not nil, is recorded in a saved probe.
func probeAndReport(cmd *cobra.Command, f probeFlags, be backends.Backend, train, test linearprobe.Dataset, source *linearprobe.Source) error {
	ctx := cmd.Context()
	infof(cmd, "features: train %d×%d, test %d×%d", train.N, train.D, test.N, test.D)
	var reports []*linearprobe.Report
	if !f.noLinear {
		bar := newProgress(cmd, 1, "linear probe", "step")
		probe, err := linearprobe.TrainLinear(ctx, be, train, linearprobe.LinearOptions{Epochs: f.epochs, Seed: f.seed,
			Progress: func(stage string, done, total int) {
				bar.ChangeMax(total)
				bar.Describe("linear probe: " + stage)
				bar.Set(done)
			}})
		bar.Finish()
		if err != nil {
			return err
		}
		rep, err := probe.Evaluate(test)
		if err != nil {
			return err
		}
		reports = append(reports, rep)
		if f.confusionPath != "" {
			if err := rep.WriteConfusionPNG(f.confusionPath); err != nil {
				return err
			}
		}
		if f.saveProbe != "" {
			probe.Source = source
			if err := linearprobe.SaveProbe(f.saveProbe, probe); err != nil {
				return err
			}
		}
	}
	if f.knn {
		knn, err := linearprobe.KNN(ctx, be, train, test, linearprobe.KNNOptions{})
		if err != nil {
			return err
		}
		for _, k := range linearprobe.DefaultKs() {
			reports = append(reports, knn[k])
		}
	}
	if len(reports) == 0 {
		return errors.New("probe: nothing to evaluate (--no-linear without --knn)")
	}
	for _, r := range reports {
		fmt.Println(r.Text())
	}
	if f.reportPath != "" {
		b, err := json.MarshalIndent(reports, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.reportPath, append(b, '\n'), 0o644); err != nil {
			return withPath("report", f.reportPath, err)
		}
	}
	return nil
}
