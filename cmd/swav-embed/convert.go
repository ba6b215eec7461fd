package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/swav-go/swav/torchimport"
)

func newConvertCmd() *cobra.Command {
	var out string
	var f16, backboneOnly bool
	var maxInput int64
	cmd := &cobra.Command{
		Use:   "convert MODEL.pth.tar --out model.swav",
		Short: "Convert a PyTorch SwAV or torchvision ResNet checkpoint (e.g. the paper's released ResNet-50)",
		Long: `Convert a PyTorch checkpoint (torch.save zip or legacy format; a bare state dict or
{"state_dict": …}; keys with or without "module.") of a torchvision-layout ResNet, with or
without the SwAV projection head and prototypes, into a swav-go model. The architecture is
read from the weights; the paper's eval transform (resize 256, centre crop 224, its
mean/std) is written into the header. Inputs larger than --max-input-bytes (4 GiB by
default, above the 2.3 GB of the largest released SwAV model, ResNet-50-w5) and
anything but a regular file are refused before reading.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("convert: --out is required")
			}
			if maxInput == 0 || maxInput < -1 {
				return fmt.Errorf("convert: --max-input-bytes %d: give a positive size, or -1 for no limit", maxInput)
			}
			err := torchimport.ConvertFile(args[0], out, torchimport.ConvertOptions{Float16: f16, BackboneOnly: backboneOnly,
				Read: torchimport.ReadOptions{MaxFileBytes: maxInput},
				Logf: func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }})
			if err != nil {
				return err
			}
			infof(c, "wrote %s", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "output model checkpoint")
	cmd.Flags().BoolVar(&f16, "float16", false, "store weights as float16")
	cmd.Flags().BoolVar(&backboneOnly, "backbone-only", false, "drop the projection head and prototypes")
	cmd.Flags().Int64Var(&maxInput, "max-input-bytes", torchimport.DefaultMaxFileBytes, "largest PyTorch file to read, in bytes (-1: no limit)")
	return cmd
}
