package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain"
	"github.com/swav-go/swav/pretrain/method"
	"github.com/swav-go/swav/pretrain/trainer"
)

// pretrainFlags are the trainer's flags (every method's); each method's own flags come
// from its registry entry (methodFlags).
type pretrainFlags struct {
	data, idx, out, method            string
	arch                              string
	widthMult, hidden, outDim, protos int
	epochs, steps, batch              int
	baseLR, finalLR, startWarmup      float64
	warmupEpochs, wd, momentum        float64
	noLARS                            bool
	trust                             float64
	seed                              uint64
	workers                           int
	onError                           string
	checkpointEvery, maxSteps         int
	resume, overwrite                 bool
	metrics, plot                     string
}

// methodFlags holds, for every registered method, its own flag set (the standard
// library's, with the method's defaults) and the builder reading it. The command line
// accepts every method's flags; the ones given are copied to the chosen method's set
// before it is built, and a flag the chosen method does not have is a usage error.
type methodFlags struct {
	names  []string
	sets   map[string]*flag.FlagSet
	build  map[string]func() (method.Method, error)
	values map[string]*rawValue // one per flag name, shared by methods with that name
}

// rawValue is a method flag as cobra sees it: the text given, applied later to the
// chosen method's own flag set.
type rawValue struct {
	text   string
	isBool bool
}

func (v *rawValue) String() string { return v.text }
func (v *rawValue) Set(s string) error {
	v.text = s
	return nil
}
func (v *rawValue) Type() string {
	if v.isBool {
		return "bool"
	}
	return "value"
}

func newMethodFlags(reg method.Registry, fl *pflag.FlagSet) *methodFlags {
	mf := &methodFlags{names: reg.Names(), sets: map[string]*flag.FlagSet{}, build: map[string]func() (method.Method, error){},
		values: map[string]*rawValue{}}
	for _, name := range mf.names {
		e, _ := reg.Lookup(name)
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		mf.build[name] = e.Flags(fs)
		mf.sets[name] = fs
		fs.VisitAll(func(f *flag.Flag) {
			if _, seen := mf.values[f.Name]; seen {
				return
			}
			bf, ok := f.Value.(interface{ IsBoolFlag() bool })
			v := &rawValue{isBool: ok && bf.IsBoolFlag()}
			mf.values[f.Name] = v
			pf := fl.VarPF(v, f.Name, "", f.Usage)
			if v.isBool {
				pf.NoOptDefVal = "true"
			}
			pf.Hidden = true // listed in the method's own help section
		})
	}
	return mf
}

// method builds the chosen method from the flags given on the command line.
func (mf *methodFlags) method(name string, fl *pflag.FlagSet) (method.Method, error) {
	fs, ok := mf.sets[name]
	if !ok {
		return nil, &usageError{fmt.Errorf("pretrain: --method %q is not a method: methods are %s", name, strings.Join(mf.names, ", "))}
	}
	var err error
	fl.Visit(func(pf *pflag.Flag) {
		v, isMethodFlag := mf.values[pf.Name]
		if !isMethodFlag || err != nil {
			return
		}
		if fs.Lookup(pf.Name) == nil {
			var owners []string
			for _, n := range mf.names {
				if mf.sets[n].Lookup(pf.Name) != nil {
					owners = append(owners, n)
				}
			}
			err = &usageError{fmt.Errorf("pretrain: --%s is a flag of --method %s, not of %s", pf.Name, strings.Join(owners, ", "), name)}
			return
		}
		if serr := fs.Set(pf.Name, v.text); serr != nil {
			err = &usageError{fmt.Errorf("pretrain: --%s %q: %w", pf.Name, v.text, serr)}
		}
	})
	if err != nil {
		return nil, err
	}
	m, err := mf.build[name]()
	if err != nil {
		return nil, &usageError{fmt.Errorf("pretrain: --method %s: %w", name, err)}
	}
	return m, nil
}

// help writes each method's flags in its own section, with the method's defaults.
func (mf *methodFlags) help(w io.Writer, reg method.Registry) {
	for _, name := range mf.names {
		e, _ := reg.Lookup(name)
		fmt.Fprintf(w, "\nFlags of --method %s: %s\n", name, e.Summary)
		var lines [][2]string
		width := 0
		mf.sets[name].VisitAll(func(f *flag.Flag) {
			left := "      --" + f.Name
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
				left += " " + flagTypeName(f)
			}
			help := f.Usage
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && !strings.Contains(help, "(default") {
				help += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			lines = append(lines, [2]string{left, help})
			width = max(width, len(left))
		})
		sort.SliceStable(lines, func(i, j int) bool { return lines[i][0] < lines[j][0] })
		for _, l := range lines {
			fmt.Fprintf(w, "%-*s   %s\n", width, l[0], l[1])
		}
	}
}

// flagTypeName is the value placeholder shown in help ("int", "float", "ints", …).
func flagTypeName(f *flag.Flag) string {
	switch fmt.Sprintf("%T", f.Value) {
	case "*flag.intValue":
		return "int"
	case "*flag.float64Value":
		return "float"
	case "*flag.stringValue":
		return "string"
	case "*method.intsValue":
		return "ints"
	case "*method.floatsValue":
		return "floats"
	}
	return "value"
}

func newPretrainCmd() *cobra.Command {
	var f pretrainFlags
	reg := pretrain.Methods()
	cmd := &cobra.Command{
		Use:   "pretrain (--data GLOB | --idx FILE) --out model.swav [--method " + strings.Join(reg.Names(), "|") + "]",
		Short: "Pretrain a self-supervised model (SwAV by default) on unlabelled images",
		Long: `Pretrain a self-supervised model on unlabelled images: SwAV (Caron et al. 2020) by default,
or another --method. The checkpoint at --out is written every --checkpoint-every steps and
at the end, atomically; Ctrl-C saves it and exits; --resume continues a stopped run exactly.

Defaults fit the data. Up to 64 px: the small ResNet and the measured Fashion-MNIST recipe
(as many epochs as it takes to see 300,000 images, between 5 and 200; warmup 10 % of the
run; SwAV: base learning rate 4.8, prototypes frozen for 6.7 % of the run, a queue of 512
from the start, crops 2×size + 4×16). Larger images: ResNet-50 and the reference's
ImageNet recipe (100 epochs, base learning rate 0.6). A 0 means "the default" for every
numeric flag below, and -1 "none" where a flag says so.`,
		Args: cobra.NoArgs,
	}
	fl := cmd.Flags()
	fl.StringVar(&f.method, "method", "swav", "pretraining method: "+strings.Join(reg.Names(), ", ")+" (its own flags are listed below)")
	fl.StringVar(&f.data, "data", "", "images to train on, a doublestar glob such as 'photos/**/*.{jpg,png}'")
	fl.StringVar(&f.idx, "idx", "", "images to train on, an IDX file (MNIST/Fashion-MNIST, .gz or raw)")
	fl.StringVar(&f.out, "out", "", "checkpoint path (required)")
	fl.StringVar(&f.arch, "arch", "", "network: small (3×3 stem, 32/64/128), resnet18 or resnet50 (default: small up to 64 px, else resnet50)")
	fl.IntVar(&f.widthMult, "width-multiplier", 1, "width multiplier of every layer (the paper's ×2, ×4, ×5)")
	fl.IntVar(&f.hidden, "hidden-mlp", -1, "projection head hidden units, 0 for a linear head (default: the architecture's, 2048 for resnet50)")
	fl.IntVar(&f.outDim, "feat-dim", 0, "embedding dimension of the projection head (default 128)")
	fl.IntVar(&f.protos, "nmb-prototypes", 0, "number of prototypes K (default 3000; 200 for small; methods without prototypes ignore it)")
	fl.IntVar(&f.epochs, "epochs", 0, "number of epochs (default: 300,000 images' worth, 5 to 200, up to 64 px; else 100)")
	fl.IntVar(&f.steps, "steps", 0, "length of the run in steps instead of whole --epochs: warmup and cosine schedule span them, the last epoch ending part-way (default: whole epochs)")
	fl.IntVar(&f.batch, "batch-size", 64, "source images per step")
	fl.Float64Var(&f.baseLR, "base-lr", 0, "learning rate for a batch of 256, scaled linearly with --batch-size (default: the method's, "+
		optimizerDefaults(reg, func(o method.Optimizer) string { return fmt.Sprint(o.BaseLR) })+")")
	fl.Float64Var(&f.finalLR, "final-lr", 0, "final learning rate of the cosine schedule for a batch of 256 (default base-lr/1000)")
	fl.Float64Var(&f.warmupEpochs, "warmup-epochs", 0, "epochs of linear warmup (default 0: 10 % of the run; -1 for none; as Options.WarmupEpochs)")
	fl.Float64Var(&f.startWarmup, "start-warmup", 0, "initial warmup learning rate")
	fl.Float64Var(&f.wd, "wd", 0, "weight decay (default: the method's, "+
		optimizerDefaults(reg, func(o method.Optimizer) string { return fmt.Sprint(o.WeightDecay) })+")")
	fl.Float64Var(&f.momentum, "momentum", 0, "SGD momentum (default: the method's, "+
		optimizerDefaults(reg, func(o method.Optimizer) string { return fmt.Sprint(o.Momentum) })+")")
	fl.BoolVar(&f.noLARS, "no-lars", false, "plain SGD instead of SGD wrapped in LARS (methods using LARS: "+
		optimizerDefaults(reg, func(o method.Optimizer) string { return map[bool]string{true: "yes", false: "no"}[o.LARS] })+")")
	fl.Float64Var(&f.trust, "trust-coefficient", 0, "LARS trust coefficient η (default: the method's, "+
		optimizerDefaults(reg, func(o method.Optimizer) string { return fmt.Sprint(o.TrustCoefficient) })+")")
	fl.Uint64Var(&f.seed, "seed", 31, "random seed")
	fl.IntVar(&f.workers, "workers", 2, "goroutines decoding and augmenting images")
	fl.StringVar(&f.onError, "on-error", "fail", "corrupt images: skip (replace, count and list) or fail")
	fl.IntVar(&f.checkpointEvery, "checkpoint-every", 0, "steps between checkpoints (default one epoch)")
	fl.IntVar(&f.maxSteps, "max-steps", 0, "stop after this many steps in total (default 0: all epochs; the schedule stays that of all epochs)")
	fl.BoolVar(&f.resume, "resume", false, "continue from --out if it exists")
	fl.BoolVar(&f.overwrite, "overwrite", false, "start a new run even if --out exists, replacing it at the first save")
	fl.StringVar(&f.metrics, "metrics", "", "metrics file, JSON Lines (default OUT.metrics.jsonl; - for none)")
	fl.StringVar(&f.plot, "plot", "", "loss curve PNG, written at the end and on interruption (default OUT.loss.png; - for none)")
	mf := newMethodFlags(reg, fl)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runPretrain(cmd, f, mf) }
	defaultHelp := cmd.HelpFunc()
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		defaultHelp(c, args)
		mf.help(c.OutOrStdout(), reg)
	})
	return cmd
}

// optimizerDefaults describes one optimiser default of every method, read from the
// methods themselves (set up for a 28-px and a 224-px run): "swav 4.8 up to 64 px, 0.6
// above; simclr …", or "swav 0.9; simclr 0.9" when the size does not matter.
func optimizerDefaults(reg method.Registry, field func(method.Optimizer) string) string {
	var parts []string
	for _, name := range reg.Names() {
		small, okS := optimizerFor(reg, name, 28)
		large, okL := optimizerFor(reg, name, 224)
		switch {
		case !okS || !okL:
			continue
		case field(small) == field(large):
			parts = append(parts, name+" "+field(small))
		default:
			parts = append(parts, fmt.Sprintf("%s %s up to %d px, %s above", name, field(small), trainer.SmallInput, field(large)))
		}
	}
	return strings.Join(parts, "; ")
}

// optimizerFor returns the optimiser defaults of the named method for a run on
// images of size px (the default network, 60,000 images, batch 64, 5 epochs).
func optimizerFor(reg method.Registry, name string, size int) (method.Optimizer, bool) {
	m, err := reg.New(name)
	if err != nil {
		return method.Optimizer{}, false
	}
	d := trainer.Data{InputSize: size, Channels: 3, Images: 60000}
	o := trainer.Options{}.WithDefaults(d)
	run := method.Run{Model: o.Model, InputSize: size, Images: d.Images, BatchSize: o.BatchSize, Epochs: o.Epochs,
		ItersPerEpoch: d.Images / o.BatchSize, TotalIters: o.Epochs * (d.Images / o.BatchSize),
		Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.25, 0.25, 0.25}, Log: func(string, ...any) {}}
	if _, err := m.Setup(run); err != nil {
		return method.Optimizer{}, false
	}
	return m.Optimizer(), true
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

func runPretrain(cmd *cobra.Command, f pretrainFlags, mf *methodFlags) error {
	if f.out == "" {
		return errors.New("pretrain: --out is required")
	}
	m, err := mf.method(f.method, cmd.Flags())
	if err != nil {
		return err
	}
	var onErr dataset.OnError
	if err := onErr.UnmarshalText([]byte(f.onError)); err != nil {
		return fmt.Errorf("pretrain: --on-error: %w", err)
	}
	src, name, err := openTrainingSource(f.data, f.idx, false)
	if err != nil {
		return err
	}
	be, err := newBackend()
	if err != nil {
		return err
	}
	var log io.Writer = cmd.ErrOrStderr()
	if quiet(cmd) {
		log = nil
	}
	opts := trainer.Options{
		Epochs: f.epochs, Steps: f.steps, BatchSize: f.batch, BaseLR: f.baseLR, FinalLR: f.finalLR, StartWarmupLR: f.startWarmup,
		WarmupEpochs: f.warmupEpochs, WeightDecay: f.wd, Momentum: f.momentum, NoLARS: f.noLARS, TrustCoefficient: f.trust,
		Seed: f.seed, Workers: f.workers, OnError: onErr,
		Checkpoint: f.out, CheckpointEvery: f.checkpointEvery, Resume: f.resume, Overwrite: f.overwrite, MaxSteps: f.maxSteps,
		MetricsPath: f.metrics, PlotPath: f.plot, Backend: be, Log: log, DatasetName: name,
	}
	if f.arch != "" {
		// The first image is decoded once, here, and the run is told what it holds.
		size, channels, err := trainer.ProbeInput(src)
		if err != nil {
			return err
		}
		opts.Input = trainer.Data{InputSize: size, Channels: channels}
		if opts.Model, err = architecture(f.arch, channels); err != nil {
			return err
		}
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
	} else if f.widthMult != 1 || f.hidden >= 0 || f.outDim > 0 || f.protos > 0 {
		return &usageError{errors.New("pretrain: --width-multiplier, --hidden-mlp, --feat-dim and --nmb-prototypes need --arch")}
	}
	res, err := pretrain.RunMethod(cmd.Context(), src, m, opts)
	if res != nil {
		reportSkipped(cmd.ErrOrStderr(), res.Skipped)
	}
	// The run's own log ends with its summary ("done: N steps, …"): nothing to add.
	return err
}

// architecture returns the named network for channels.
func architecture(arch string, channels int) (model.Config, error) {
	var cfg model.Config
	switch arch {
	case "small":
		cfg = model.Small(channels)
	case "resnet18":
		cfg = model.ResNet18()
	case "resnet50":
		cfg = model.ResNet50()
	default:
		return model.Config{}, &usageError{fmt.Errorf("--arch %q is not valid, architectures are: small, resnet18, resnet50", arch)}
	}
	cfg.InChannels = channels
	return cfg, nil
}
