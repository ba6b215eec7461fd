//go:build ignore

// make.go writes the small labelled fixture of the README's Go example: the first
// Fashion-MNIST test images of three classes, four per class under train/ and one per
// class under test/, as 28×28 grayscale PNGs named by their index in the test set.
//
//	go run testdata/fashion/make.go   (from the repository root; needs dataset-fashion-mnist)
package main

import (
	"fmt"
	"image"
	"image/png"
	"log"
	"os"
	"path/filepath"

	"github.com/swav-go/swav/dataset"
)

func main() {
	src, err := dataset.FashionMNIST("", false)
	if err != nil {
		log.Fatal(err)
	}
	classes := map[int]string{1: "trouser", 7: "sneaker", 8: "bag"}
	count := map[int]int{}
	for i := 0; i < src.Len(); i++ {
		label, _ := src.Label(i)
		name, ok := classes[label]
		if !ok || count[label] == 5 {
			continue
		}
		split := "train"
		if count[label] == 4 {
			split = "test"
		}
		count[label]++
		img, err := src.Image(i)
		if err != nil {
			log.Fatal(err)
		}
		path := filepath.Join("testdata", "fashion", split, name, fmt.Sprintf("%05d.png", i))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			log.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			log.Fatal(err)
		}
		if err := png.Encode(f, img.(*image.Gray)); err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
}
