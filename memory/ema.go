package memory

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/internal/panics"
)

// DefaultMomentum is MoCo's momentum m of the key encoder (moco-m 0.999).
const DefaultMomentum = 0.999

// EMA is a momentum encoder: for every variable under some source scopes (say
// /backbone and /projection) a twin under a prefix scope (say /moco_key: the twin of
// /backbone/stage0/conv/weights is /moco_key/backbone/stage0/conv/weights), with the
// update of MoCo's _momentum_update_key_encoder for the trainable ones:
//
//	ξ ← m·ξ + (1−m)·θ
//
// A twin is created, on first use, as a copy of its source's current value (MoCo
// initialises the key encoder as a copy of the query encoder), non-trainable. The
// twins of non-trainable sources (batch-norm moving averages) are copied once and
// then left to the graph that uses the twins: a key encoder run in training mode
// updates its own moving averages from its own batches, as the reference's encoder_k
// does.
//
// Because the twins are ordinary variables named after their sources, the key
// encoder is the same model function called on ctx.In(prefix).Reuse().
type EMA struct {
	prefix   string
	sources  []string
	momentum float64
}

// NewEMA returns the momentum encoder whose twins live under the absolute scope prefix
// (e.g. "/moco_key"), for the variables under the absolute source scopes (e.g.
// "/backbone", "/projection"), with momentum m in [0, 1). It creates nothing: the
// twins appear at the first [EMA.Update] or [EMA.Ensure].
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

// Ensure creates the missing twins (copies of their sources' current values) in the
// context of ctx, all non-trainable, and returns the number of twins. The sources
// must have values (an initialised or loaded model).
func (e *EMA) Ensure(ctx *context.Context) (int, error) {
	n := 0
	err := panics.Catch(func() {
		for _, src := range e.sourceVariables(ctx) {
			e.twin(ctx, src)
			n++
		}
	})
	if err != nil {
		return 0, fmt.Errorf("memory.EMA.Ensure: %w", err)
	}
	return n, nil
}

// Update adds, in graph g, ξ ← m·ξ + (1−m)·θ for every trainable source θ and its
// twin ξ, θ being the source's value in g at the time of the call (before the
// optimiser's update when called in a step's loss graph, as MoCo updates the key
// encoder before computing the keys). It creates missing twins first (as Ensure).
func (e *EMA) Update(ctx *context.Context, g *graph.Graph) {
	for _, src := range e.sourceVariables(ctx) {
		twin := e.twin(ctx, src)
		if !src.Trainable {
			continue
		}
		theta := graph.StopGradient(src.ValueGraph(g))
		xi := twin.ValueGraph(g)
		twin.SetValueGraph(graph.Add(graph.MulScalar(xi, e.momentum), graph.MulScalar(theta, 1-e.momentum)))
	}
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
		panic(fmt.Errorf("memory.EMA: no variables under the source scopes %v", e.sources))
	}
	return out
}

// twin returns the twin of src, creating it as a non-trainable copy when missing.
func (e *EMA) twin(ctx *context.Context, src *context.Variable) *context.Variable {
	scope := e.TwinScope(src.Scope())
	if v := ctx.GetVariableByScopeAndName(scope, src.Name()); v != nil {
		if !v.Shape().Equal(src.Shape()) {
			panic(fmt.Errorf("memory.EMA: twin %s has shape %s, its source %s has %s",
				v.ScopeAndName(), v.Shape(), src.ScopeAndName(), src.Shape()))
		}
		return v.SetTrainable(false)
	}
	value, err := src.Value()
	if err != nil {
		panic(fmt.Errorf("memory.EMA: %s has no value to copy into its twin (initialise the model first): %w", src.ScopeAndName(), err))
	}
	clone, err := value.LocalClone()
	if err != nil {
		panic(fmt.Errorf("memory.EMA: copying %s: %w", src.ScopeAndName(), err))
	}
	return ctx.InAbsPath(scope).Checked(false).VariableWithValue(src.Name(), clone).SetTrainable(false)
}
