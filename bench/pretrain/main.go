// Command pretrain compares SwAV pretraining speed with the paper's training loop
// in PyTorch at equal thread counts: `swav-embed pretrain --max-steps N` against
// ../shared/reference/ref_swav.py `train --steps N --threads T`, with the same
// configuration (the default model's recipe: small ResNet, batch 64, base lr 4.8,
// warmup 0.5 epoch, prototypes frozen 313 steps, queue 512 from the first step,
// seed 31, 2×28 + 4×14 crops by default), interleaved run by run.
//
//	go run ./bench/pretrain -steps 30 -threads 1,2 -rounds 2
//
// Each run's seconds per step are the mean over its steps after the first -warmup
// ones (the first compiles the graph): for swav-embed from its metrics file (the
// cumulative images/s of every step gives the time at which it ended), for the
// reference from its steps.csv. Both include augmentation, which the reference
// runs on the training thread and swav-embed on worker goroutines. PyTorch's
// thread count is set through OMP/OPENBLAS/MKL_NUM_THREADS before Python starts and
// torch.set_num_threads; swav-embed's through GOMAXPROCS.
package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swav-go/swav/internal/mdsection"
)

func main() {
	steps := flag.Int("steps", 30, "steps per run (each run starts a new training)")
	warmup := flag.Int("warmup", 2, "first steps of each run left out of the timing")
	threadList := flag.String("threads", "1,2", "thread counts, comma-separated")
	rounds := flag.Int("rounds", 2, "runs per implementation and thread count (interleaved; the median is reported)")
	sizeCrops := flag.String("size-crops", "28,14", "crop sizes (large,small) for both trainers")
	idx := flag.String("idx", "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", "Fashion-MNIST training images")
	ref := flag.String("ref", "../shared/reference/ref_swav.py", "the reference training loop")
	python := flag.String("python", "/usr/bin/python3", "Python interpreter with torch")
	bin := flag.String("swav-embed", "", "swav-embed binary (default: built from ./cmd/swav-embed)")
	baseline := flag.String("baseline", "", "another swav-embed binary (e.g. built from an earlier commit) to interleave as a third participant")
	backend := flag.String("backend", "", "GOMLX_BACKEND for swav-embed (default: its default, swav)")
	torch := flag.Bool("torch", true, "run the PyTorch reference too")
	write := flag.String("write", "", "also write the result table into this markdown file, between <!-- pretrain-vs-pytorch --> markers")
	flag.Parse()
	threads, err := parseInts(*threadList)
	if err == nil && *steps <= *warmup {
		err = fmt.Errorf("-steps %d must exceed -warmup %d", *steps, *warmup)
	}
	if err == nil {
		err = run(config{steps: *steps, warmup: *warmup, threads: threads, rounds: *rounds, sizeCrops: *sizeCrops,
			idx: *idx, ref: *ref, python: *python, bin: *bin, baseline: *baseline, backend: *backend, torch: *torch, write: *write})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type config struct {
	steps, warmup, rounds int
	threads               []int
	sizeCrops             string
	idx, ref, python, bin string
	baseline              string
	backend, write        string
	torch                 bool
}

// batchSize is the recipe's, on both sides.
const batchSize = 64

// checkReference fails fast, before any timed run, when the reference cannot start:
// the script missing, or its interpreter without torch or torchvision.
func checkReference(c config) error {
	if _, err := os.Stat(c.ref); err != nil {
		return fmt.Errorf("the reference training loop: %w (-ref; -torch=false to run without it)", err)
	}
	out, err := exec.Command(c.python, "-c", "import torch, torchvision").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s cannot import torch and torchvision, which %s needs (Debian: apt-get install python3-torch python3-torchvision; -python for another interpreter, -torch=false to run without the reference): %v: %s",
			c.python, c.ref, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func run(c config) error {
	if c.torch {
		if err := checkReference(c); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "swav-bench-pretrain")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if c.bin == "" {
		c.bin = filepath.Join(dir, "swav-embed")
		build := exec.Command("go", "build", "-o", c.bin, "./cmd/swav-embed")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building swav-embed: %w", err)
		}
	}
	host, _ := os.Hostname()
	header := fmt.Sprintf("SwAV pretraining, small ResNet, batch %d, crops 2×%s + 4×%s, %d steps per run (first %d untimed), %d rounds; %s, %s UTC",
		batchSize, strings.Split(c.sizeCrops, ",")[0], strings.Split(c.sizeCrops, ",")[1], c.steps, c.warmup, c.rounds,
		host, time.Now().UTC().Format("2006-01-02 15:04"))
	fmt.Println(header)
	fmt.Println("load before:", loadavg())
	goTimes := make(map[int][]float64)
	baseTimes := make(map[int][]float64)
	refTimes := make(map[int][]float64)
	for r := range c.rounds {
		for _, t := range c.threads {
			// Alternate which side runs first, so a drift in machine load hits both.
			order := []string{"go", "base", "ref"}
			if r%2 == 1 {
				order = []string{"ref", "base", "go"}
			}
			for _, who := range order {
				switch {
				case who == "go":
					s, err := runGo(c, c.bin, dir, t)
					if err != nil {
						return err
					}
					goTimes[t] = append(goTimes[t], s)
					fmt.Printf("round %d, %d thread(s): swav-embed %.3f s/step (load %s)\n", r+1, t, s, loadavg())
				case who == "base" && c.baseline != "":
					s, err := runGo(c, c.baseline, dir, t)
					if err != nil {
						return err
					}
					baseTimes[t] = append(baseTimes[t], s)
					fmt.Printf("round %d, %d thread(s): baseline %.3f s/step (load %s)\n", r+1, t, s, loadavg())
				case who == "ref" && c.torch:
					s, err := runRef(c, dir, t)
					if err != nil {
						return err
					}
					refTimes[t] = append(refTimes[t], s)
					fmt.Printf("round %d, %d thread(s): ref_swav.py %.3f s/step (load %s)\n", r+1, t, s, loadavg())
				}
			}
		}
	}
	var sb strings.Builder
	fmt.Fprintln(&sb, "| threads | swav-embed pretrain | ref_swav.py (PyTorch 1.13) | ratio |")
	fmt.Fprintln(&sb, "|---|---|---|---|")
	for _, t := range c.threads {
		g := median(goTimes[t])
		row := fmt.Sprintf("| %d | %.3f s/step = %.1f src img/s (runs %s) |", t, g, batchSize/g, list(goTimes[t]))
		if c.torch {
			p := median(refTimes[t])
			row += fmt.Sprintf(" %.3f s/step = %.1f src img/s (runs %s) | **%.2f×** |", p, batchSize/p, list(refTimes[t]), p/g)
		} else {
			row += " – | – |"
		}
		fmt.Fprintln(&sb, row)
	}
	for _, t := range c.threads {
		if b := baseTimes[t]; len(b) > 0 {
			fmt.Fprintf(&sb, "\nbaseline %s at %d thread(s): %.3f s/step (runs %s); swav-embed is %.2f× its speed\n",
				c.baseline, t, median(b), list(b), median(b)/median(goTimes[t]))
		}
	}
	fmt.Print(sb.String())
	fmt.Println("load after:", loadavg())
	if c.write != "" {
		return mdsection.Replace(c.write, "pretrain-vs-pytorch", header+"\n\n"+sb.String())
	}
	return nil
}

// runGo trains c.steps steps with swav-embed at t threads and returns the mean
// seconds per step after the warm-up.
func runGo(c config, bin, dir string, t int) (float64, error) {
	out := filepath.Join(dir, "go.swav")
	metrics := out + ".metrics.jsonl"
	// Each run is a new training: remove the previous run's checkpoint, which
	// swav-embed pretrain refuses to replace.
	if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	args := []string{"pretrain", "--idx", c.idx, "--out", out, "--arch", "small", "--epochs", "5",
		"--batch-size", strconv.Itoa(batchSize), "--base-lr", "4.8", "--warmup-epochs", "0.5",
		"--freeze-prototypes-niters", "313", "--size-crops", c.sizeCrops, "--queue-length", "512",
		"--epoch-queue-starts", "0", "--seed", "31", "--checkpoint-every", "1000000",
		"--max-steps", strconv.Itoa(c.steps), "--metrics", metrics, "--plot", "-"}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", t))
	if c.backend != "" {
		cmd.Env = append(cmd.Env, "GOMLX_BACKEND="+c.backend)
	}
	if outb, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("swav-embed pretrain: %w\n%s", err, outb)
	}
	f, err := os.Open(metrics)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// images_per_sec of step k is k·B over the time since the session started.
	var ends []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var row struct {
			Step         int     `json:"step"`
			ImagesPerSec float64 `json:"images_per_sec"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return 0, fmt.Errorf("%s: %w", metrics, err)
		}
		ends = append(ends, float64(row.Step*batchSize)/row.ImagesPerSec)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if len(ends) != c.steps {
		return 0, fmt.Errorf("%s: %d steps, want %d", metrics, len(ends), c.steps)
	}
	return (ends[c.steps-1] - ends[c.warmup-1]) / float64(c.steps-c.warmup), nil
}

// runRef trains c.steps steps with ref_swav.py at t threads and returns the mean
// of its per-step seconds after the warm-up.
func runRef(c config, dir string, t int) (float64, error) {
	out := filepath.Join(dir, "ref")
	n := strconv.Itoa(t)
	cmd := exec.Command(c.python, c.ref, "train", "--steps", strconv.Itoa(c.steps), "--threads", n,
		"--size-crops", c.sizeCrops, "--out-dir", out, "--no-final-probe", "--data-dir", filepath.Dir(c.idx))
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS="+n, "OPENBLAS_NUM_THREADS="+n, "MKL_NUM_THREADS="+n)
	if outb, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%s train: %w\n%s", c.ref, err, outb)
	}
	f, err := os.Open(filepath.Join(out, "steps.csv"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", f.Name(), err)
	}
	if len(rows) < 1 || len(rows)-1 != c.steps {
		return 0, fmt.Errorf("%s: %d steps, want %d", f.Name(), len(rows)-1, c.steps)
	}
	col := slices.Index(rows[0], "seconds")
	if col < 0 {
		return 0, errors.New(f.Name() + ": no seconds column")
	}
	sum := 0.0
	for _, r := range rows[1+c.warmup:] {
		s, err := strconv.ParseFloat(r[col], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", f.Name(), err)
		}
		sum += s
	}
	return sum / float64(c.steps-c.warmup), nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("invalid thread count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func list(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.3f", x)
	}
	return strings.Join(parts, ", ")
}

// loadavg is the 1-minute load average, or "?".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}
