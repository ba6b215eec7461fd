package main

import "github.com/spf13/cobra"

func newConvertCmd() *cobra.Command { return &cobra.Command{Use: "convert"} }
