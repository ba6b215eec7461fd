package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/swav-go/swav/checkpoint"
)

// Exit statuses of the command (see the package documentation).
const (
	exitError = 1
	exitUsage = 2
	// exitSignal plus the signal's number is the status after an interruption.
	exitSignal = 128
)

// usageError is an error in how the command was called: an unknown command or flag, a
// bad flag value, a wrong number of arguments. It exits with status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// runMain runs the command line args and returns the exit status, writing a failure as
// one line on stderr. SIGINT and SIGTERM cancel the command's context; the command then
// cleans up (removes its temporary output) and returns, and the status is 128+signal.
// After the first signal the default action is restored, so a second one stops the
// process at once.
func runMain(args []string, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var caught atomic.Value // os.Signal
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case s := <-sigs:
			caught.Store(s)
			signal.Stop(sigs)
			fmt.Fprintf(stderr, "swav-embed: %v: stopping after cleanup (again to stop at once)\n", s)
			cancel()
		case <-done:
		}
	}()
	root := newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if s, ok := caught.Load().(os.Signal); ok {
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "swav-embed:", err)
		}
		return exitStatusOf(s)
	}
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "swav-embed:", err)
	if errors.As(err, new(*usageError)) {
		return exitUsage
	}
	return exitError
}

// exitStatusOf is 128 plus the signal's number (130 for SIGINT).
func exitStatusOf(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return exitSignal + int(n)
	}
	return exitSignal + int(syscall.SIGINT)
}

// finishTree applies the conventions every command shares, once all are added below
// root: flag and argument errors are usage errors (exit status 2); a flag whose help
// states its default ("… (default: one epoch)") does not get pflag's "(default 0)"
// appended; an unknown subcommand is a usage error that suggests the near names (a
// command that only groups subcommands prints its help when given none).
func finishTree(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	var visit func(c *cobra.Command)
	visit = func(c *cobra.Command) {
		ownDefaults(c.Flags())
		ownDefaults(c.PersistentFlags())
		switch {
		case c.Args != nil:
			args := c.Args
			c.Args = func(c *cobra.Command, a []string) error {
				if err := args(c, a); err != nil {
					return &usageError{fmt.Errorf("%s: %w (see %s --help)", c.Name(), err, c.CommandPath())}
				}
				return nil
			}
		case c.HasSubCommands():
			// Runnable, so that an unknown subcommand reaches the check (a command
			// that only groups others would print its help and exit 0).
			c.Args = unknownSubcommand
			if c.Run == nil && c.RunE == nil {
				c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
			}
		}
		for _, sub := range c.Commands() {
			visit(sub)
		}
	}
	visit(root)
}

// unknownSubcommand is the argument check of a command that only groups subcommands.
func unknownSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, set where it finds commands
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += ": did you mean " + strings.Join(s, " or ") + "?"
	}
	return &usageError{errors.New(msg + " (see " + c.CommandPath() + " --help)")}
}

// ownDefaults marks the flags of fl whose help text states the default itself ("(default
// …)" anywhere in it) so that pflag's help does not append its own "(default -1)" or
// "(default [])" after it: their DefValue becomes the zero value's text, which pflag
// leaves out. A command only writes "(default …)" in the help; finishTree applies this to
// every command.
func ownDefaults(fl *pflag.FlagSet) {
	fl.VisitAll(func(f *pflag.Flag) {
		if strings.Contains(f.Usage, "(default") {
			f.DefValue = zeroDefValue(f.Value.Type())
		}
	})
}

// zeroDefValue is the DefValue text pflag treats as the zero value of a flag type.
func zeroDefValue(typ string) string {
	switch typ {
	case "bool":
		return "false"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
		"float32", "float64", "count", "duration":
		return "0"
	case "intSlice", "stringSlice", "stringArray":
		return "[]"
	}
	return "" // strings and every other type
}

// alias registers old as a deprecated, hidden name of the flag name of fl, sharing its
// value: scripts using old keep working and are told the new name on standard error.
func alias(fl *pflag.FlagSet, old, name string) {
	f := fl.Lookup(name)
	if f == nil {
		panic("swav-embed: alias of unregistered flag --" + name)
	}
	fl.AddFlag(&pflag.Flag{Name: old, Usage: f.Usage, Value: f.Value, DefValue: f.DefValue, NoOptDefVal: f.NoOptDefVal})
	if err := fl.MarkDeprecated(old, "use --"+name); err != nil {
		panic("swav-embed: " + err.Error())
	}
}

// versionText is what --version prints: the module version (a release tag when installed
// with go install …@version, "(devel)" in a source tree, with the VCS revision when
// known), the Go version and platform, and the checkpoint format the binary reads and
// writes.
func versionText() string {
	version, rev := "(unknown)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" && dirty {
			rev += "+modified"
		}
	}
	if version == "" {
		version = "(devel)"
	}
	line := "swav-embed " + version
	if rev != "" {
		line += " (revision " + rev + ")"
	}
	return fmt.Sprintf("%s\n%s %s/%s\ncheckpoint format %d\n", line, runtime.Version(), runtime.GOOS, runtime.GOARCH, checkpoint.FormatVersion)
}

// quiet reports whether --quiet was given.
func quiet(cmd *cobra.Command) bool {
	q, err := cmd.Flags().GetBool("quiet")
	return err == nil && q
}

// infof writes an informational line (a summary, a note) on cmd's standard error unless
// --quiet.
func infof(cmd *cobra.Command, format string, args ...any) {
	if !quiet(cmd) {
		fmt.Fprintf(cmd.ErrOrStderr(), format+"\n", args...)
	}
}
