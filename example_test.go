package swav_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log"
	"strings"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/linearprobe"
)

func ExampleLoadDefault() {
	m, err := swav.LoadDefault(swav.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	res, err := m.EmbedFiles(context.Background(), []string{"testdata/fashion/train/bag/00018.png", "testdata/fashion/test/bag/00053.png"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Vectors), "vectors of", m.Dim(), "values")
	// Output: 2 vectors of 128 values
}

func ExampleLoad() {
	m, err := swav.Load("infer/testdata/tiny.swav", swav.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Config().Stem, m.Preprocess().InputSize, m.Dim())
	// Output: small 28 8
}

func ExampleDefaultModelBytes() {
	fmt.Println(len(swav.DefaultModelBytes()) > 0)
	// Output: true
}

func ExampleModel() {
	// A Model is safe for concurrent use; Options choose what it returns.
	m, err := swav.LoadDefault(swav.Options{Raw: true, BatchSize: 16})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	vecs, err := m.Embed(context.Background(), []image.Image{image.NewGray(image.Rect(0, 0, 28, 28))})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(vecs[0]))
	// Output: 128
}

func ExampleModel_EmbedFiles() {
	m, err := swav.LoadDefault(swav.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	res, err := m.EmbedFiles(context.Background(), []string{
		"testdata/fashion/train/bag/00018.png", "imageio/testdata/bad/truncated.png", "testdata/fashion/test/bag/00053.png"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Paths, res.Index)
	for _, f := range res.Failed {
		fmt.Println(f.Index, f.Path, errors.Is(f, imageio.ErrCorrupt))
	}
	fmt.Println(res.Err() != nil) // Err: all or nothing
	// Output:
	// [testdata/fashion/train/bag/00018.png testdata/fashion/test/bag/00053.png] [0 2]
	// 1 imageio/testdata/bad/truncated.png true
	// true
}

func ExampleModel_Close() {
	m, err := swav.LoadDefault(swav.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Close(); err != nil {
		log.Fatal(err)
	}
	_, err = m.EmbedFiles(context.Background(), []string{"testdata/fashion/train/bag/00018.png"})
	fmt.Println(errors.Is(err, swav.ErrClosed), m.Dim())
	// Output: true 128
}

func ExampleOptions_warn() {
	// Options.Warn receives, once per Model, a warning about inputs that do not fit the
	// model, here a colour photo given to the 28×28 grayscale default model (nil: the
	// standard logger).
	m, err := swav.LoadDefault(swav.Options{Warn: func(msg string) { fmt.Println(strings.SplitN(msg, ": ", 2)[0]) }})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if _, err := m.EmbedFiles(context.Background(), []string{"testdata/images/sunset.jpg", "testdata/images/balloon.png"}); err != nil {
		log.Fatal(err)
	}
	// Output: testdata/images/sunset.jpg is a 96×64 colour image, for a model of 28×28 grayscale images (embedded:models/default.swav)
}

func ExampleOptions() {
	opts := swav.Options{BatchSize: 32, Workers: 4}
	fmt.Println(opts.Output, opts.Raw)
	// Output: features false
}

func ExampleCosine() {
	sim, err := swav.Cosine([]float32{1, 0}, []float32{1, 1})
	fmt.Printf("%.4f %v\n", sim, err)
	_, err = swav.Cosine([]float32{1, 0}, nil)
	fmt.Println(err)
	// Output:
	// 0.7071 <nil>
	// swav: Cosine of vectors of lengths 2 and 0: want two non-empty vectors of one length
}

func ExampleNearest() {
	set := [][]float32{{1, 0}, {0, 1}, {0.9, 0.1}}
	near, err := swav.Nearest([]float32{1, 0}, set, 2)
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range near {
		fmt.Printf("%d %.3f\n", n.Index, n.Similarity)
	}
	_, err = swav.Nearest([]float32{1, 0}, append(set, []float32{1, 2, 3}), 2)
	fmt.Println(err)
	// Output:
	// 0 1.000
	// 2 0.994
	// swav: Nearest: set[3] has 3 values, the query 2
}

func ExampleNeighbor() {
	near, err := swav.Nearest([]float32{0, 1}, [][]float32{{1, 0}, {0, 2}}, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(near[0].Index, near[0].Similarity)
	// Output: 1 1
}

func ExampleTrainProbe() {
	// Two well-separated classes in 2-D.
	train := linearprobe.Dataset{D: 2, Classes: []string{"left", "right"}}
	for i := range 40 {
		x := float32(-1 - float32(i%5)*0.1)
		label := 0
		if i%2 == 1 {
			x, label = -x, 1
		}
		train.Features = append(train.Features, x, float32(i%7)*0.1)
		train.Labels = append(train.Labels, label)
		train.N++
	}
	probe, err := swav.TrainProbe(context.Background(), train, linearprobe.LinearOptions{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	rep, err := probe.Evaluate(train)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("top-1 %.2f\n", rep.Top1)
	// Output: top-1 1.00
}
