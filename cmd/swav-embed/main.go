// Command swav-embed pretrains SwAV models on image folders or IDX files, embeds images
// with them, and evaluates them with a linear probe or kNN.
//
//	swav-embed pretrain --idx train-images-idx3-ubyte.gz --out model.swav
//	swav-embed embed 'photos/**/*.{jpg,jpeg,png,webp}' --out emb.npy
//	swav-embed probe --model model.swav --train-idx … --test-idx …
//	swav-embed export model.swav --out small.swav --float16
//	swav-embed convert swav_800ep_pretrain.pth.tar --out swav-rn50.swav
//	swav-embed bench fashion-mnist
//
// Exit status: 0 on success, 1 on an error, 2 on a usage error (an unknown command or
// flag, a bad flag value, a wrong number of arguments), 128+n when stopped by signal n
// (130 for Ctrl-C, 143 for SIGTERM) after cleaning up (no partial output file is left).
//
// The compute backend is swav-go's pure-Go default unless GOMLX_BACKEND names another
// (build with -tags xla for XLA, after installing its plugin).
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/gomlx/gomlx/backends"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/swav-go/swav/backend"
)

func main() { os.Exit(runMain(os.Args[1:], os.Stderr)) }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "swav-embed",
		Short: "SwAV self-supervised image embeddings in Go: pretrain, embed, evaluate",
		Long: `SwAV self-supervised image embeddings in Go: pretrain, embed, evaluate.

Exit status: 0 on success, 1 on an error, 2 on a usage error (unknown command or flag,
bad flag value, wrong arguments), 130 when stopped by Ctrl-C (143 by SIGTERM) after
cleaning up: an interrupted command leaves no partial output file.`,
		Version:       versionText(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every subcommand: counts such as --batch-size and --workers must be positive.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return checkCountFlags(cmd) },
	}
	root.SetVersionTemplate("{{.Version}}")
	root.PersistentFlags().BoolP("quiet", "q", false, "no progress or summary lines on standard error (warnings, skipped files and errors still)")
	root.AddCommand(newPretrainCmd(), newEmbedCmd(), newProbeCmd(), newExportCmd(), newInitCmd(), newConvertCmd(), newInspectCmd(), newBenchCmd(), newPredictCmd(), newClusterCmd(), newMapCmd(), newIndexCmd(), newSearchCmd(), newDedupCmd())
	finishTree(root)
	return root
}

// checkCountFlags rejects a zero or negative value of any count flag cmd has
// (--batch-size or its old name --batch, --workers, --bn-images, --steps, --batches), naming the flag: the
// libraries read 0 as "the default" and a negative worker count as "one per CPU", which
// would silently run something other than what was asked. A flag left at a default of 0
// (pretrain's --steps) is not checked: there 0 is how "unset" is written.
func checkCountFlags(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		switch f.Name {
		case "batch", "batch-size", "workers", "bn-images", "steps", "batches":
		default:
			return
		}
		if err != nil || f.Value.Type() != "int" || (f.Deprecated != "" && !f.Changed) {
			return // a deprecated alias (--batch) is reported under its name only when given
		}
		if !f.Changed && f.DefValue == "0" {
			return // unset, meaning "not this way" (pretrain's --steps: whole epochs)
		}
		v, perr := strconv.Atoi(f.Value.String())
		switch {
		case perr != nil:
			err = &usageError{fmt.Errorf("%s: --%s %q: %w", cmd.CommandPath(), f.Name, f.Value, perr)}
		case v < 1:
			err = &usageError{fmt.Errorf("%s: --%s is %d: it must be at least 1", cmd.CommandPath(), f.Name, v)}
		}
	})
	return err
}

// newBackend returns the backend for this run ($GOMLX_BACKEND or the default).
func newBackend() (backends.Backend, error) {
	return backend.New()
}
