package checkpoint

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestDTypeSize(t *testing.T) {
	tests := []struct {
		d    DType
		want int
	}{
		{"float32", 4}, {"float16", 2}, {"float64", 8}, {"int64", 8},
		{"int32", 4}, {"uint64", 8}, {"uint8", 1}, {"bfloat16", 0}, {"", 0},
	}
	for _, tc := range tests {
		if got := tc.d.Size(); got != tc.want {
			t.Errorf("DType(%q).Size() = %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestConstructorsLayout(t *testing.T) {
	tests := []struct {
		name  string
		got   Tensor
		dtype DType
		shape []int
		data  []byte
	}{
		{"float32", Float32Tensor("a", []int{2}, []float32{1, -2}), Float32, []int{2},
			[]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}},
		{"float64", Float64Tensor("a", []int{1}, []float64{0.5}), Float64, []int{1},
			[]byte{0, 0, 0, 0, 0, 0, 0xe0, 0x3f}},
		{"int64", Int64Tensor("a", nil, []int64{-2}), Int64, nil,
			[]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"int32", Int32Tensor("a", []int{1, 1}, []int32{258}), Int32, []int{1, 1},
			[]byte{2, 1, 0, 0}},
		{"uint64", Uint64Tensor("a", []int{1}, []uint64{1 << 63}), Uint64, []int{1},
			[]byte{0, 0, 0, 0, 0, 0, 0, 0x80}},
		{"uint8", Uint8Tensor("a", []int{3}, []uint8{9, 8, 7}), Uint8, []int{3},
			[]byte{9, 8, 7}},
		{"empty", Float32Tensor("a", []int{3, 0}, nil), Float32, []int{3, 0}, []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got.Name != "a" || tc.got.DType != tc.dtype || !reflect.DeepEqual(tc.got.Shape, tc.shape) {
				t.Errorf("got %q %s %v, want a %s %v", tc.got.Name, tc.got.DType, tc.got.Shape, tc.dtype, tc.shape)
			}
			if string(tc.got.Data) != string(tc.data) {
				t.Errorf("data %x, want %x", tc.got.Data, tc.data)
			}
		})
	}
}

func TestConstructorsCopy(t *testing.T) {
	shape := []int{2}
	vals := []float32{1, 2}
	tn := Float32Tensor("a", shape, vals)
	shape[0], vals[0] = 7, 7
	if tn.Shape[0] != 2 {
		t.Error("shape aliases the argument")
	}
	if got, _ := tn.Float32s(); got[0] != 1 {
		t.Error("data aliases the argument")
	}
}

func TestConstructorsPanic(t *testing.T) {
	tests := []struct {
		name string
		fn   func()
		msg  string
	}{
		{"len mismatch", func() { Float32Tensor("w", []int{2, 3}, make([]float32, 5)) }, "holds 6 elements, got 5"},
		{"scalar mismatch", func() { Int64Tensor("s", nil, nil) }, "holds 1 elements, got 0"},
		{"negative dim", func() { Uint64Tensor("u", []int{-1}, nil) }, "negative dimension"},
		{"overflow", func() { Uint8Tensor("b", []int{math.MaxInt, 3}, nil) }, "overflows"},
		{"float64", func() { Float64Tensor("d", []int{1}, nil) }, "Float64Tensor"},
		{"int32", func() { Int32Tensor("i", []int{1}, nil) }, "Int32Tensor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, ok := r.(string)
				if !ok || !strings.HasPrefix(msg, "checkpoint: ") || !strings.Contains(msg, tc.msg) {
					t.Errorf("panic %v, want a message starting with %q containing %q", r, "checkpoint: ", tc.msg)
				}
			}()
			tc.fn()
		})
	}
}

func TestAccessors(t *testing.T) {
	f16 := Tensor{Name: "h", DType: Float16, Shape: []int{3}, Data: []byte{0x00, 0x3c, 0x00, 0xc0, 0x00, 0x7c}}
	tests := []struct {
		name string
		t    Tensor
		f32  []float32
		i64  []int64
		u64  []uint64
	}{
		{"float32", Float32Tensor("x", []int{2}, []float32{1.5, -0}), []float32{1.5, 0}, nil, nil},
		{"float16", f16, []float32{1, -2, float32(math.Inf(1))}, nil, nil},
		{"float64", Float64Tensor("x", []int{2}, []float64{0.1, 1e300}), []float32{0.1, float32(math.Inf(1))}, nil, nil},
		{"int64", Int64Tensor("x", []int{2}, []int64{math.MinInt64, 5}), nil, []int64{math.MinInt64, 5}, nil},
		{"int32", Int32Tensor("x", []int{2}, []int32{math.MinInt32, 5}), nil, []int64{math.MinInt32, 5}, nil},
		{"uint64", Uint64Tensor("x", []int{1}, []uint64{math.MaxUint64}), nil, nil, []uint64{math.MaxUint64}},
		{"uint8", Uint8Tensor("x", []int{2}, []uint8{0, 255}), nil, []int64{0, 255}, []uint64{0, 255}},
		{"empty", Float32Tensor("x", []int{0}, nil), []float32{}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := tc.t.Float32s()
			check(t, "Float32s", f, err, tc.f32)
			i, err := tc.t.Int64s()
			check(t, "Int64s", i, err, tc.i64)
			u, err := tc.t.Uint64s()
			check(t, "Uint64s", u, err, tc.u64)
		})
	}
}

// check expects values equal to want, or an ErrInvalid error if want is nil.
func check[T any](t *testing.T, what string, got []T, err error, want []T) {
	t.Helper()
	if want == nil {
		if !errors.Is(err, ErrInvalid) || got != nil {
			t.Errorf("%s = %v, %v; want an ErrInvalid error", what, got, err)
		}
		return
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, %v; want %v", what, got, err, want)
	}
}

func TestAccessorsBadData(t *testing.T) {
	tests := []struct {
		name string
		t    Tensor
	}{
		{"short", Tensor{Name: "x", DType: Float32, Shape: []int{2}, Data: make([]byte, 7)}},
		{"long", Tensor{Name: "x", DType: Float32, Shape: []int{2}, Data: make([]byte, 9)}},
		{"negative", Tensor{Name: "x", DType: Float32, Shape: []int{-1}, Data: nil}},
		{"overflow", Tensor{Name: "x", DType: Float32, Shape: []int{math.MaxInt, 2}, Data: nil}},
		{"huge", Tensor{Name: "x", DType: Float64, Shape: []int{math.MaxInt / 4}, Data: make([]byte, 8)}},
		{"unknown dtype", Tensor{Name: "x", DType: "bfloat16", Shape: nil, Data: make([]byte, 2)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.t.Float32s(); !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), `checkpoint: tensor "x": `) {
				t.Errorf("Float32s error %v, want ErrInvalid with prefix", err)
			}
		})
	}
}

func TestFileTensor(t *testing.T) {
	f := goldenFile()
	if tn, ok := f.Tensor("train.step"); !ok || tn.DType != Int64 {
		t.Errorf("Tensor(train.step) = %v, %v", tn, ok)
	}
	if _, ok := f.Tensor("nope"); ok {
		t.Error("Tensor(nope) found")
	}
}
