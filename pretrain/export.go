package pretrain

import (
	"fmt"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/model"
)

// ExportModel writes the network of the checkpoint at in (a training checkpoint or a
// model) to out, without optimiser state or queue, as float16 when asked: the compact
// file to ship for inference.
func ExportModel(in, out string, float16 bool) error {
	f, err := checkpoint.Load(in)
	if err != nil {
		return err
	}
	return Export(f, in, out, float16)
}

// Export is ExportModel for a checkpoint already loaded (e.g. after
// [RecalibrateBatchNorm]); name identifies it in errors. f is not modified.
func Export(f *checkpoint.File, name, out string, float16 bool) error {
	if f.Header.Kind != KindTraining && f.Header.Kind != KindModel {
		return fmt.Errorf("checkpoint %s: kind %q is not a SwAV model", name, f.Header.Kind)
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
	return checkpoint.Save(out, &g, checkpoint.EncodeOptions{Float16: float16, Level: 19})
}
