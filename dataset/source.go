// Package dataset provides random-access image collections ([Source]) and
// an ordered parallel map ([Ordered], [Stream]) that decodes and transforms
// their items with bounded memory.
//
// Two sources are provided: [Glob] lists image files matching a doublestar
// pattern, optionally labelled by sub-folder (the torchvision ImageFolder
// convention); [IDX] and [FashionMNIST] read the IDX files of MNIST-style
// datasets. Sources keep only names, offsets or packed pixels in memory and
// decode images on demand.
//
// A corrupt item does not stop a source: its Image method returns an error
// naming the item, and the consumer applies an [OnError] policy, skipping
// (and recording a [Skipped] entry) or failing. The same holds for a path
// that could not be read while listing a glob (an unreadable folder, a
// symbolic link loop): [Glob] makes it an item whose Image returns a
// [WalkError] naming its absolute path.
//
// Files come from a user's disk, so they are read with bounds: only regular
// files are opened (a FIFO cannot block, a device cannot stream forever),
// and sizes are checked before anything is allocated ([IDXOptions],
// imageio.Options).
package dataset

import (
	"fmt"
	"image"
	"strings"
)

// Source is a random-access, read-only collection of images. Only names,
// offsets or packed pixels are held in memory; images are decoded on demand.
// Implementations must be safe for concurrent use: Stream calls Image from
// several goroutines. Methods taking an index panic when it is outside
// [0, Len()), as slice indexing does.
type Source interface {
	// Len returns the number of items.
	Len() int
	// Name identifies item i in messages: a file path, or for IDX data
	// "train-images-idx3-ubyte.gz#123".
	Name(i int) string
	// Image decodes item i. Errors name the item.
	Image(i int) (image.Image, error)
	// Label returns the class index of item i, and false when the source
	// is unlabelled.
	Label(i int) (int, bool)
	// Classes returns the class names indexed by label, or nil when the
	// source is unlabelled.
	Classes() []string
}

// OnError is the policy for items that fail to decode or transform.
// The zero value is Fail.
type OnError int

const (
	// Fail stops at the first bad item and reports its error.
	Fail OnError = iota
	// Skip leaves bad items out, recording each as a Skipped entry.
	Skip
)

// String returns "fail" or "skip".
func (p OnError) String() string {
	switch p {
	case Fail:
		return "fail"
	case Skip:
		return "skip"
	}
	return fmt.Sprintf("OnError(%d)", int(p))
}

// MarshalText encodes the policy as "fail" or "skip".
func (p OnError) MarshalText() ([]byte, error) {
	if p != Fail && p != Skip {
		return nil, fmt.Errorf("dataset: invalid OnError value %d", int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText parses "fail" or "skip" (any case), so that an OnError can
// be a flag (flag.TextVar) or a configuration field.
func (p *OnError) UnmarshalText(text []byte) error {
	switch strings.ToLower(strings.TrimSpace(string(text))) {
	case "fail":
		*p = Fail
	case "skip":
		*p = Skip
	default:
		return fmt.Errorf("dataset: invalid error policy %q (want \"skip\" or \"fail\")", text)
	}
	return nil
}

// Skipped records an item left out under the Skip policy.
type Skipped struct {
	Name string // the item's Source.Name
	Err  error  // why it was skipped
}

// String formats the record as "name: error", or as the error alone when it already
// names the item.
func (s Skipped) String() string {
	if s.Err != nil && strings.Contains(s.Err.Error(), s.Name) {
		return s.Err.Error() // the error names the item already: say it once
	}
	return fmt.Sprintf("%s: %v", s.Name, s.Err)
}

// Handle applies the policy to the outcome of one item. A nil err returns
// nil. Under Skip, a non-nil err is appended to *skipped (when skipped is
// not nil) and Handle returns nil: the caller leaves the item out and goes
// on. Under Fail, Handle returns err, naming the item if err does not
// already mention it.
func (p OnError) Handle(skipped *[]Skipped, name string, err error) error {
	if err == nil {
		return nil
	}
	if p == Skip {
		if skipped != nil {
			*skipped = append(*skipped, Skipped{Name: name, Err: err})
		}
		return nil
	}
	if !strings.Contains(err.Error(), name) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return err
}
