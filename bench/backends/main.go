// Command backends measures the small SwAV ResNet (model.Small: 3×3 stem, three
// stages of two BasicBlocks, widths 32/64/128, 28×28×1 input) on GoMLX
// backends and, optionally, on PyTorch with as many threads as Go's GOMAXPROCS
// (-torch-threads), and prints images/s
// for inference (eval-mode backbone) and for a training step (backbone in
// train mode + linear 10-way head, softmax cross-entropy, gradient of every
// trainable variable and an SGD update), with the ratios to PyTorch.
//
//	go run ./bench/backends -model small -batch 64
//	go run ./bench/backends -backends swav,swavgo -torch=false
//
// Runs are interleaved (backend A, B, A, B, …) and the median is reported,
// since the machine is shared.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego" // Registers "go".
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	_ "github.com/swav-go/swav/backend/compat" // Registers "swavgo".
	_ "github.com/swav-go/swav/backend/fast"   // Registers "swav".
	"github.com/swav-go/swav/internal/mdsection"
	"github.com/swav-go/swav/model"
)

const numClasses = 10

func main() {
	modelName := flag.String("model", "small", "network: small (28×28×1, with the PyTorch baseline) or resnet50 (224×224×3, Go backends only)")
	batch := flag.Int("batch", 64, "batch size")
	iters := flag.Int("iters", 5, "timed iterations per backend and mode (median reported)")
	backendList := flag.String("backends", "swav,swavgo", "GoMLX backend configs separated by commas (or by semicolons when configs have commas) (swavgo = simplego + the ops it lacks for training; \"go\" = plain simplego with go:ops_sequential, inference only)")
	torch := flag.Bool("torch", true, "also run bench/torch_resnet.py and print ratios")
	torchThreads := flag.Int("torch-threads", 0, "PyTorch's threads (OMP/OPENBLAS/MKL_NUM_THREADS before Python starts, and torch.set_num_threads); 0: GOMAXPROCS, so ratios compare equal thread counts")
	python := flag.String("python", "/usr/bin/python3", "Python interpreter with torch")
	script := flag.String("torch-script", "bench/torch_resnet.py", "PyTorch baseline script")
	slowIters := flag.Int("slow-iters", 1, "timed iterations for the simplego-based backends (go, swavgo), which take tens of seconds each")
	modes := flag.String("modes", "infer,train", "which measurements: infer, train")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the timed iterations to this file")
	write := flag.String("write", "", "also write the output into this markdown file (e.g. BENCHMARKS.md), in a section named after the model and GOMAXPROCS")
	flag.Parse()
	if *write != "" {
		restore, err := teeStdout(func(out string) error {
			section := fmt.Sprintf("backends-%s-gomaxprocs%d", *modelName, runtime.GOMAXPROCS(0))
			return mdsection.Replace(*write, section, "```\n"+out+"```\n")
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		defer func() {
			if err := restore(); err != nil {
				fmt.Fprintln(os.Stderr, "error:", err)
			}
		}()
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	threads := *torchThreads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	err := run(*modelName, *batch, *iters, splitBackends(*backendList), *torch, *python, *script, strings.Split(*modes, ","), *slowIters, threads)
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// teeStdout copies everything printed to standard output into a buffer handed to save
// when the returned restore function is called.
func teeStdout(save func(out string) error) (restore func() error, err error) {
	orig := os.Stdout
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	os.Stdout = w
	var buf bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(orig, &buf), r)
		done <- err
	}()
	return func() error {
		os.Stdout = orig
		w.Close()
		if err := <-done; err != nil {
			return err
		}
		return save(buf.String())
	}, nil
}

// participant is one measured implementation: a GoMLX backend or PyTorch.
type participant interface {
	name() string
	step(mode string) (time.Duration, error)
	slow() bool
}

func run(modelName string, batch, iters int, backendConfigs []string, torch bool, python, script string, modes []string, slowIters, torchThreads int) error {
	var cfg model.Config
	var hw int
	switch modelName {
	case "small":
		cfg, hw = model.Small(1), 28
		fmt.Printf("model small (widths 32/64/128, 28×28×1), batch %d, %d iterations, GOMAXPROCS %d\n",
			batch, iters, runtime.GOMAXPROCS(0))
	case "resnet50":
		cfg, hw = model.ResNet50(), 224
		if torch {
			fmt.Println("(no PyTorch baseline for resnet50: bench/torch_resnet.py has the small network only)")
			torch = false
		}
		fmt.Printf("model resnet50 (224×224×3), batch %d, %d iterations, GOMAXPROCS %d\n", batch, iters, runtime.GOMAXPROCS(0))
	default:
		return fmt.Errorf("unknown model %q (small or resnet50)", modelName)
	}
	var parts []participant
	for _, c := range backendConfigs {
		c = strings.TrimSpace(c)
		if c == "go" {
			c = "go:ops_sequential" // simplego's parallel scheduling can hang on these graphs.
		}
		b, err := newBench(c, cfg, hw, batch, modes)
		if err != nil {
			return err
		}
		parts = append(parts, b)
	}
	var tr *torchRunner
	if torch {
		var err error
		tr, err = startTorch(python, script, batch, modes, torchThreads)
		if err != nil {
			return fmt.Errorf("pytorch baseline: %w", err)
		}
		defer tr.close()
		fmt.Printf("pytorch %s, %d thread(s), runs interleaved with the Go backends\n", tr.version, tr.threads)
		parts = append(parts, tr)
	}
	// Interleave: one timed iteration per participant per round.
	results := make(map[string]map[string]float64)
	// paired[name][mode]: the median over rounds of PyTorch's time over the
	// participant's in the same round (adjacent in time, so a drift in the
	// machine's speed cancels out of each pair).
	paired := make(map[string]map[string]float64)
	for _, mode := range modes {
		times := make([][]time.Duration, len(parts))
		for round := 0; round < iters; round++ {
			for i, p := range parts {
				if round >= slowIters && p.slow() {
					continue
				}
				d, err := p.step(mode)
				if err != nil {
					return fmt.Errorf("%s %s: %w", p.name(), mode, err)
				}
				times[i] = append(times[i], d)
			}
		}
		for _, p := range parts {
			if b, ok := p.(*bench); ok {
				if table := backendStats(b.backend); table != "" {
					fmt.Printf("%s %s: time per step kind over %d iterations:\n%s", b.config, mode, iters, table)
				}
			}
		}
		for i, p := range parts {
			med := median(times[i])
			if results[p.name()] == nil {
				results[p.name()] = make(map[string]float64)
			}
			results[p.name()][mode] = float64(batch) / med.Seconds()
			fmt.Printf("%-22s %-6s %8.1f images/s  (median %v of %v)\n", p.name(), mode, float64(batch)/med.Seconds(),
				med.Round(time.Millisecond), roundAll(times[i]))
		}
		if tr != nil {
			ref := times[len(parts)-1]
			for i, p := range parts[:len(parts)-1] {
				if len(times[i]) != len(ref) {
					continue // a slow backend ran fewer rounds
				}
				var ratios []float64
				for r := range ref {
					ratios = append(ratios, ref[r].Seconds()/times[i][r].Seconds())
				}
				if paired[p.name()] == nil {
					paired[p.name()] = make(map[string]float64)
				}
				paired[p.name()][mode] = medianFloat(ratios)
			}
		}
	}
	if tr == nil {
		return nil
	}
	fmt.Printf("ratios vs PyTorch at %d thread(s), GOMAXPROCS %d (higher is better; ratio of the medians, and in brackets the median of the rounds' paired ratios):\n", tr.threads, runtime.GOMAXPROCS(0))
	for _, p := range parts[:len(parts)-1] {
		var cols []string
		for _, mode := range modes {
			col := fmt.Sprintf("%s %.2f×", mode, results[p.name()][mode]/results[tr.name()][mode])
			if r, ok := paired[p.name()][mode]; ok {
				col += fmt.Sprintf(" (paired %.2f×)", r)
			}
			cols = append(cols, col)
		}
		fmt.Printf("  %-22s %s\n", p.name(), strings.Join(cols, ", "))
	}
	return nil
}

// splitBackends splits the -backends list on ";" when it has one (so configs
// may contain commas, e.g. "swav:workers=1,stats;swavgo"), else on ",".
func splitBackends(list string) []string {
	sep := ","
	if strings.Contains(list, ";") {
		sep = ";"
	}
	var out []string
	for _, c := range strings.Split(list, sep) {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// isSlow reports whether config is a simplego-based backend.
func isSlow(config string) bool {
	name, _, _ := strings.Cut(config, ":")
	return name == "go" || name == "swavgo"
}

// medianFloat is the median of xs, as median takes it (the upper middle for an
// even count).
func medianFloat(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// bench holds the compiled executables of one backend.
type bench struct {
	config  string
	backend backends.Backend
	ctx     *context.Context
	infer   *context.Exec
	train   *context.Exec
	images  *tensors.Tensor
	labels  *tensors.Tensor
}

func newBench(config string, cfg model.Config, hw, batch int, modes []string) (*bench, error) {
	backend, err := backends.NewWithConfig(config)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", config, err)
	}
	// Both executables share the variables: disable the "already exists" check.
	b := &bench{config: config, backend: backend, ctx: context.New().Checked(false)}
	r := rand.New(rand.NewPCG(1, 2))
	img := make([]float32, batch*hw*hw*cfg.InChannels)
	for i := range img {
		img[i] = r.Float32()
	}
	b.images = tensors.FromFlatDataAndDimensions(img, batch, hw, hw, cfg.InChannels)
	lab := make([]int32, batch)
	for i := range lab {
		lab[i] = int32(r.IntN(numClasses))
	}
	b.labels = tensors.FromFlatDataAndDimensions(lab, batch)
	head := make([]float32, cfg.FeatureDim()*numClasses)
	for i := range head {
		head[i] = float32(r.NormFloat64() * 0.05)
	}
	b.ctx.In("head").VariableWithValue("kernel", tensors.FromFlatDataAndDimensions(head, cfg.FeatureDim(), numClasses))

	b.infer, err = context.NewExec(backend, b.ctx, func(ctx *context.Context, images *Node) *Node {
		return model.Backbone(ctx, cfg, images, false)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: inference exec: %w", config, err)
	}
	b.train, err = context.NewExec(backend, b.ctx, func(ctx *context.Context, images, labels *Node) *Node {
		g := images.Graph()
		feats := model.Backbone(ctx, cfg, images, true)
		headVar := ctx.In("head").GetVariable("kernel")
		logits := MatMul(feats, headVar.ValueGraph(g))
		onehot := OneHot(labels, numClasses, dtypes.Float32)
		loss := Neg(ReduceAllMean(ReduceSum(Mul(onehot, LogSoftmax(logits, -1)), -1)))
		var vars []*context.Variable
		var nodes []*Node
		for v := range ctx.IterVariables() {
			if v.Trainable && v.InUseByGraph(g) {
				vars = append(vars, v)
				nodes = append(nodes, v.ValueGraph(g))
			}
		}
		grads := Gradient(loss, nodes...)
		for i, v := range vars {
			v.SetValueGraph(Sub(nodes[i], MulScalar(grads[i], 0.01)))
		}
		return loss
	})
	if err != nil {
		return nil, fmt.Errorf("%s: training exec: %w", config, err)
	}
	// Warm up (compiles and initialises variables) every mode measured.
	for _, mode := range modes {
		if _, err := b.step(mode); err != nil {
			return nil, fmt.Errorf("%s %s warm-up: %w", config, mode, err)
		}
	}
	backendStats(backend) // Discard the warm-up's statistics.
	return b, nil
}

// backendStats returns the per-step timing table of a "swav:stats" backend, or "".
func backendStats(b backends.Backend) string {
	if st, ok := b.(interface{ Stats() string }); ok {
		return st.Stats()
	}
	return ""
}

func (b *bench) name() string { return b.config }

func (b *bench) slow() bool { return isSlow(b.config) }

func (b *bench) step(mode string) (time.Duration, error) {
	start := time.Now()
	var err error
	switch mode {
	case "infer":
		var out []*tensors.Tensor
		out, err = b.infer.Exec(b.images)
		if err == nil {
			out[0].FinalizeAll()
		}
	case "train":
		var out []*tensors.Tensor
		out, err = b.train.Exec(b.images, b.labels)
		if err == nil {
			out[0].FinalizeAll()
		}
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	return time.Since(start), err
}

// torchRunner drives bench/torch_resnet.py in --serve mode: one process,
// warmed up once, timing one iteration per request, so PyTorch is
// interleaved with the Go backends like they are with each other. Its thread
// count is set in the environment before Python starts, as well as by
// torch.set_num_threads (see shared/BENCHMARKING.md), and checked.
type torchRunner struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  *bufio.Scanner
	stderr  bytes.Buffer
	version string
	threads int
}

func startTorch(python, script string, batch int, modes []string, threads int) (*torchRunner, error) {
	t := &torchRunner{}
	t.cmd = exec.Command(python, script, "--serve", "--batch", fmt.Sprint(batch), "--modes", strings.Join(modes, ","),
		"--threads", fmt.Sprint(threads))
	n := fmt.Sprint(threads)
	t.cmd.Env = append(os.Environ(), "OMP_NUM_THREADS="+n, "OPENBLAS_NUM_THREADS="+n, "MKL_NUM_THREADS="+n)
	t.cmd.Stderr = &t.stderr
	var err error
	if t.stdin, err = t.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	out, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s %s: %w", python, script, err)
	}
	t.stdout = bufio.NewScanner(out)
	line, err := t.readLine()
	if err != nil {
		return nil, err
	}
	var hello struct {
		Version string `json:"version"`
		Threads int    `json:"threads"`
	}
	if err := json.Unmarshal([]byte(line), &hello); err != nil {
		t.close()
		return nil, fmt.Errorf("parsing PyTorch greeting %q: %w", line, err)
	}
	t.version, t.threads = hello.Version, hello.Threads
	if t.threads != threads {
		t.close()
		return nil, fmt.Errorf("PyTorch runs with %d threads, want %d", t.threads, threads)
	}
	return t, nil
}

func (t *torchRunner) readLine() (string, error) {
	if !t.stdout.Scan() {
		return "", fmt.Errorf("PyTorch process ended (%v): %s", t.stdout.Err(), t.stderr.String())
	}
	return strings.TrimSpace(t.stdout.Text()), nil
}

func (t *torchRunner) name() string {
	if t.threads == 1 {
		return "pytorch(1 thread)"
	}
	return fmt.Sprintf("pytorch(%d threads)", t.threads)
}

func (t *torchRunner) slow() bool { return false }

func (t *torchRunner) step(mode string) (time.Duration, error) {
	if _, err := fmt.Fprintln(t.stdin, mode); err != nil {
		return 0, fmt.Errorf("writing to PyTorch: %w", err)
	}
	line, err := t.readLine()
	if err != nil {
		return 0, err
	}
	var secs float64
	if _, err := fmt.Sscan(line, &secs); err != nil {
		return 0, fmt.Errorf("parsing PyTorch timing %q: %w", line, err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

func (t *torchRunner) close() {
	_ = t.stdin.Close()
	_ = t.cmd.Wait()
}
