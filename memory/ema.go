package memory

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// DefaultMomentum is MoCo's momentum m of the key encoder (moco-m 0.999).
const DefaultMomentum = 0.999

// EMAStartedName is the name of the momentum encoder's flag, an int64 scalar in the
// prefix scope (an integer, as checkpoints store no booleans): 0 until the first
// [EMA.Update] has copied the sources, 1 after.
const EMAStartedName = "ema_started"

// EMA is a momentum encoder: for every variable under some source scopes (say
// /backbone and /projection) a twin under a prefix scope (say /moco_key: the twin of
// /backbone/layer1/0/conv1/kernel is /moco_key/backbone/layer1/0/conv1/kernel), with
// the update of MoCo's _momentum_update_key_encoder for the trainable ones:
//
//	ξ ← m·ξ + (1−m)·θ
//
// The first update copies every source into its twin instead (MoCo initialises the
// key encoder as a copy of the query encoder); a flag variable in the prefix
// scope ([EMAStartedName]) records that it happened. The copy is made in the graph,
// so the sources may be variables the same graph creates (lazily initialised). The
// twins of non-trainable sources (batch-norm moving averages) are copied once and then
// left to the graph that uses the twins: a key encoder run in training mode updates
// its own moving averages from its own batches, as the reference's encoder_k does.
//
// Because the twins are ordinary variables named after their sources, the key
// encoder is the same model function called on ctx.In(prefix).Reuse(), after Update
// in the same graph.
type EMA struct {
	prefix   string
	sources  []string
	momentum float64
}

// NewEMA returns the momentum encoder whose twins live under the absolute scope prefix
// (e.g. "/moco_key"), for the variables under the absolute source scopes (e.g.
// "/backbone", "/projection"), with momentum m in [0, 1) ([DefaultMomentum] is MoCo's).
// It creates nothing: the twins appear at the first [EMA.Update].
func NewEMA(prefix string, momentum float64, sources ...string) (*EMA, error) {
	if !strings.HasPrefix(prefix, context.ScopeSeparator) || prefix == context.ScopeSeparator {
		return nil, fmt.Errorf("memory.NewEMA: prefix %q must be an absolute scope other than the root (e.g. \"/moco_key\")", prefix)
	}
	if !(momentum >= 0 && momentum < 1) {
		return nil, fmt.Errorf("memory.NewEMA: momentum m must be in [0, 1), got %g", momentum)
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("memory.NewEMA: no source scopes")
	}
	for _, s := range sources {
		if !strings.HasPrefix(s, context.ScopeSeparator) || s == context.ScopeSeparator {
			return nil, fmt.Errorf("memory.NewEMA: source scope %q must be an absolute scope other than the root (e.g. \"/backbone\")", s)
		}
		if s == prefix || strings.HasPrefix(prefix, s+context.ScopeSeparator) || strings.HasPrefix(s, prefix+context.ScopeSeparator) {
			return nil, fmt.Errorf("memory.NewEMA: source scope %q and prefix %q overlap", s, prefix)
		}
	}
	return &EMA{prefix: prefix, sources: append([]string(nil), sources...), momentum: momentum}, nil
}

// Prefix returns the scope of the twins.
func (e *EMA) Prefix() string { return e.prefix }

// TwinScope returns the scope of the twin of a variable in scope (prefix + scope).
func (e *EMA) TwinScope(scope string) string { return e.prefix + scope }

// Update adds the momentum update to graph g, for the variables under the source
// scopes that exist in ctx's context when it is called (build the query encoder
// first): on the first run of g ever (the flag 0) every twin ξ becomes a copy of
// its source θ; afterwards ξ ← m·ξ + (1−m)·θ for the trainable sources, θ being the
// source's value in g at the time of the call (before the optimiser's update when
// called in a step's loss graph, as MoCo updates the key encoder before computing
// the keys). Missing twins are created, non-trainable; existing ones (a loaded
// checkpoint) must have their sources' shapes.
func (e *EMA) Update(ctx *context.Context, g *graph.Graph) {
	sources := e.sourceVariables(ctx)
	flag := ctx.InAbsPath(e.prefix).Checked(false).VariableWithValue(EMAStartedName, int64(0)).SetTrainable(false)
	started := graph.GreaterThan(flag.ValueGraph(g), graph.Const(g, int64(0)))
	for _, src := range sources {
		twin := e.twin(ctx, src)
		theta := graph.StopGradient(src.ValueGraph(g))
		xi := twin.ValueGraph(g)
		next := xi
		if src.Trainable {
			next = graph.Add(graph.MulScalar(xi, e.momentum), graph.MulScalar(theta, 1-e.momentum))
		}
		twin.SetValueGraph(graph.Where(started, next, theta))
	}
	flag.SetValueGraph(graph.Const(g, int64(1)))
}

// sourceVariables lists the variables under the source scopes, in the context's
// (deterministic) order.
func (e *EMA) sourceVariables(ctx *context.Context) []*context.Variable {
	var out []*context.Variable
	for v := range ctx.IterVariables() {
		for _, s := range e.sources {
			if v.Scope() == s || strings.HasPrefix(v.Scope(), s+context.ScopeSeparator) {
				out = append(out, v)
				break
			}
		}
	}
	if len(out) == 0 {
		panic(fmt.Errorf("memory.EMA.Update: no variables under the source scopes %v (build the encoder first)", e.sources))
	}
	return out
}

// twin returns the twin of src, creating it (zeros, non-trainable) when missing.
func (e *EMA) twin(ctx *context.Context, src *context.Variable) *context.Variable {
	scope := e.TwinScope(src.Scope())
	if v := ctx.GetVariableByScopeAndName(scope, src.Name()); v != nil {
		if !v.Shape().Equal(src.Shape()) {
			panic(fmt.Errorf("memory.EMA.Update: twin %s has shape %s, its source %s has %s",
				v.ScopeAndName(), v.Shape(), src.ScopeAndName(), src.Shape()))
		}
		return v.SetTrainable(false)
	}
	return ctx.InAbsPath(scope).Checked(false).WithInitializer(initializers.Zero).
		VariableWithShape(src.Name(), src.Shape()).SetTrainable(false)
}
