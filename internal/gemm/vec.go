package gemm

import "fmt"

// VecOp identifies an elementwise binary operation of VecBinary.
type VecOp int

// Operations of VecBinary. Max and Min propagate NaN (like XLA and Go's
// builtin max/min).
const (
	VecAdd VecOp = iota
	VecSub
	VecMul
	VecDiv
	VecMax
	VecMin
)

// VecBinary computes d[i] = op(x[i], y[i]) for i < len(d) with the AVX2
// kernels and reports true; when this engine has no assembly kernels it
// writes nothing and reports false, and the caller runs its own loop.
func (e *Engine) VecBinary(op VecOp, d, x, y []float32) bool {
	if !e.useAsm {
		return false
	}
	n := len(d)
	if len(x) < n || len(y) < n || op < VecAdd || op > VecMin {
		panic(fmt.Sprintf("gemm.VecBinary: op %d, lengths d=%d x=%d y=%d", op, n, len(x), len(y)))
	}
	nv := n &^ 15
	if nv > 0 {
		asmVecBinary(op, &d[0], &x[0], &y[0], nv)
	}
	for i := nv; i < n; i++ {
		a, b := x[i], y[i]
		switch op {
		case VecAdd:
			d[i] = a + b
		case VecSub:
			d[i] = a - b
		case VecMul:
			d[i] = a * b
		case VecDiv:
			d[i] = a / b
		case VecMax:
			d[i] = max(a, b)
		case VecMin:
			d[i] = min(a, b)
		}
	}
	return true
}

// VecSign computes d[i] = ±1 with the sign of x[i] (x[i] itself for ±0 and
// NaN) with the AVX2 kernel and reports true, or reports false without
// writing when this engine has no assembly kernels.
func (e *Engine) VecSign(d, x []float32) bool {
	if !e.useAsm {
		return false
	}
	n := len(d)
	if len(x) < n {
		panic(fmt.Sprintf("gemm.VecSign: lengths d=%d x=%d", n, len(x)))
	}
	nv := n &^ 7
	if nv > 0 {
		asmVecSign(&d[0], &x[0], nv)
	}
	for i := nv; i < n; i++ {
		switch v := x[i]; {
		case v > 0:
			d[i] = 1
		case v < 0:
			d[i] = -1
		default:
			d[i] = v
		}
	}
	return true
}
