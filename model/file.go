package model

import (
	"strings"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/checkpoint"
)

// Kind is the checkpoint kind of a SwAV network ready for inference (no optimiser state).
const Kind = "swav-model"

// IsNetworkVariable reports whether a checkpoint name belongs to the network (not to the
// optimiser, the queue or the random generator).
func IsNetworkVariable(name string) bool {
	for _, scope := range []string{BackboneScope, ProjectionScope, PrototypesScope} {
		if strings.HasPrefix(name, scope+"/") {
			return true
		}
	}
	return false
}

// File packs the network variables of ctx into a model checkpoint (kind
// Kind): no optimiser state or queue, ready for inference.
func File(ctx *context.Context, cfg Config, pre checkpoint.Preprocess, training *checkpoint.Training) (*checkpoint.File, error) {
	ts, err := ExportVariables(ctx, IsNetworkVariable)
	if err != nil {
		return nil, err
	}
	return &checkpoint.File{
		Header:  checkpoint.Header{Kind: Kind, Model: cfg.MarshalJSONConfig(), Preprocess: &pre, Training: training},
		Tensors: ts,
	}, nil
}
