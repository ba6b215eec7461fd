package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/swav-go/swav/cluster"
	"github.com/swav-go/swav/embmap"
)

type mapFlags struct {
	in                         imageInputFlags
	out, color, method, output string
	points, title              string
	k, width, height           int
	seed                       uint64
}

func newMapCmd() *cobra.Command {
	var f mapFlags
	cmd := &cobra.Command{
		Use:   "map [--model m.swav] (GLOB... | --idx F) --out map.png [--color label|cluster|none]",
		Short: "Draw a 2-D map (PCA) of the images' embeddings as a PNG, coloured by label or cluster",
		Long: `Embed the images, project the L2-normalised vectors onto their two principal components
and draw them as a scatter plot PNG with a legend.

--color label (the default when the images have labels: --idx with its labels file, or
--folder-labels) colours points by class; --color cluster by seeded k-means with --k
clusters on the same vectors; --color none draws one colour. --points FILE also writes
the 2-D coordinates as CSV (path, x, y, group).

The projection is PCA: no maintained pure-Go t-SNE or UMAP library exists to build on.

` + imageArgsHelp,
		RunE: func(cmd *cobra.Command, args []string) error { return runMap(cmd, f, args) },
	}
	fl := cmd.Flags()
	f.in.register(fl)
	fl.StringVar(&f.out, "out", "", "the PNG to write (required)")
	fl.StringVar(&f.color, "color", "", "label, cluster or none (default: label when labelled, else none)")
	fl.StringVar(&f.method, "method", "pca", "projection: pca")
	vectorsFlag(fl, &f.output, "vectors to map: features (pooled backbone) or projection (head output)")
	fl.IntVar(&f.k, "k", 10, "k-means clusters for --color cluster")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of k-means and of the drawing order")
	fl.StringVar(&f.points, "points", "", "also write the 2-D points as CSV to this file")
	fl.StringVar(&f.title, "title", "", "title above the map (default: what was mapped)")
	fl.IntVar(&f.width, "width", 900, "PNG width in pixels")
	fl.IntVar(&f.height, "height", 720, "PNG height in pixels")
	return cmd
}

func runMap(cmd *cobra.Command, f mapFlags, args []string) (err error) {
	if f.out == "" {
		return errors.New("give --out FILE.png")
	}
	if ext := filepath.Ext(f.out); ext != ".png" && ext != ".PNG" {
		return fmt.Errorf("--out %s: the map is a PNG, name it .png", f.out)
	}
	if f.method != "pca" {
		return fmt.Errorf("--method %q is not valid, methods are: pca (no maintained pure-Go t-SNE or UMAP library exists)", f.method)
	}
	switch f.color {
	case "", "label", "cluster", "none":
	default:
		return fmt.Errorf("--color %q is not valid, choices are: label, cluster, none", f.color)
	}
	if f.k < 1 {
		return fmt.Errorf("--k is %d: it must be at least 1", f.k)
	}
	onErr, err := f.in.onErrorPolicy()
	if err != nil {
		return err
	}
	output, err := parseVectors(f.output)
	if err != nil {
		return err
	}
	src, err := f.in.source(cmd, args)
	if err != nil {
		return err
	}
	labelled := src.Classes() != nil
	colour := f.color
	if colour == "" {
		colour = "none"
		if labelled {
			colour = "label"
		}
	}
	if colour == "label" && !labelled {
		return errors.New("--color label needs labels: --idx with its labels file, or --folder-labels")
	}
	m, err := f.in.load(output, false)
	if err != nil {
		return err
	}
	e, err := embedSource(cmd, m.Model, src, onErr)
	if err != nil {
		return err
	}
	if len(e.vecs) < 2 {
		return fmt.Errorf("a map needs at least 2 embedded images, got %d", len(e.vecs))
	}
	x := cluster.Normalize(e.vecs)
	proj, err := embmap.PCA(x, 2)
	if err != nil {
		return err
	}
	pts := make([][2]float64, len(proj.Points))
	for i, p := range proj.Points {
		pts[i] = [2]float64{p[0], p[1]}
	}
	opts := embmap.PlotOptions{Width: f.width, Height: f.height, Seed: f.seed, Title: f.title}
	switch colour {
	case "label":
		opts.Groups, opts.Names = e.labels, src.Classes()
	case "cluster":
		if f.k > len(x) {
			return fmt.Errorf("--k %d exceeds the %d embedded images", f.k, len(x))
		}
		r, err := cluster.KMeans(cmd.Context(), x, cluster.KMeansOptions{K: f.k, Seed: f.seed})
		if err != nil {
			return err
		}
		opts.Groups = r.Assign
		for c := range f.k {
			opts.Names = append(opts.Names, "cluster "+strconv.Itoa(c))
		}
	}
	frac := func(k int) float64 {
		if proj.TotalVariance == 0 {
			return 0
		}
		return 100 * proj.Variance[k] / proj.TotalVariance
	}
	opts.XLabel = fmt.Sprintf("PC 1 (%.1f %% of the variance)", frac(0))
	opts.YLabel = fmt.Sprintf("PC 2 (%.1f %% of the variance)", frac(1))
	if opts.Title == "" {
		model := f.in.model
		if model == "" {
			model = "default model"
		}
		opts.Title = fmt.Sprintf("%d images, %s %s, PCA, coloured by %s", len(pts), filepath.Base(model), output, colour)
	}
	if err := embmap.WritePNG(f.out, pts, opts); err != nil {
		return err
	}
	infof(cmd, "map of %d images (PC 1 and 2 explain %.1f %% and %.1f %% of the variance) → %s", len(pts), frac(0), frac(1), f.out)
	if f.points == "" {
		return nil
	}
	w, err := createTable(f.points, "csv")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			w.abort()
		}
	}()
	if err := w.header([]string{"path", "x", "y", "group"}); err != nil {
		return err
	}
	for i, p := range pts {
		group := ""
		if opts.Groups != nil {
			group = opts.Names[opts.Groups[i]]
		}
		fields := []string{src.Name(e.index[i]), strconv.FormatFloat(p[0], 'g', 6, 64), strconv.FormatFloat(p[1], 'g', 6, 64), group}
		if err := w.record(fields, nil); err != nil {
			return err
		}
	}
	return w.close()
}
