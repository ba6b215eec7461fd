package swav_test

// README.md's "Use it from Go" section is copied from this file: each of its ```go
// blocks is a run of lines of the functions below, without their first tab of
// indentation (TestREADMEGoBlocks checks it). Edit here, then copy.

import (
	"context"
	"fmt"
	"log"
	"path/filepath"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/evaluate"
	"github.com/swav-go/swav/linearprobe"
	"github.com/swav-go/swav/pretrain"
)

// Example_useFromGo embeds files, searches them, and trains a linear probe on a labelled
// folder: README.md's Go example.
func Example_useFromGo() {
	ctx := context.Background()
	m, err := swav.LoadDefault(swav.Options{}) // or swav.Load("model.swav", swav.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	paths, err := filepath.Glob("testdata/fashion/train/*/*.png")
	if err != nil {
		log.Fatal(err)
	}
	paths = append(paths, "testdata/fashion/missing.png")
	res, err := m.EmbedFiles(ctx, paths)
	if err != nil {
		log.Fatal(err) // the run as a whole failed (cancelled, model closed)
	}
	for _, f := range res.Failed { // files that could not be read or decoded
		fmt.Println("skipped", f.Path) // f.Err says why
	}
	// res.Vectors[i] is the vector of res.Paths[i]; every vector is set.
	near, err := swav.Nearest(res.Vectors[0], res.Vectors, 3)
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range near {
		fmt.Printf("%s %.2f\n", res.Paths[n.Index], n.Similarity)
	}

	// A linear probe on a few labels: one folder per class (dataset.Glob's Labels).
	train, err := dataset.Glob("testdata/fashion/train/*/*.png", dataset.FolderOptions{Labels: true})
	if err != nil {
		log.Fatal(err)
	}
	labelled, skipped, err := evaluate.Embed(ctx, m.Model, train, dataset.Skip, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(labelled.N, "images of", labelled.Classes, "-", len(skipped), "skipped")
	probe, err := swav.TrainProbe(ctx, labelled, linearprobe.LinearOptions{})
	if err != nil {
		log.Fatal(err)
	}
	test, err := filepath.Glob("testdata/fashion/test/*/*.png")
	if err != nil {
		log.Fatal(err)
	}
	preds, err := probe.PredictFiles(ctx, m, test, 1)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range preds {
		if p.Err != nil {
			fmt.Println(p.Path, p.Err)
			continue
		}
		fmt.Println(p.Path, "is a", p.Top[0].Class)
	}
	// Output:
	// skipped testdata/fashion/missing.png
	// testdata/fashion/train/bag/00018.png 1.00
	// testdata/fashion/train/sneaker/00012.png 0.86
	// testdata/fashion/train/sneaker/00022.png 0.85
	// 12 images of [bag sneaker trouser] - 0 skipped
	// testdata/fashion/test/bag/00053.png is a bag
	// testdata/fashion/test/sneaker/00038.png is a sneaker
	// testdata/fashion/test/trouser/00024.png is a trouser
}

// Example_pretrain trains a model on unlabelled images (package pretrain: training stays
// out of the facade). It is compiled, not run: a real run takes hours.
func Example_pretrain() {
	ctx := context.Background()
	src, err := dataset.Glob("photos/**/*.jpg", dataset.FolderOptions{})
	if err != nil {
		log.Fatal(err)
	}
	res, err := pretrain.Run(ctx, src, pretrain.Options{Checkpoint: "model.swav", Epochs: 100})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Steps, "steps, last loss", res.LastLoss)
	m, err := swav.Load("model.swav", swav.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
}
