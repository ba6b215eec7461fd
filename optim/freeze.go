package optim

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Freeze keeps the variables it matches unchanged during the first Iterations
// iterations (iteration index < Iterations), as the reference's
// freeze_prototypes_niters does by setting their gradient to None: neither the
// variable, nor its momentum buffer, nor LARS touch them, and weight decay does
// not apply. From iteration Iterations on they are optimised normally, their
// momentum starting from zero.
//
// Match is evaluated once per variable when the step graph is built; the
// iteration test runs inside the graph (on the global step), so the same compiled
// graph serves frozen and unfrozen iterations.
type Freeze struct {
	// Match selects the variables to freeze.
	Match func(v *context.Variable) bool
	// Iterations is the number of initial iterations during which they are frozen.
	Iterations int64
}

// FreezeByName freezes, during the first iterations, every variable whose
// scope-and-name (e.g. "/swav/prototypes/weights") contains substr, mirroring the
// reference's `"prototypes" in name` test.
func FreezeByName(substr string, iterations int64) Freeze {
	return Freeze{
		Match:      func(v *context.Variable) bool { return strings.Contains(v.ScopeAndName(), substr) },
		Iterations: iterations,
	}
}

// validate reports a rule without a matcher or with a negative count.
func (f Freeze) validate(i int) error {
	if f.Match == nil {
		return fmt.Errorf("Freeze[%d]: Match is nil", i)
	}
	if f.Iterations < 0 {
		return fmt.Errorf("Freeze[%d]: Iterations must be >= 0, got %d", i, f.Iterations)
	}
	return nil
}

// frozenNode returns a boolean scalar node, true when v must not be updated at the
// given iteration (int64 scalar), or nil when no rule matches v.
func frozenNode(rules []Freeze, v *context.Variable, iteration *graph.Node) *graph.Node {
	var frozen *graph.Node
	for _, rule := range rules {
		if rule.Iterations == 0 || !rule.Match(v) {
			continue
		}
		active := graph.LessThan(iteration, graph.Scalar(iteration.Graph(), dtypes.Int64, rule.Iterations))
		if frozen == nil {
			frozen = active
		} else {
			frozen = graph.LogicalOr(frozen, active)
		}
	}
	return frozen
}
