package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain"
	"github.com/swav-go/swav/swavloss"
)

// pretrainFlags mirrors the reference's main_swav.py arguments (same defaults).
type pretrainFlags struct {
	data, idx, out                    string
	arch                              string
	widthMult, hidden, outDim, protos int
	nmbCrops, sizeCrops               []int
	minScale, maxScale                []float64
	assign                            []int
	temperature, epsilon              float64
	sinkhornIters                     int
	epochs, batch                     int
	baseLR, finalLR, startWarmup      float64
	warmupEpochs, wd, momentum        float64
	noLARS                            bool
	trust                             float64
	freezeIters                       int
	queueLength, epochQueueStarts     int
	seed                              uint64
	workers                           int
	onError                           string
	checkpointEvery, maxSteps         int
	resume, overwrite                 bool
	metrics, plot                     string
}

func newPretrainCmd() *cobra.Command {
	var f pretrainFlags
	cmd := &cobra.Command{
		Use:   "pretrain (--data GLOB | --idx FILE) --out model.swav",
		Short: "Pretrain a SwAV model on unlabelled images",
		Long: `Pretrain a SwAV model (Caron et al. 2020) on unlabelled images, with the reference's
defaults (facebookresearch/swav main_swav.py). The checkpoint at --out is written every
--checkpoint-every steps and at the end, atomically; Ctrl-C saves it and exits; --resume
continues a stopped run exactly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPretrain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "images to train on, a doublestar glob such as 'photos/**/*.{jpg,png}'")
	fl.StringVar(&f.idx, "idx", "", "images to train on, an IDX file (MNIST/Fashion-MNIST, .gz or raw)")
	fl.StringVar(&f.out, "out", "", "checkpoint path (required)")
	fl.StringVar(&f.arch, "arch", "", "network: small (3×3 stem, 32/64/128), resnet18 or resnet50 (default: small under 64 px, else resnet50)")
	fl.IntVar(&f.widthMult, "width-multiplier", 1, "width multiplier of every layer (the paper's ×2, ×4, ×5)")
	fl.IntVar(&f.hidden, "hidden-mlp", -1, "projection head hidden units, 0 for a linear head (default: the architecture's, 2048 for resnet50)")
	fl.IntVar(&f.outDim, "feat-dim", 0, "embedding dimension the prototypes score (default 128)")
	fl.IntVar(&f.protos, "nmb-prototypes", 0, "number of prototypes K (default 3000; 200 for small)")
	fl.IntSliceVar(&f.nmbCrops, "nmb-crops", nil, "number of crops per resolution (default 2,6; 2,4 under 64 px)")
	fl.IntSliceVar(&f.sizeCrops, "size-crops", nil, "crop sizes in pixels (default 224,96; the data size and half of it under 64 px)")
	fl.Float64SliceVar(&f.minScale, "min-scale-crops", nil, "RandomResizedCrop minimum area scale per resolution (default 0.14,0.05)")
	fl.Float64SliceVar(&f.maxScale, "max-scale-crops", nil, "RandomResizedCrop maximum area scale per resolution (default 1,0.14)")
	fl.IntSliceVar(&f.assign, "crops-for-assign", []int{0, 1}, "crops whose codes are computed")
	fl.Float64Var(&f.temperature, "temperature", 0.1, "softmax temperature τ of the swapped prediction")
	fl.Float64Var(&f.epsilon, "epsilon", 0.05, "entropic regularisation ε of Sinkhorn-Knopp")
	fl.IntVar(&f.sinkhornIters, "sinkhorn-iterations", 3, "Sinkhorn-Knopp iterations")
	fl.IntVar(&f.epochs, "epochs", 100, "number of epochs")
	fl.IntVar(&f.batch, "batch-size", 64, "source images per step")
	fl.Float64Var(&f.baseLR, "base-lr", 0.6, "learning rate for a batch of 256 (scaled linearly with --batch-size)")
	fl.Float64Var(&f.finalLR, "final-lr", 0, "final learning rate of the cosine schedule for a batch of 256 (default base-lr/1000)")
	fl.Float64Var(&f.warmupEpochs, "warmup-epochs", 10, "epochs of linear warmup (0 for none)")
	fl.Float64Var(&f.startWarmup, "start-warmup", 0, "initial warmup learning rate")
	fl.Float64Var(&f.wd, "wd", 1e-6, "weight decay")
	fl.Float64Var(&f.momentum, "momentum", 0.9, "SGD momentum")
	fl.BoolVar(&f.noLARS, "no-lars", false, "plain SGD instead of SGD wrapped in LARS")
	fl.Float64Var(&f.trust, "trust-coefficient", 0.001, "LARS trust coefficient η")
	fl.IntVar(&f.freezeIters, "freeze-prototypes-niters", 0, "iterations with frozen prototypes (default one epoch; -1 never)")
	fl.IntVar(&f.queueLength, "queue-length", 0, "length of the embedding queue, 0 for none (trimmed to a multiple of --batch-size)")
	fl.IntVar(&f.epochQueueStarts, "epoch-queue-starts", 15, "epoch from which the queue is used")
	fl.Uint64Var(&f.seed, "seed", 31, "random seed")
	fl.IntVar(&f.workers, "workers", 2, "goroutines decoding and augmenting images")
	fl.StringVar(&f.onError, "on-error", "fail", "corrupt images: skip (replace, count and list) or fail")
	fl.IntVar(&f.checkpointEvery, "checkpoint-every", 0, "steps between checkpoints (default one epoch)")
	fl.IntVar(&f.maxSteps, "max-steps", 0, "stop after this many steps in total (0: all epochs)")
	fl.BoolVar(&f.resume, "resume", false, "continue from --out if it exists")
	fl.BoolVar(&f.overwrite, "overwrite", false, "start a new run even if --out exists, replacing it at the first save")
	fl.StringVar(&f.metrics, "metrics", "", "metrics file, JSON Lines (default OUT.metrics.jsonl; - for none)")
	fl.StringVar(&f.plot, "plot", "", "loss curve PNG written at the end (default OUT.loss.png; - for none)")
	return cmd
}

// openTrainingSource opens --data or --idx.
func openTrainingSource(data, idx string, labels bool) (dataset.Source, string, error) {
	switch {
	case data != "" && idx != "":
		return nil, "", errors.New("give --data or --idx, not both")
	case data != "":
		src, err := dataset.Glob(data, dataset.FolderOptions{Labels: labels})
		return src, data, err
	case idx != "":
		src, err := dataset.IDX(idx, "")
		return src, idx, err
	}
	return nil, "", errors.New("give the images with --data GLOB or --idx FILE")
}

func runPretrain(cmd *cobra.Command, f pretrainFlags) error {
	if f.out == "" {
		return errors.New("pretrain: --out is required")
	}
	src, name, err := openTrainingSource(f.data, f.idx, false)
	if err != nil {
		return err
	}
	be, err := newBackend()
	if err != nil {
		return err
	}
	var onErr dataset.OnError
	if err := onErr.UnmarshalText([]byte(f.onError)); err != nil {
		return err
	}
	opts := pretrain.Options{
		Loss:   swavloss.Config{Assign: f.assign, Temperature: f.temperature, Epsilon: f.epsilon, Iterations: f.sinkhornIters},
		Epochs: f.epochs, BatchSize: f.batch, BaseLR: f.baseLR, FinalLR: f.finalLR, StartWarmupLR: f.startWarmup,
		WarmupEpochs: warmupOption(f.warmupEpochs), WeightDecay: f.wd, Momentum: f.momentum, NoLARS: f.noLARS, TrustCoefficient: f.trust,
		FreezePrototypesIters: f.freezeIters, QueueLength: f.queueLength, EpochQueueStarts: f.epochQueueStarts,
		Seed: f.seed, Workers: f.workers, SkipCorrupt: onErr == dataset.Skip,
		Checkpoint: f.out, CheckpointEvery: f.checkpointEvery, Resume: f.resume, Overwrite: f.overwrite, MaxSteps: f.maxSteps,
		MetricsPath: f.metrics, PlotPath: f.plot, Backend: be, Log: os.Stderr, DatasetName: name,
	}
	if opts.Model, err = architecture(f.arch, src); err != nil {
		return err
	}
	if opts.Model.Block != "" {
		opts.Model.WidthMultiplier = f.widthMult
		if f.hidden >= 0 {
			opts.Model.HiddenDim = f.hidden
		}
		if f.outDim > 0 {
			opts.Model.OutDim = f.outDim
		}
		if f.protos > 0 {
			opts.Model.Prototypes = f.protos
		}
	}
	if len(f.sizeCrops) > 0 || len(f.nmbCrops) > 0 {
		if opts.Crops, err = cropsFromFlags(f, src); err != nil {
			return err
		}
	}
	res, err := pretrain.Run(cmd.Context(), src, opts)
	if res != nil && len(res.Skipped) > 0 {
		fmt.Fprintf(os.Stderr, "skipped %d corrupt images:\n", len(res.Skipped))
		for _, s := range res.Skipped {
			fmt.Fprintf(os.Stderr, "  %s\n", s)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d steps (%d epochs), last loss %.4f, %.1f images/s; checkpoint %s\n",
		res.Steps, res.Epoch, res.LastLoss, res.ImagesPerSec, res.Checkpoint)
	return nil
}

// architecture returns the named network for the data's channels, or a zero Config to
// let pretrain choose by input size.
func architecture(arch string, src dataset.Source) (model.Config, error) {
	if arch == "" {
		return model.Config{}, nil
	}
	_, channels, err := pretrain.ProbeInput(src)
	if err != nil {
		return model.Config{}, err
	}
	var cfg model.Config
	switch arch {
	case "small":
		cfg = model.Small(channels)
	case "resnet18":
		cfg = model.ResNet18()
	case "resnet50":
		cfg = model.ResNet50()
	default:
		return model.Config{}, fmt.Errorf("arch %q is not valid, architectures are: small, resnet18, resnet50", arch)
	}
	cfg.InChannels = channels
	return cfg, nil
}

// cropsFromFlags builds the multi-crop from the reference's crop flags.
func cropsFromFlags(f pretrainFlags, src dataset.Source) (augment.MultiCrop, error) {
	size, _, err := pretrain.ProbeInput(src)
	if err != nil {
		return augment.MultiCrop{}, err
	}
	var m augment.MultiCrop
	if size < 64 {
		m = augment.DefaultSmall(size)
	} else {
		m = augment.DefaultImageNet()
	}
	nmb, sizes := f.nmbCrops, f.sizeCrops
	if len(nmb) == 0 {
		for _, c := range m.Crops {
			nmb = append(nmb, c.Count)
		}
	}
	if len(sizes) == 0 {
		for _, c := range m.Crops {
			sizes = append(sizes, c.Size)
		}
	}
	minS, maxS := f.minScale, f.maxScale
	if len(minS) == 0 {
		minS = []float64{0.14, 0.05}
	}
	if len(maxS) == 0 {
		maxS = []float64{1, 0.14}
	}
	if len(nmb) != len(sizes) || len(minS) < len(nmb) || len(maxS) < len(nmb) {
		return augment.MultiCrop{}, fmt.Errorf("--nmb-crops %v, --size-crops %v, --min-scale-crops %v and --max-scale-crops %v must have one value per resolution", nmb, sizes, minS, maxS)
	}
	m.Crops = nil
	for i := range nmb {
		m.Crops = append(m.Crops, augment.CropSpec{Count: nmb[i], Size: sizes[i], MinScale: minS[i], MaxScale: maxS[i]})
	}
	return m, m.Validate()
}

// warmupOption maps the flag (0 = no warmup) to pretrain.Options (0 = default, < 0 = none).
func warmupOption(epochs float64) float64 {
	if epochs == 0 {
		return -1
	}
	return epochs
}
