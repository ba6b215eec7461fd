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
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := checkpoint.Load(args[0])
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(f.Header, "", "  ")
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, string(b))
			total := 0
			for _, t := range f.Tensors {
				n, _ := t.NumElements()
				total += n
				if tensors {
					fmt.Fprintf(out, "%-60s %-8s %v\n", t.Name, t.DType, t.Shape)
				}
			}
			fmt.Fprintf(out, "%d tensors, %d values\n", len(f.Tensors), total)
			return nil
		},
	}
	cmd.Flags().BoolVar(&tensors, "tensors", false, "list every tensor with its dtype and shape")
	return cmd
}
