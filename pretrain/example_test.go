package pretrain_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain"
	"github.com/swav-go/swav/pretrain/trainer"
)

func ExampleRun() {
	src, err := dataset.FashionMNIST(dataset.DefaultFashionMNISTDir, true)
	if err != nil {
		log.Fatal(err) // apt-get install -y dataset-fashion-mnist
	}
	dir, err := os.MkdirTemp("", "swav-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// A tiny network and two steps, to show the call; see README.md for a real run.
	cfg := model.Small(1)
	cfg.Layers, cfg.Widths = []int{1, 1}, []int{4, 8}
	cfg.HiddenDim, cfg.OutDim, cfg.Prototypes = 16, 8, 10
	crops := augment.DefaultSmall(28)
	crops.Crops = []augment.CropSpec{{Count: 2, Size: 28, MinScale: 0.14, MaxScale: 1}, {Count: 2, Size: 14, MinScale: 0.05, MaxScale: 0.14}}
	res, err := pretrain.Run(context.Background(), src, pretrain.Options{
		Model: cfg, Crops: crops, BatchSize: 16, MaxSteps: 2, Seed: 1,
		Checkpoint: filepath.Join(dir, "tiny.swav"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Steps, "steps")
	// Output: 2 steps
}

func ExampleRunMethod() {
	src, err := dataset.FashionMNIST(dataset.DefaultFashionMNISTDir, true)
	if err != nil {
		log.Fatal(err) // apt-get install -y dataset-fashion-mnist
	}
	dir, err := os.MkdirTemp("", "simclr-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// Any method of the registry, by name, with its defaults (or simclr.New(simclr.Config{…})).
	m, err := pretrain.Methods().New("simclr")
	if err != nil {
		log.Fatal(err)
	}
	cfg := model.Small(1)
	cfg.Layers, cfg.Widths = []int{1, 1}, []int{4, 8}
	cfg.HiddenDim, cfg.OutDim = 16, 8
	res, err := pretrain.RunMethod(context.Background(), src, m, trainer.Options{
		Model: cfg, BatchSize: 16, MaxSteps: 2, Seed: 1, Checkpoint: filepath.Join(dir, "tiny.swav"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Steps, "steps of", m.Name())
	// Output: 2 steps of simclr
}
