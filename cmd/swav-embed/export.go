package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/checkpoint/export"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain/trainer"
)

func newExportCmd() *cobra.Command {
	var out, bnData, bnIdx, onError string
	var f16, force bool
	var bnImages int
	cmd := &cobra.Command{
		Use:   "export CHECKPOINT --out model.swav [--float16] [--bn-idx FILE | --bn-data GLOB]",
		Short: "Write the network of a training checkpoint without optimiser state and queue",
		Long: `Write the network of a training checkpoint (or a model) without optimiser state and
queue, optionally as float16 (half the size, for inference).

--bn-data / --bn-idx first re-estimates every batch-norm running statistic on full-size
images ("precise BN"): SwAV training leaves statistics that mix full-size and small
multi-crop views, while features are extracted from full-size images. Only the running
statistics change; the header records the recalibration.

export refuses to replace a training checkpoint (CHECKPOINT itself, or one already at
--out): its optimiser state and queue, which --resume needs, would be lost. --force
replaces it anyway.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("export: --out is required")
			}
			f, err := checkpoint.Load(args[0])
			if err != nil {
				return err
			}
			if !force { // before the batch-norm pass, which can take minutes
				if err := export.CheckTarget(f, args[0], out); err != nil {
					return forceHint(err)
				}
			}
			if bnData != "" || bnIdx != "" {
				var policy dataset.OnError
				if err := policy.UnmarshalText([]byte(onError)); err != nil {
					return fmt.Errorf("export: --on-error: %w", err)
				}
				src, name, err := openTrainingSource(bnData, bnIdx, false)
				if err != nil {
					return fmt.Errorf("export: %w", err)
				}
				be, err := newBackend()
				if err != nil {
					return err
				}
				skipped, err := export.RecalibrateBatchNorm(cmd.Context(), f, src,
					export.RecalibrateOptions{Images: bnImages, OnError: policy, Backend: be})
				if err != nil {
					return fmt.Errorf("export: batch-norm statistics from %s: %w", name, err)
				}
				for _, s := range skipped {
					fmt.Fprintf(os.Stderr, "skipped %s\n", s)
				}
				fmt.Fprintf(os.Stderr, "batch-norm statistics re-estimated on %s: %s\n", name, f.Header.Extra[export.ExtraRecalibration])
			}
			if err := export.Write(f, args[0], out, export.Options{Float16: f16, Force: force}); err != nil {
				return forceHint(err)
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "wrote %s (%d bytes)\n", out, st.Size())
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "output model checkpoint")
	cmd.Flags().BoolVar(&f16, "float16", false, "store weights as float16 (half the size; for inference)")
	cmd.Flags().BoolVar(&force, "force", false, "replace a training checkpoint at --out (its optimiser state and queue are lost)")
	cmd.Flags().StringVar(&bnData, "bn-data", "", "re-estimate batch-norm statistics on these images (a doublestar glob)")
	cmd.Flags().StringVar(&bnIdx, "bn-idx", "", "re-estimate batch-norm statistics on the images of this IDX file")
	cmd.Flags().IntVar(&bnImages, "bn-images", 10000, "images drawn for the batch-norm statistics")
	onErrorFlag(cmd.Flags(), &onError, "unreadable images for the statistics: skip or fail")
	return cmd
}

// forceHint adds the flag that overrides a refusal to replace a training checkpoint.
func forceHint(err error) error {
	if errors.Is(err, export.ErrReplacesTraining) {
		return fmt.Errorf("%w: pass --force to replace it anyway", err)
	}
	return err
}

func newInitCmd() *cobra.Command {
	var out, arch, data, idx string
	var seed int64
	cmd := &cobra.Command{
		Use:   "init (--data GLOB | --idx FILE) --arch small --out random.swav",
		Short: "Write a randomly initialised model for the data (the untrained baseline)",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("init: --out is required")
			}
			src, _, err := openTrainingSource(data, idx, false)
			if err != nil {
				return err
			}
			if arch == "" {
				return errors.New("init: --arch is required")
			}
			size, channels, err := trainer.ProbeInput(src)
			if err != nil {
				return err
			}
			cfg, err := architecture(arch, channels)
			if err != nil {
				return err
			}
			be, err := newBackend()
			if err != nil {
				return err
			}
			ctx, err := model.Initialize(be, cfg, size, seed)
			if err != nil {
				return err
			}
			mean, std, err := trainer.ChannelStats(src, channels)
			if err != nil {
				return err
			}
			pre := checkpoint.Preprocess{InputSize: size, ResizeSize: size, Channels: channels, Interpolation: "bilinear"}
			if size >= 224 {
				pre.InputSize, pre.ResizeSize = 224, 256
			}
			for c := range channels {
				pre.Mean = append(pre.Mean, float64(mean[c]))
				pre.Std = append(pre.Std, float64(std[c]))
			}
			f, err := model.File(ctx, cfg, pre, nil)
			if err != nil {
				return err
			}
			f.Header.Extra = map[string]json.RawMessage{"note": json.RawMessage(`"randomly initialised, not trained"`)}
			return checkpoint.Save(out, f, checkpoint.EncodeOptions{})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "output model checkpoint")
	cmd.Flags().StringVar(&arch, "arch", "small", "network: small, resnet18 or resnet50")
	cmd.Flags().StringVar(&data, "data", "", "images (doublestar glob) giving the input size, channels and normalisation")
	cmd.Flags().StringVar(&idx, "idx", "", "IDX images giving the input size, channels and normalisation")
	cmd.Flags().Int64Var(&seed, "seed", 31, "initialisation seed")
	return cmd
}
