package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/swav-go/swav/checkpoint"
)

func newInspectCmd() *cobra.Command {
	var tensors bool
	cmd := &cobra.Command{
		Use:   "inspect CHECKPOINT",
		Short: "Print a checkpoint's header (architecture, preprocessing, training state) and tensor count",
		Long: "Print a checkpoint's header (architecture, preprocessing, training state) and tensor count.\n" +
			"Only the header and tensor table are decoded; the payload is read through the checksum but never\n" +
			"decompressed, so memory stays small whatever the tensors' declared size.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A header-only read never inflates the payload, so inspect shows
			// any checkpoint the format allows (up to MaxPayloadSize of
			// declared tensors), not only those a full load accepts by default;
			// the file-size cap is derived from that.
			info, err := checkpoint.ReadInfo(args[0], checkpoint.ReadOptions{MaxTensorBytes: checkpoint.MaxPayloadSize})
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(info.Header, "", "  ")
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, string(b))
			var total int64
			for _, t := range info.Tensors {
				total += t.NumElements()
				if tensors {
					fmt.Fprintf(out, "%-60s %-8s %v\n", t.Name, t.DType, t.Shape)
				}
			}
			fmt.Fprintf(out, "%d tensors, %d values\n", len(info.Tensors), total)
			return nil
		},
	}
	cmd.Flags().BoolVar(&tensors, "tensors", false, "list every tensor with its dtype and shape")
	return cmd
}
