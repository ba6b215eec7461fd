package main

import (
	"context"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/evaluate"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/infer"
	"github.com/swav-go/swav/internal/mdsection"
	"github.com/swav-go/swav/linearprobe"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Benchmarks: the Fashion-MNIST table, pretraining and embedding throughput"}
	cmd.AddCommand(newBenchFashionCmd(), newBenchPretrainCmd(), newBenchEmbedCmd())
	return cmd
}

func newBenchFashionCmd() *cobra.Command {
	var models []string
	var write string
	var noBaselines, knn bool
	var epochs int
	cmd := &cobra.Command{
		Use:   "fashion-mnist [--model m.swav]... [--write BENCHMARKS.md]",
		Short: "Linear probe and kNN on the real 60k/10k Fashion-MNIST: raw pixels, random network, SwAV models",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			be, err := newBackend()
			if err != nil {
				return err
			}
			o := evaluate.FashionOptions{Backend: be, RawPixels: !noBaselines, RandomInit: !noBaselines, RandomSeed: 31, KNN: knn,
				Probe: linearprobe.LinearOptions{Epochs: epochs},
				Log:   func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }}
			for _, m := range models {
				o.Models = append(o.Models, evaluate.NamedModel{Name: "SwAV " + filepath.Base(m), Path: m})
			}
			// The random network takes the first model's architecture.
			o.Models = append(o.Models, evaluate.NamedModel{Name: "SwAV embedded default model", Path: swav.DefaultModelName, Data: swav.DefaultModelBytes()})
			rows, err := evaluate.FashionMNIST(cmd.Context(), o)
			if err != nil {
				return err
			}
			table := evaluate.Markdown(rows)
			fmt.Print(table)
			if write != "" {
				return mdsection.Replace(write, "fashion-mnist", table)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&models, "model", nil, "SwAV checkpoints to evaluate besides the embedded default model")
	cmd.Flags().StringVar(&write, "write", "", "also write the table into this markdown file, between <!-- fashion-mnist --> markers")
	cmd.Flags().BoolVar(&noBaselines, "no-baselines", false, "skip the raw-pixel and random-network rows")
	cmd.Flags().BoolVar(&knn, "knn", true, "add kNN-20")
	cmd.Flags().IntVar(&epochs, "epochs", 0, "linear probe epochs (default 30)")
	return cmd
}

func newBenchPretrainCmd() *cobra.Command {
	var steps, batch, small, prototypes int
	var idx, cpuProfile string
	cmd := &cobra.Command{
		Use:   "pretrain",
		Short: "Pretraining throughput: small ResNet on Fashion-MNIST, the reference's recipe, 2×28 + 4×14 crops",
		Long: `Pretraining throughput of the small ResNet on Fashion-MNIST with the recipe of
../shared/reference/ref_swav.py (base lr 4.8, warmup 0.5 epoch, prototypes frozen 313 steps,
queue 512 from the first step, seed 31), timing every step after the first (which compiles
the graph). With GOMLX_BACKEND=swav:stats the backend's time per step kind is printed too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if prototypes < 1 {
				return &usageError{fmt.Errorf("%s: --nmb-prototypes is %d: it must be at least 1", cmd.CommandPath(), prototypes)}
			}
			be, err := newBackend()
			if err != nil {
				return err
			}
			src, err := dataset.IDX(idx, "")
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "swav-bench")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			var times []time.Time
			crops := augment.DefaultSmall(28)
			crops.Crops[1].Size = small
			net := model.Small(1)
			net.Prototypes = prototypes
			opts := pretrain.Options{Model: net, Crops: crops, BatchSize: batch, Epochs: 5,
				BaseLR: 4.8, WarmupEpochs: 0.5, FreezePrototypesIters: 313, QueueLength: 512, EpochQueueStarts: 0,
				MaxSteps: steps + 1, Seed: 31, Checkpoint: filepath.Join(dir, "bench.swav"), CheckpointEvery: 1 << 30,
				MetricsPath: "-", PlotPath: "-", Backend: be,
				OnStep: func(step int, _ float64) {
					times = append(times, time.Now())
					if step == 1 && cpuProfile != "" {
						startProfile(cpuProfile)
					}
				}}
			if cpuProfile != "" {
				defer pprof.StopCPUProfile()
			}
			if st, ok := be.(interface{ Stats() string }); ok {
				opts.OnStep = wrapStats(opts.OnStep, st)
			}
			if _, err := pretrain.Run(cmd.Context(), src, opts); err != nil {
				return err
			}
			// The first step compiles the graph: time the others.
			elapsed := times[len(times)-1].Sub(times[0]).Seconds()
			imgs := float64(steps*batch) / elapsed
			fmt.Printf("pretrain throughput (%s backend, %d threads, batch %d, %s crops, %d timed steps): %.1f source images/s, %.0f crops/s, %.3f s/step\n",
				be.Name(), runtime.GOMAXPROCS(0), batch, cropsLabel(crops), steps, imgs, imgs*float64(crops.NumCrops()), elapsed/float64(steps))
			if st, ok := be.(interface{ Stats() string }); ok {
				if s := st.Stats(); s != "" {
					fmt.Printf("backend time per step kind over the timed steps:\n%s", s)
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&steps, "steps", 5, "timed steps (after one warm-up step)")
	batchSizeFlag(cmd.Flags(), &batch, 64, "source images per step")
	cmd.Flags().IntVar(&prototypes, "nmb-prototypes", model.Small(1).Prototypes, "prototypes (the recipe study's long run uses 3000)")
	cmd.Flags().IntVar(&small, "small-size", 14, "size of the 4 small crops (ref_swav.py's default is 16)")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the timed steps to this file")
	cmd.Flags().StringVar(&idx, "idx", filepath.Join(dataset.DefaultFashionMNISTDir, "train-images-idx3-ubyte.gz"), "training images (IDX)")
	return cmd
}

// startProfile starts the CPU profile into path, reporting failures on standard error
// (the benchmark goes on without it).
func startProfile(path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cpuprofile %s: %v\n", path, err)
	}
}

// wrapStats resets the backend's statistics after the first (compiling) step.
func wrapStats(next func(int, float64), st interface{ Stats() string }) func(int, float64) {
	return func(step int, loss float64) {
		next(step, loss)
		if step == 1 {
			st.Stats()
		}
	}
}

// cropsLabel describes the crops as "2×28+4×14".
func cropsLabel(m augment.MultiCrop) string {
	s := ""
	for i, c := range m.Crops {
		if i > 0 {
			s += "+"
		}
		s += fmt.Sprintf("%d×%d", c.Count, c.Size)
	}
	return s
}

func newBenchEmbedCmd() *cobra.Command {
	var batches, batch int
	var resnet50 bool
	cmd := &cobra.Command{
		Use:   "embed",
		Short: "Embedding throughput at batch 64: the default model, and a ResNet-50 at 224 px (--resnet50)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			be, err := newBackend()
			if err != nil {
				return err
			}
			m, err := swav.LoadDefault(infer.Options{Backend: be, BatchSize: batch})
			if err != nil {
				return err
			}
			if err := timeEmbed(cmd.Context(), "default model (28×28×1)", m.Model, batch, batches); err != nil {
				return err
			}
			if !resnet50 {
				return nil
			}
			cfg := model.ResNet50()
			ctx, err := model.Initialize(be, cfg, 224, 1)
			if err != nil {
				return err
			}
			f, err := model.File(ctx, cfg, checkpoint.Preprocess{InputSize: 224, ResizeSize: 256, Channels: 3,
				Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.228, 0.224, 0.225}, Interpolation: "bilinear"}, nil)
			if err != nil {
				return err
			}
			rm, err := infer.FromFile(f, "resnet50", infer.Options{Backend: be, BatchSize: batch})
			if err != nil {
				return err
			}
			return timeEmbed(cmd.Context(), "ResNet-50 (224×224×3)", rm, batch, batches)
		},
	}
	cmd.Flags().IntVar(&batches, "batches", 3, "timed batches (after one warm-up batch)")
	batchSizeFlag(cmd.Flags(), &batch, 64, "images per batch")
	cmd.Flags().BoolVar(&resnet50, "resnet50", false, "also time a (randomly initialised) ResNet-50 at 224 px")
	return cmd
}

// timeEmbed times batches of prepared random inputs (decoding excluded).
func timeEmbed(ctx context.Context, name string, m *infer.Model, batch, batches int) error {
	pre := m.Preprocess()
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := make([]imageio.Tensor, batch)
	for i := range inputs {
		img := image.NewRGBA(image.Rect(0, 0, pre.InputSize, pre.InputSize))
		for p := range img.Pix {
			img.Pix[p] = uint8(rng.IntN(256))
		}
		inputs[i] = m.Prepare(img)
	}
	if _, err := m.EmbedTensors(ctx, inputs); err != nil { // warm-up: compiles the graph
		return err
	}
	start := time.Now()
	for range batches {
		if _, err := m.EmbedTensors(ctx, inputs); err != nil {
			return err
		}
	}
	el := time.Since(start).Seconds()
	fmt.Printf("embed throughput, %s, batch %d: %.1f images/s\n", name, batch, float64(batch*batches)/el)
	return nil
}
