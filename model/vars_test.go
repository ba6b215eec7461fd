package model

import (
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/checkpoint"
)

func TestVariablesRoundTrip(t *testing.T) {
	ctx := context.New()
	ctx.In("backbone").In("conv1").VariableWithValue(KernelVar, tensors.FromFlatDataAndDimensions([]float32{1, -2, 3.5, 4}, 1, 1, 2, 2))
	ctx.In("optimizer").VariableWithValue("step", tensors.FromFlatDataAndDimensions([]int64{42}))
	ctx.In("queue").VariableWithValue("fill", tensors.FromFlatDataAndDimensions([]float64{0.25}))
	ts, err := ExportVariables(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tt := range ts {
		names = append(names, tt.Name)
	}
	if want := []string{"backbone/conv1/kernel", "optimizer/step", "queue/fill"}; !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	only, err := ExportVariables(ctx, func(n string) bool { return strings.HasPrefix(n, "backbone/") })
	if err != nil || len(only) != 1 {
		t.Fatalf("filtered export: %d tensors, %v", len(only), err)
	}

	ctx2 := context.New()
	if err := ImportVariables(ctx2, ts, nil); err != nil {
		t.Fatal(err)
	}
	k := tensors.MustCopyFlatData[float32](ctx2.GetVariableByScopeAndName("/backbone/conv1", KernelVar).MustValue())
	if !slices.Equal(k, []float32{1, -2, 3.5, 4}) {
		t.Errorf("kernel %v", k)
	}
	if s := tensors.MustCopyFlatData[int64](ctx2.GetVariableByScopeAndName("/optimizer", "step").MustValue()); s[0] != 42 {
		t.Errorf("step %v", s)
	}
	if f := tensors.MustCopyFlatData[float64](ctx2.GetVariableByScopeAndName("/queue", "fill").MustValue()); f[0] != 0.25 {
		t.Errorf("fill %v", f)
	}

	bad := []checkpoint.Tensor{checkpoint.Float32Tensor("backbone/conv1/kernel", []int{4}, []float32{1, 2, 3, 4})}
	if err := ImportVariables(ctx2, bad, nil); err == nil || !strings.Contains(err.Error(), "backbone/conv1/kernel") {
		t.Errorf("shape mismatch error = %v, want one naming the variable", err)
	}
}
