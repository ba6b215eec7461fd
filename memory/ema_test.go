package memory

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"

	"github.com/swav-go/swav/internal/panics"
)

// emaContext holds a trainable /backbone/conv/w = [1, 2], a non-trainable
// /backbone/bn/mean = [3], a trainable /projection/w = [[4]] and an unrelated /other/v.
func emaContext(t *testing.T) *context.Context {
	t.Helper()
	ctx := context.New()
	ctx.InAbsPath("/backbone/conv").VariableWithValue("w", []float64{1, 2})
	ctx.InAbsPath("/backbone/bn").VariableWithValue("mean", []float64{3}).SetTrainable(false)
	ctx.InAbsPath("/projection").VariableWithValue("w", [][]float64{{4}})
	ctx.InAbsPath("/other").VariableWithValue("v", []float64{5})
	return ctx
}

func vector(t *testing.T, ctx *context.Context, scope, name string) []float64 {
	t.Helper()
	v := ctx.GetVariableByScopeAndName(scope, name)
	if v == nil {
		t.Fatalf("no variable %s/%s", scope, name)
	}
	value, err := v.Value()
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float64](value)
}

// TestEMAUpdate: the first update copies; with m = 0.9 each step moves a trainable
// twin a tenth of the way to its source (ξ = 0.9·ξ + 0.1·θ), a non-trainable twin is
// left alone, other scopes get no twin, and the twins are not trainable.
func TestEMAUpdate(t *testing.T) {
	ctx := emaContext(t)
	e, err := NewEMA("/key", 0.9, "/backbone", "/projection")
	if err != nil {
		t.Fatal(err)
	}
	exec, err := context.NewExec(newBackend(t), ctx, func(ctx *context.Context, g *graph.Graph) { e.Update(ctx, g) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Exec(); err != nil {
		t.Fatal(err)
	}
	check := func(scope, name string, want []float64) {
		t.Helper()
		got := vector(t, ctx, scope, name)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Errorf("%s/%s = %v, want %v", scope, name, got, want)
				return
			}
		}
	}
	check("/key/backbone/conv", "w", []float64{1, 2}) // the first update copies
	check("/key/projection", "w", []float64{4})
	check("/key/backbone/bn", "mean", []float64{3})
	// Move the sources and step twice: ξ₁ = 0.9·[1,2] + 0.1·[3,4] = [1.2, 2.2],
	// ξ₂ = 0.9·ξ₁ + 0.1·[3,4] = [1.38, 2.38].
	ctx.GetVariableByScopeAndName("/backbone/conv", "w").MustSetValue(tensors.FromValue([]float64{3, 4}))
	ctx.GetVariableByScopeAndName("/backbone/bn", "mean").MustSetValue(tensors.FromValue([]float64{30}))
	ctx.GetVariableByScopeAndName("/projection", "w").MustSetValue(tensors.FromValue([][]float64{{14}}))
	if _, err := exec.Exec(); err != nil {
		t.Fatal(err)
	}
	check("/key/backbone/conv", "w", []float64{1.2, 2.2})
	check("/key/projection", "w", []float64{5})
	if _, err := exec.Exec(); err != nil {
		t.Fatal(err)
	}
	check("/key/backbone/conv", "w", []float64{1.38, 2.38})
	check("/key/projection", "w", []float64{5.9})
	check("/key/backbone/bn", "mean", []float64{3}) // non-trainable: copied once, then its own
	if ctx.GetVariableByScopeAndName("/key/other", "v") != nil {
		t.Error("/other got a twin")
	}
	for v := range ctx.IterVariables() {
		if strings.HasPrefix(v.Scope(), "/key/") && v.Trainable {
			t.Errorf("twin %s is trainable", v.ScopeAndName())
		}
	}
}

// TestEMATwinsAreTheModel: a model function of the source scope, called on the
// prefix scope with Reuse after Update in the same graph, reads the twins (the key
// encoder is the same model function) — here in the trainer's situation, where the
// graph itself creates the source variables, lazily initialised, on its first build.
func TestEMATwinsAreTheModel(t *testing.T) {
	ctx := context.New()
	e, _ := NewEMA("/key", 0.5, "/backbone")
	model := func(ctx *context.Context, g *graph.Graph) *graph.Node {
		return ctx.In("backbone").In("conv").WithInitializer(initializers.RandomUniformFn(ctx, 1, 2)).
			VariableWithShape("w", shapes.Make(dtypes.Float64, 3)).ValueGraph(g)
	}
	exec, err := context.NewExec(newBackend(t), ctx, func(ctx *context.Context, g *graph.Graph) []*graph.Node {
		query := model(ctx, g)
		e.Update(ctx, g)
		return []*graph.Node{query, model(ctx.In("key").Reuse(), g)}
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec()
	if err != nil {
		t.Fatal(err)
	}
	q, k := out[0].Value().([]float64), out[1].Value().([]float64)
	if !slices.Equal(q, k) || q[0] < 1 || q[0] > 2 {
		t.Errorf("first step: query weights %v, key weights %v; want the same initialised values", q, k)
	}
	ctx.GetVariableByScopeAndName("/backbone/conv", "w").MustSetValue(tensors.FromValue([]float64{3, 3, 3}))
	out, err = exec.Exec()
	if err != nil {
		t.Fatal(err)
	}
	k2 := out[1].Value().([]float64)
	for i := range k2 {
		if want := 0.5*k[i] + 1.5; math.Abs(k2[i]-want) > 1e-12 {
			t.Errorf("second step: key weight %d = %g, want 0.5·%g + 0.5·3 = %g", i, k2[i], k[i], want)
		}
	}
}

// TestEMARejects: bad scopes and momenta are refused with the reason.
func TestEMARejects(t *testing.T) {
	for _, tc := range []struct {
		prefix  string
		m       float64
		sources []string
		want    string
	}{
		{"key", 0.9, []string{"/backbone"}, "absolute"},
		{"/", 0.9, []string{"/backbone"}, "absolute"},
		{"/key", 1, []string{"/backbone"}, "momentum"},
		{"/key", 0.9, nil, "no source"},
		{"/key", 0.9, []string{"backbone"}, "absolute"},
		{"/backbone/key", 0.9, []string{"/backbone"}, "overlap"},
		{"/key", 0.9, []string{"/key/backbone"}, "overlap"},
	} {
		if _, err := NewEMA(tc.prefix, tc.m, tc.sources...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewEMA(%q, %g, %v): %v, want %q", tc.prefix, tc.m, tc.sources, err, tc.want)
		}
	}
	e, _ := NewEMA("/key", 0.9, "/nothing")
	err := panics.Catch(func() { e.Update(context.New(), graph.NewGraph(newBackend(t), "empty")) })
	if err == nil || !strings.Contains(err.Error(), "no variables") {
		t.Errorf("Update with no sources: %v", err)
	}
}
