package method

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
)

// Entry is one method of a Registry: how to build it with its defaults, and how to
// build it from command-line flags.
type Entry struct {
	// Name is the method's name, as Method.Name returns it.
	Name string
	// Summary is a one-line description for help texts, e.g. "SwAV (Caron et al.
	// 2020): swapped prediction of online cluster codes".
	Summary string
	// New returns the method with its defaults (those Flags shows).
	New func() Method
	// Flags registers the method's hyperparameters on fs, each with its default and a
	// one-line help, and returns a function that builds the method from their parsed
	// values (reporting an invalid combination). Flag names should not repeat the
	// method's name: the command line shows them in the method's own section.
	Flags func(fs *flag.FlagSet) func() (Method, error)
}

// Registry maps method names to their entries, as GoMLX's backends.Register or
// solo-learn's METHODS do, but built explicitly ([NewRegistry]) rather than by
// package init functions: a program registers exactly the methods it lists. A
// Registry is immutable and safe for concurrent use.
type Registry struct {
	entries map[string]Entry
}

// NewRegistry returns a registry of entries. Each needs a name (lower case letters,
// digits and "-", as on a command line), a summary, New and Flags, and a name of its
// own.
func NewRegistry(entries ...Entry) (Registry, error) {
	r := Registry{entries: make(map[string]Entry, len(entries))}
	for i, e := range entries {
		switch {
		case !validName(e.Name):
			return Registry{}, fmt.Errorf("method: registry entry %d: name %q must be lower-case letters, digits and '-'", i, e.Name)
		case e.Summary == "" || e.New == nil || e.Flags == nil:
			return Registry{}, fmt.Errorf("method: registry entry %q needs a summary, New and Flags", e.Name)
		}
		if _, dup := r.entries[e.Name]; dup {
			return Registry{}, fmt.Errorf("method: %q is registered twice", e.Name)
		}
		r.entries[e.Name] = e
	}
	return r, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ErrUnknown is wrapped by Lookup's error for a name that is not registered.
var ErrUnknown = errors.New("unknown pretraining method")

// Lookup returns the entry of name; the error for an unknown name lists the valid ones.
func (r Registry) Lookup(name string) (Entry, error) {
	e, ok := r.entries[name]
	if !ok {
		return Entry{}, fmt.Errorf("%w %q: methods are %s", ErrUnknown, name, strings.Join(r.Names(), ", "))
	}
	return e, nil
}

// New returns the method registered as name, with its defaults.
func (r Registry) New(name string) (Method, error) {
	e, err := r.Lookup(name)
	if err != nil {
		return nil, err
	}
	return e.New(), nil
}

// Names returns the registered names, sorted.
func (r Registry) Names() []string {
	names := make([]string, 0, len(r.entries))
	for n := range r.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
