package fast

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestTransposeHot: hot transposes (Sinkhorn's 576×3000-like shapes at odd sizes,
// 3-D permutations, size-1 axes, and a transpose read by a fused reduction) equal
// the delegate's bit for bit, at one and two workers.
func TestTransposeHot(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct {
		dims []int
		perm []int
	}{
		{[]int{577, 301}, []int{1, 0}},
		{[]int{61, 3001}, []int{1, 0}},
		{[]int{7, 33, 129}, []int{2, 0, 1}},
		{[]int{7, 33, 129}, []int{1, 0, 2}},
		{[]int{1, 300, 1, 71}, []int{3, 2, 1, 0}},
	} {
		x := randTensor(r, tc.dims...)
		fn := func(in []*Node) []*Node {
			tr := TransposeAllDims(in[0], tc.perm...)
			return []*Node{tr, MulScalar(tr, 2)}
		}
		t.Run(fmt.Sprint(tc.dims, tc.perm), func(t *testing.T) {
			want := runGraph(t, newRef(t), fn, []*tensors.Tensor{x})
			for _, cfg := range []string{"", "workers=2", "purego,workers=1"} {
				got := runGraph(t, newFast(t, cfg), fn, []*tensors.Tensor{x})
				for i := range want {
					for j := range want[i] {
						if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
							t.Fatalf("config %q output %d [%d] = %v, delegate %v", cfg, i, j, got[i][j], want[i][j])
						}
					}
				}
			}
		})
	}
}

// TestTransposePlannedHot: a large float32 transpose is a hot step; a small one,
// a float64 one and any under nohot stay on the delegate.
func TestTransposePlannedHot(t *testing.T) {
	for _, tc := range []struct {
		config  string
		dtype   dtypes.DType
		dims    []int
		wantHot int
	}{
		{"", dtypes.Float32, []int{576, 300}, 1}, {"", dtypes.Float32, []int{20, 30}, 0},
		{"nohot", dtypes.Float32, []int{576, 300}, 0}, {"", dtypes.Float64, []int{576, 300}, 0},
	} {
		b := newFast(t, tc.config)
		builder := b.Builder("plan")
		x, _ := builder.Parameter("x", shapes.Make(tc.dtype, tc.dims...), nil)
		y, err := builder.Transpose(x, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		exec, err := builder.Compile([]backends.Op{y}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if hot := hotSteps(exec); hot != tc.wantHot {
			t.Errorf("config %q %s %v: %d hot steps, want %d", tc.config, tc.dtype, tc.dims, hot, tc.wantHot)
		}
		exec.Finalize()
	}
}
