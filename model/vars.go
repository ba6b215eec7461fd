package model

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/checkpoint"
)

// VariableName is a context variable's checkpoint name: its scope and name joined by "/",
// without the leading "/" (e.g. "backbone/layer1/0/conv1/kernel").
func VariableName(v *context.Variable) string {
	return strings.TrimPrefix(v.Scope()+"/"+v.Name(), "/")
}

// ExportVariables returns the values of ctx's variables whose checkpoint name satisfies
// keep (all when keep is nil), sorted by name, as checkpoint tensors. Variables without a
// value (not yet initialised) are an error.
func ExportVariables(ctx *context.Context, keep func(name string) bool) ([]checkpoint.Tensor, error) {
	var out []checkpoint.Tensor
	var firstErr error
	ctx.EnumerateVariables(func(v *context.Variable) {
		name := VariableName(v)
		if firstErr != nil || (keep != nil && !keep(name)) {
			return
		}
		value, err := v.Value()
		if err != nil {
			firstErr = fmt.Errorf("variable %s: %w", name, err)
			return
		}
		t, err := toCheckpoint(name, value)
		if err != nil {
			firstErr = err
			return
		}
		out = append(out, t)
	})
	if firstErr != nil {
		return nil, firstErr
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func toCheckpoint(name string, value *tensors.Tensor) (checkpoint.Tensor, error) {
	dims := value.Shape().Dimensions
	switch value.DType() {
	case dtypes.Float32:
		return checkpoint.Float32Tensor(name, dims, tensors.MustCopyFlatData[float32](value)), nil
	case dtypes.Float64:
		return checkpoint.Float64Tensor(name, dims, tensors.MustCopyFlatData[float64](value)), nil
	case dtypes.Int64:
		return checkpoint.Int64Tensor(name, dims, tensors.MustCopyFlatData[int64](value)), nil
	case dtypes.Int32:
		return checkpoint.Int32Tensor(name, dims, tensors.MustCopyFlatData[int32](value)), nil
	case dtypes.Uint64:
		return checkpoint.Uint64Tensor(name, dims, tensors.MustCopyFlatData[uint64](value)), nil
	default:
		return checkpoint.Tensor{}, fmt.Errorf("variable %s: dtype %s cannot be stored in a checkpoint", name, value.DType())
	}
}

// fromCheckpoint converts a stored tensor back to a GoMLX tensor; float16 tensors come
// back as float32.
func fromCheckpoint(t checkpoint.Tensor) (*tensors.Tensor, error) {
	dims := t.Shape
	switch t.DType {
	case checkpoint.Float32, checkpoint.Float16:
		v, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	case checkpoint.Float64:
		n, err := t.NumElements()
		if err != nil {
			return nil, err
		}
		if len(t.Data) != 8*n {
			return nil, fmt.Errorf("tensor %s: %d bytes for %d float64 values", t.Name, len(t.Data), n)
		}
		f := make([]float64, n)
		for i := range f {
			f[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
		}
		return tensors.FromFlatDataAndDimensions(f, dims...), nil
	case checkpoint.Int64:
		v, err := t.Int64s()
		if err != nil {
			return nil, err
		}
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	case checkpoint.Int32:
		v, err := t.Int64s()
		if err != nil {
			return nil, err
		}
		w := make([]int32, len(v))
		for i := range v {
			w[i] = int32(v[i])
		}
		return tensors.FromFlatDataAndDimensions(w, dims...), nil
	case checkpoint.Uint64:
		v, err := t.Uint64s()
		if err != nil {
			return nil, err
		}
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	default:
		return nil, fmt.Errorf("tensor %s: dtype %s cannot be loaded into a variable", t.Name, t.DType)
	}
}

// ImportVariables sets ctx's variables from tensors whose name satisfies keep (all when
// keep is nil), creating the variables that do not exist yet. A variable that exists with
// another shape or dtype is an error naming it.
func ImportVariables(ctx *context.Context, ts []checkpoint.Tensor, keep func(name string) bool) error {
	for _, t := range ts {
		if keep != nil && !keep(t.Name) {
			continue
		}
		value, err := fromCheckpoint(t)
		if err != nil {
			return err
		}
		i := strings.LastIndex(t.Name, "/")
		scope, name := "/"+t.Name[:max(i, 0)], t.Name[i+1:]
		if v := ctx.GetVariableByScopeAndName(scope, name); v != nil {
			if !v.Shape().Equal(value.Shape()) {
				return fmt.Errorf("variable %s: checkpoint has %s, model has %s", t.Name, value.Shape(), v.Shape())
			}
			if err := v.SetValue(value); err != nil {
				return fmt.Errorf("variable %s: %w", t.Name, err)
			}
			continue
		}
		ctx.InAbsPath(scope).VariableWithValue(name, value)
	}
	return nil
}
