package model

import (
	"errors"
	"fmt"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/internal/panics"
)

// Initialize returns a context holding cfg's variables (backbone, projection head and
// prototypes) initialised as the reference does, from seed. It builds the network once
// on a zero image of inputSize×inputSize to create them.
func Initialize(backend backends.Backend, cfg Config, inputSize int, seed int64) (*context.Context, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, err := panics.Call(func() (*context.Context, error) { return initialize(backend, cfg, inputSize, seed) })
	var p *panics.Error
	if errors.As(err, &p) {
		return nil, fmt.Errorf("model: initialise: %v", p.Value)
	}
	return ctx, err
}

// initialize is Initialize after validation, without the panic guard.
func initialize(backend backends.Backend, cfg Config, inputSize int, seed int64) (*context.Context, error) {
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, seed)
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x *Node) *Node {
		y := Backbone(ctx, cfg, x, false)
		if cfg.OutDim > 0 {
			y = Embed(Projection(ctx, cfg, y, false))
		}
		if cfg.Prototypes > 0 {
			y = Scores(ctx, cfg, y)
		}
		return y
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	x := tensors.FromFlatDataAndDimensions(make([]float32, inputSize*inputSize*cfg.InChannels), 1, inputSize, inputSize, cfg.InChannels)
	if _, err := exec.Exec(x); err != nil {
		return nil, err
	}
	return ctx, nil
}
