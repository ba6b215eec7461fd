package checkpoint

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DType names the element type of a stored tensor: "float32", "float16",
// "float64", "int64", "int32", "uint64", "uint8".
type DType string

// The supported element types. All are stored little-endian; Float16 is
// IEEE 754 binary16.
const (
	Float32 DType = "float32"
	Float16 DType = "float16"
	Float64 DType = "float64"
	Int64   DType = "int64"
	Int32   DType = "int32"
	Uint64  DType = "uint64"
	Uint8   DType = "uint8"
)

// Size returns the size in bytes of one element of type d, or 0 if d is not
// a supported DType.
func (d DType) Size() int {
	switch d {
	case Float64, Int64, Uint64:
		return 8
	case Float32, Int32:
		return 4
	case Float16:
		return 2
	case Uint8:
		return 1
	}
	return 0
}

// Tensor is one named array stored in a checkpoint. Data holds the elements
// in row-major order, little-endian, with no padding, so
// len(Data) == DType.Size() × product(Shape). An empty (nil) Shape is a
// scalar holding one element.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// checkShape panics (with a package-prefixed message) if shape has a
// negative dimension or does not describe exactly n elements.
func checkShape(kind, name string, shape []int, n int) {
	count := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("checkpoint: %s(%q): negative dimension in shape %v", kind, name, shape))
		}
		if d != 0 && count > math.MaxInt/d {
			panic(fmt.Sprintf("checkpoint: %s(%q): shape %v overflows int", kind, name, shape))
		}
		count *= d
	}
	if count != n {
		panic(fmt.Sprintf("checkpoint: %s(%q): shape %v holds %d elements, got %d values", kind, name, shape, count, n))
	}
}

// cloneShape copies shape, returning nil for a scalar.
func cloneShape(shape []int) []int {
	if len(shape) == 0 {
		return nil
	}
	return append([]int(nil), shape...)
}

// Float32Tensor returns a float32 tensor holding a copy of values. It panics
// if shape has a negative dimension or len(values) differs from the number
// of elements of shape.
func Float32Tensor(name string, shape []int, values []float32) Tensor {
	checkShape("Float32Tensor", name, shape, len(values))
	data := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DType: Float32, Shape: cloneShape(shape), Data: data}
}

// Float64Tensor returns a float64 tensor holding a copy of values. It panics
// if shape has a negative dimension or len(values) differs from the number
// of elements of shape.
func Float64Tensor(name string, shape []int, values []float64) Tensor {
	checkShape("Float64Tensor", name, shape, len(values))
	data := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(data[8*i:], math.Float64bits(v))
	}
	return Tensor{Name: name, DType: Float64, Shape: cloneShape(shape), Data: data}
}

// Int64Tensor returns an int64 tensor holding a copy of values. It panics if
// shape has a negative dimension or len(values) differs from the number of
// elements of shape.
func Int64Tensor(name string, shape []int, values []int64) Tensor {
	checkShape("Int64Tensor", name, shape, len(values))
	data := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(data[8*i:], uint64(v))
	}
	return Tensor{Name: name, DType: Int64, Shape: cloneShape(shape), Data: data}
}

// Int32Tensor returns an int32 tensor holding a copy of values. It panics if
// shape has a negative dimension or len(values) differs from the number of
// elements of shape.
func Int32Tensor(name string, shape []int, values []int32) Tensor {
	checkShape("Int32Tensor", name, shape, len(values))
	data := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(data[4*i:], uint32(v))
	}
	return Tensor{Name: name, DType: Int32, Shape: cloneShape(shape), Data: data}
}

// Uint64Tensor returns a uint64 tensor holding a copy of values. It panics
// if shape has a negative dimension or len(values) differs from the number
// of elements of shape.
func Uint64Tensor(name string, shape []int, values []uint64) Tensor {
	checkShape("Uint64Tensor", name, shape, len(values))
	data := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(data[8*i:], v)
	}
	return Tensor{Name: name, DType: Uint64, Shape: cloneShape(shape), Data: data}
}

// Uint8Tensor returns a uint8 tensor holding a copy of values. It panics if
// shape has a negative dimension or len(values) differs from the number of
// elements of shape.
func Uint8Tensor(name string, shape []int, values []uint8) Tensor {
	checkShape("Uint8Tensor", name, shape, len(values))
	return Tensor{Name: name, DType: Uint8, Shape: cloneShape(shape), Data: append([]byte{}, values...)}
}

// NumElements returns the number of elements described by t.Shape (1 for a
// scalar). It fails, wrapping ErrInvalid, if a dimension is negative or the
// product overflows.
func (t Tensor) NumElements() (int, error) {
	n := 1
	for _, d := range t.Shape {
		if d < 0 {
			return 0, fmt.Errorf("checkpoint: tensor %q: %w: negative dimension in shape %v", t.Name, ErrInvalid, t.Shape)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("checkpoint: tensor %q: %w: shape %v overflows int", t.Name, ErrInvalid, t.Shape)
		}
		n *= d
	}
	return n, nil
}

// elements checks that t's dtype is one of allowed and that Data has the
// size its shape requires, returning the number of elements.
func (t Tensor) elements(want string, allowed ...DType) (int, error) {
	ok := false
	for _, d := range allowed {
		if t.DType == d {
			ok = true
			break
		}
	}
	if !ok {
		return 0, fmt.Errorf("checkpoint: tensor %q: %w: cannot read %s tensor as %s", t.Name, ErrInvalid, t.DType, want)
	}
	n, err := t.NumElements()
	if err != nil {
		return 0, err
	}
	if n > len(t.Data)/t.DType.Size() || len(t.Data) != n*t.DType.Size() {
		return 0, fmt.Errorf("checkpoint: tensor %q: %w: %d bytes of data for %s shape %v", t.Name, ErrInvalid, len(t.Data), t.DType, t.Shape)
	}
	return n, nil
}

// Float32s decodes the elements of a float32, float16 or float64 tensor as
// float32 (float16 widens exactly; float64 rounds to nearest). Other dtypes,
// or Data whose length disagrees with Shape, yield an error wrapping
// ErrInvalid.
func (t Tensor) Float32s() ([]float32, error) {
	n, err := t.elements("float32", Float32, Float16, Float64)
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	switch t.DType {
	case Float32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
	case Float16:
		for i := range out {
			out[i] = float16ToFloat32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
	case Float64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:])))
		}
	}
	return out, nil
}

// Int64s decodes the elements of an int64, int32 or uint8 tensor as int64
// (all conversions are exact). Other dtypes, or Data whose length disagrees
// with Shape, yield an error wrapping ErrInvalid.
func (t Tensor) Int64s() ([]int64, error) {
	n, err := t.elements("int64", Int64, Int32, Uint8)
	if err != nil {
		return nil, err
	}
	out := make([]int64, n)
	switch t.DType {
	case Int64:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
		}
	case Int32:
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(t.Data[4*i:])))
		}
	case Uint8:
		for i := range out {
			out[i] = int64(t.Data[i])
		}
	}
	return out, nil
}

// Uint64s decodes the elements of a uint64 or uint8 tensor as uint64 (both
// conversions are exact). Other dtypes, or Data whose length disagrees with
// Shape, yield an error wrapping ErrInvalid.
func (t Tensor) Uint64s() ([]uint64, error) {
	n, err := t.elements("uint64", Uint64, Uint8)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, n)
	switch t.DType {
	case Uint64:
		for i := range out {
			out[i] = binary.LittleEndian.Uint64(t.Data[8*i:])
		}
	case Uint8:
		for i := range out {
			out[i] = uint64(t.Data[i])
		}
	}
	return out, nil
}
