package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/pretrain"
)

func newExportCmd() *cobra.Command {
	var out string
	var f16 bool
	cmd := &cobra.Command{
		Use:   "export CHECKPOINT --out model.swav [--float16]",
		Short: "Write the network of a training checkpoint without optimiser state and queue",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("export: --out is required")
			}
			if err := pretrain.ExportModel(args[0], out, f16); err != nil {
				return err
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
	return cmd
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
			size, channels, err := pretrain.ProbeInput(src)
			if err != nil {
				return err
			}
			cfg, err := architecture(arch, src)
			if err != nil {
				return err
			}
			if cfg.Block == "" {
				return errors.New("init: --arch is required")
			}
			be, err := newBackend()
			if err != nil {
				return err
			}
			ctx, err := model.Initialize(be, cfg, size, seed)
			if err != nil {
				return err
			}
			mean, std, err := pretrain.ChannelStats(src, channels)
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
