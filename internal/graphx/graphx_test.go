package graphx

import (
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/swav-go/swav/backend/compat"
	"github.com/swav-go/swav/internal/gradcheck"
)

func TestRsqrtGradient(t *testing.T) {
	b, err := compat.New("")
	if err != nil {
		t.Fatal(err)
	}
	r := gradcheck.Random(10, 4)
	f := func(in []*Node) *Node {
		w := Const(in[0].Graph(), tensors.FromFlatDataAndDimensions(r, 4))
		return ReduceAllSum(Mul(Rsqrt(in[0]), w))
	}
	if err := gradcheck.Check(b, f, [][]float64{{0.25, 1, 4, 9.5}}, [][]int{{4}}, gradcheck.Options{}); err != nil {
		t.Fatal(err)
	}
	Register() // idempotent
	if _, ok := VJPRegistration[NodeTypeRsqrt]; !ok {
		t.Fatal("Rsqrt VJP not registered")
	}
}
