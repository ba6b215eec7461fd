package swav_test

import (
	"context"
	"fmt"
	"log"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/linearprobe"
)

func ExampleLoadDefault() {
	m, err := swav.LoadDefault(swav.Options{})
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := m.EmbedFiles(context.Background(), []string{"testdata/images/sunset.jpg", "testdata/images/mountains.png"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(vecs), "vectors of", m.Dim(), "values")
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
	vecs, err := m.EmbedFiles(context.Background(), []string{"testdata/images/leaf.gif"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(vecs[0]))
	// Output: 128
}

func ExampleOptions() {
	opts := swav.Options{BatchSize: 32, Workers: 4}
	fmt.Println(opts.Output, opts.Raw)
	// Output: features false
}

func ExampleCosine() {
	fmt.Printf("%.4f\n", swav.Cosine([]float32{1, 0}, []float32{1, 1}))
	// Output: 0.7071
}

func ExampleNearest() {
	set := [][]float32{{1, 0}, {0, 1}, {0.9, 0.1}}
	for _, n := range swav.Nearest([]float32{1, 0}, set, 2) {
		fmt.Printf("%d %.3f\n", n.Index, n.Similarity)
	}
	// Output:
	// 0 1.000
	// 2 0.994
}

func ExampleNeighbor() {
	n := swav.Nearest([]float32{0, 1}, [][]float32{{1, 0}, {0, 2}}, 1)[0]
	fmt.Println(n.Index, n.Similarity)
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
