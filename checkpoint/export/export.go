// Package export works on saved checkpoints: it writes the network of a training
// checkpoint as a compact inference file (optionally float16), refusing to replace
// training state by accident, and re-estimates batch-norm statistics on full-size
// images ("precise BN"). It needs no training code: a file is all it reads.
package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/internal/userfile"
	"github.com/swav-go/swav/model"
)

// Checkpoint kinds: KindTraining of training checkpoints (network, optimiser state and
// the method's state such as a queue, whatever the method), KindModel of inference
// exports holding only the network.
const (
	KindTraining = "swav-training"
	KindModel    = model.Kind
)

// ErrReplacesTraining is wrapped by the error of an export that would replace a
// training checkpoint (model, optimiser state and queue) by an inference-only file.
var ErrReplacesTraining = errors.New("the export would replace a training checkpoint")

// Options configure [Write].
type Options struct {
	// Float16 stores the float tensors as float16: half the size, for inference.
	Float16 bool
	// Force lets the export replace a training checkpoint at the output path, whose
	// optimiser state and queue are then lost.
	Force bool
}

// File writes the network of the checkpoint at in (a training checkpoint or a model)
// to out, without optimiser state or the method's state, as float16 when asked: the
// compact file to ship for inference. It refuses to replace a training checkpoint at
// out (in itself included); see [Write] to force it.
func File(in, out string, o Options) error {
	f, err := checkpoint.Load(in)
	if err != nil {
		return err
	}
	return Write(f, in, out, o)
}

// Write is File for a checkpoint already loaded (e.g. after [RecalibrateBatchNorm]);
// name identifies it in errors (and, when it is its path, lets an export onto the file
// it came from be recognised without reading it again). f is not modified. It keeps
// the tensors of the network scopes the training checkpoint's method recorded (header
// entry "method", key "network_scopes"), or else model.IsNetworkVariable's. Unless
// o.Force is set, it first calls [CheckTarget] and writes nothing when out holds a
// training checkpoint.
func Write(f *checkpoint.File, name, out string, o Options) error {
	if f.Header.Kind != KindTraining && f.Header.Kind != KindModel {
		return fmt.Errorf("checkpoint %s: kind %q is not a SwAV model", name, f.Header.Kind)
	}
	if !o.Force {
		if err := CheckTarget(f, name, out); err != nil {
			return err
		}
	}
	keep, err := networkFilter(f.Header)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", name, err)
	}
	kept := f.Tensors[:0:0]
	for _, t := range f.Tensors {
		if keep(t.Name) {
			kept = append(kept, t)
		}
	}
	g := *f
	g.Header.Kind = KindModel
	g.Tensors = kept
	return checkpoint.Save(out, &g, checkpoint.EncodeOptions{Float16: o.Float16, Level: 19})
}

// networkFilter returns the test of the tensors an export keeps: those under the
// network scopes the header's method entry lists (each one model.IsNetworkVariable
// accepts), or model.IsNetworkVariable's for files without them.
func networkFilter(h checkpoint.Header) (func(string) bool, error) {
	raw, ok := h.Extra["method"]
	if !ok {
		return model.IsNetworkVariable, nil
	}
	var m struct {
		Scopes []string `json:"network_scopes"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("the header's method entry: %w", err)
	}
	if len(m.Scopes) == 0 {
		return model.IsNetworkVariable, nil
	}
	for _, s := range m.Scopes {
		if !model.IsNetworkVariable(s + "/x") {
			return nil, fmt.Errorf("the header's method entry lists %q as a network scope, which inference does not load", s)
		}
	}
	return func(name string) bool {
		for _, s := range m.Scopes {
			if strings.HasPrefix(name, s+"/") {
				return true
			}
		}
		return false
	}, nil
}

// CheckTarget reports whether an export of f (loaded from name) may be written to
// out. The error wraps ErrReplacesTraining when out holds a training checkpoint (kind
// [KindTraining]): f itself when out is the file it was loaded from, or any other
// training checkpoint already there. A directory or special file at out is an error
// too. Nil means out does not exist or holds something else (a model, a file that is
// not a checkpoint), which the export may replace.
func CheckTarget(f *checkpoint.File, name, out string) error {
	fi, err := os.Stat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("export to %s: %w", out, err)
	case fi.IsDir():
		return fmt.Errorf("export to %s: it is a directory: give a file name, e.g. %s", out, filepath.Join(out, "model.swav"))
	case !fi.Mode().IsRegular():
		return fmt.Errorf("export to %s: it is not a regular file (%s)", out, userfile.Describe(fi.Mode()))
	}
	kind, training := f.Header.Kind, f.Header.Training
	if src, err := os.Stat(name); err != nil || !os.SameFile(src, fi) {
		existing, err := checkpoint.ReadInfo(out, checkpoint.ReadOptions{}) // the header only
		if err != nil {
			return nil // not a readable checkpoint: no training state to lose
		}
		kind, training = existing.Header.Kind, existing.Header.Training
	}
	if kind != KindTraining {
		return nil
	}
	at := ""
	if training != nil {
		at = fmt.Sprintf(" at step %d (epoch %d)", training.Step, training.Epoch)
	}
	return fmt.Errorf("export to %s: %w: %s is a training checkpoint%s with the optimiser state and queue "+
		"that resuming needs; an export holds only the network. Write the export to another path, "+
		"or force the replacement, losing the training state", out, ErrReplacesTraining, out, at)
}
