package pretrain

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/internal/userfile"
	"github.com/swav-go/swav/model"
)

// ErrReplacesTraining is wrapped by the error of an export that would replace a
// training checkpoint (model, optimiser state and queue) by an inference-only file.
var ErrReplacesTraining = errors.New("the export would replace a training checkpoint")

// ExportOptions configure [ExportWith].
type ExportOptions struct {
	// Float16 stores the float tensors as float16: half the size, for inference.
	Float16 bool
	// Force lets the export replace a training checkpoint at the output path, whose
	// optimiser state and queue are then lost.
	Force bool
}

// ExportModel writes the network of the checkpoint at in (a training checkpoint or a
// model) to out, without optimiser state or queue, as float16 when asked: the compact
// file to ship for inference. It refuses to replace a training checkpoint at out
// (in itself included); see [ExportWith] to force it.
func ExportModel(in, out string, float16 bool) error {
	f, err := checkpoint.Load(in)
	if err != nil {
		return err
	}
	return ExportWith(f, in, out, ExportOptions{Float16: float16})
}

// Export is ExportModel for a checkpoint already loaded (e.g. after
// [RecalibrateBatchNorm]); name identifies it in errors (and, when it is its path,
// lets an export onto the file it came from be recognised without reading it again).
// f is not modified.
func Export(f *checkpoint.File, name, out string, float16 bool) error {
	return ExportWith(f, name, out, ExportOptions{Float16: float16})
}

// ExportWith is Export with options. Unless o.Force is set, it first calls
// [CheckExportTarget] and writes nothing when out holds a training checkpoint.
func ExportWith(f *checkpoint.File, name, out string, o ExportOptions) error {
	if f.Header.Kind != KindTraining && f.Header.Kind != KindModel {
		return fmt.Errorf("checkpoint %s: kind %q is not a SwAV model", name, f.Header.Kind)
	}
	if !o.Force {
		if err := CheckExportTarget(f, name, out); err != nil {
			return err
		}
	}
	kept := f.Tensors[:0:0]
	for _, t := range f.Tensors {
		if model.IsNetworkVariable(t.Name) {
			kept = append(kept, t)
		}
	}
	g := *f
	g.Header.Kind = KindModel
	g.Tensors = kept
	return checkpoint.Save(out, &g, checkpoint.EncodeOptions{Float16: o.Float16, Level: 19})
}

// CheckExportTarget reports whether an export of f (loaded from name) may be written to
// out. The error wraps ErrReplacesTraining when out holds a training checkpoint (kind
// [KindTraining]): f itself when out is the file it was loaded from, or any other
// training checkpoint already there. A directory or special file at out is an error
// too. Nil means out does not exist or holds something else (a model, a file that is
// not a checkpoint), which the export may replace.
func CheckExportTarget(f *checkpoint.File, name, out string) error {
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
