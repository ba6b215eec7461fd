// Command swav-beam-bench measures the Beam engine's overhead on one machine: it writes
// the first N Fashion-MNIST test images as PNG files to a temporary folder, embeds them
// with the pipeline on Prism (in-process) and with `swav-embed embed`, and prints the
// images/s of each and the largest difference between their vectors.
//
//	go build -o /tmp/swav-embed ../cmd/swav-embed   # from beam/, in the core module
//	nice -n 5 go run ./cmd/swav-beam-bench --swav_embed /tmp/swav-embed --n 2000
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/swav-go/swav/beam/beamembed"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/embedio"
)

func main() {
	n := flag.Int("n", 2000, "number of Fashion-MNIST test images to embed")
	data := flag.String("fashion_mnist", "/usr/share/datasets/fashion-mnist", "folder holding the Fashion-MNIST IDX files")
	cli := flag.String("swav_embed", "swav-embed", "the swav-embed binary to compare with")
	shards := flag.Int("shards", beamembed.DefaultShards, "output shards of the Beam run")
	batch := flag.Int("batch", beamembed.DefaultBatchSize, "images per forward pass (both runs)")
	flag.Parse()
	beam.Init()
	if err := run(*n, *data, *cli, *shards, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "swav-beam-bench:", err)
		os.Exit(1)
	}
}

// row returns row i of e.
func row(e *embedio.Embeddings, i int) []float32 { return e.Data[i*e.Dim : (i+1)*e.Dim] }

// run writes the images, times both runs and prints the figures.
func run(n int, data, cli string, shards, batch int) error {
	src, err := dataset.FashionMNIST(data, false)
	if err != nil {
		return err
	}
	if n <= 0 || n > src.Len() {
		return fmt.Errorf("--n %d: want 1 to %d", n, src.Len())
	}
	dir, err := os.MkdirTemp("", "swav-beam-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	imgDir := filepath.Join(dir, "images")
	if err := os.Mkdir(imgDir, 0o755); err != nil {
		return err
	}
	for i := range n {
		img, err := src.Image(i)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(imgDir, fmt.Sprintf("%05d.png", i)), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	pattern := imgDir + "/*.png"

	cpu0 := selfCPU()
	start := time.Now()
	counters, err := beamembed.Run(context.Background(), "prism", beamembed.Options{
		Inputs: []string{pattern}, Prefix: filepath.Join(dir, "beam", "emb"), Shards: shards,
		BatchSize: batch, Formats: []string{"npy"},
	})
	if err != nil {
		return err
	}
	beamTime := time.Since(start)
	beamCPU := selfCPU() - cpu0
	if counters["embedded"] != int64(n) {
		return fmt.Errorf("the pipeline embedded %d of %d images (counters %v)", counters["embedded"], n, counters)
	}

	cliOut := filepath.Join(dir, "cli.npy")
	cmd := exec.Command(cli, "embed", pattern, "--out", cliOut, "--batch-size", fmt.Sprint(batch))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start = time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s embed: %w: %s", cli, err, stderr.Bytes())
	}
	cliTime := time.Since(start)
	cliCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()

	want, err := embedio.Read(cliOut, embedio.ReadOptions{})
	if err != nil {
		return err
	}
	ref := map[string][]float32{}
	for i, p := range want.Paths {
		ref[p] = row(want, i)
	}
	var diff float64
	rows := 0
	for s := range shards {
		name := beamembed.ShardName(filepath.Join(dir, "beam", "emb"), s, shards, "npy")
		if _, err := os.Stat(name); os.IsNotExist(err) {
			continue
		}
		got, err := embedio.Read(name, embedio.ReadOptions{})
		if err != nil {
			return err
		}
		for i, p := range got.Paths {
			r, ok := ref[p]
			if !ok {
				return fmt.Errorf("%s is in the Beam output but not in swav-embed's", p)
			}
			for j := range r {
				diff = max(diff, math.Abs(float64(r[j]-row(got, i)[j])))
			}
			rows++
		}
	}
	if rows != n {
		return fmt.Errorf("the Beam shards hold %d rows, want %d", rows, n)
	}
	fmt.Printf("images: %d Fashion-MNIST test images as PNG (28×28), batch %d\n", n, batch)
	fmt.Printf("%-12s %8s %10s %8s %12s\n", "", "wall s", "images/s", "CPU s", "CPU ms/image")
	fmt.Printf("%-12s %8.2f %10.1f %8.2f %12.2f   (Prism in-process, %d shards, npy)\n", "beam/prism",
		beamTime.Seconds(), float64(n)/beamTime.Seconds(), beamCPU.Seconds(), 1e3*beamCPU.Seconds()/float64(n), shards)
	fmt.Printf("%-12s %8.2f %10.1f %8.2f %12.2f   (one .npy)\n", "swav-embed",
		cliTime.Seconds(), float64(n)/cliTime.Seconds(), cliCPU.Seconds(), 1e3*cliCPU.Seconds()/float64(n))
	fmt.Printf("prism / swav-embed: wall %.2f×, CPU %.2f×; largest vector difference %.3g\n",
		beamTime.Seconds()/cliTime.Seconds(), beamCPU.Seconds()/cliCPU.Seconds(), diff)
	return nil
}

// selfCPU is the CPU time (user + system) this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
