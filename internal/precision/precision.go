// Package precision chooses the dtype arithmetic is carried out in.
package precision

import "github.com/gomlx/gomlx/pkg/core/dtypes"

// Compute returns the dtype to compute in for values of dtype: float32 for half
// precision (float16, bfloat16), as apex AMP does for losses and updates; dtype itself
// otherwise.
func Compute(dtype dtypes.DType) dtypes.DType {
	switch dtype {
	case dtypes.Float16, dtypes.BFloat16:
		return dtypes.Float32
	default:
		return dtype
	}
}
