package torchimport

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"runtime"
	"strings"
	"testing"
)

// The fuzz targets read with small limits, so that every input's allocation can be
// checked against them. Their seed corpora are in testdata/fuzz/<target>: the small
// fixtures and hand-made hostile files, and the inputs of past failures.
var fuzzLimits = limits{tensorBytes: 16 << 20, pickleBytes: 8 << 20}

// allocBound is what one read under fuzzLimits may allocate for an input of n bytes:
// the two budgets (with slack for Go's rounding and slice growth), archive/zip's
// directory listing (a few times the input), the 1 MiB buffer of the legacy reader
// and fixed overheads.
func allocBound(n int) uint64 {
	return 2*uint64(fuzzLimits.tensorBytes+fuzzLimits.pickleBytes) + 16*uint64(n) + 4<<20
}

// allocated returns the bytes f allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// knownDTypes are the element types Tensor.DType documents.
var knownDTypes = map[string]bool{"float32": true, "float16": true, "bfloat16": true, "float64": true,
	"int64": true, "int32": true, "int16": true, "int8": true, "uint8": true, "bool": true}

// checkRead asserts the reader's contract on one result: an error wraps one of the
// sentinels, is no recovered panic and stays short; a state dict is non-empty and each
// tensor has a known type, as many elements as its shape needs, values its type can
// hold, and all together fit the tensor budget.
func checkRead(t *testing.T, sd map[string]Tensor, err error, lim limits) {
	t.Helper()
	if err != nil {
		if sd != nil {
			t.Fatalf("error %v with a state dict", err)
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotCheckpoint) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if strings.Contains(err.Error(), "internal error") {
			t.Fatalf("recovered panic: %v", err)
		}
		if len(err.Error()) > 4096 {
			t.Fatalf("error of %d bytes: %.300s…", len(err.Error()), err)
		}
		return
	}
	if len(sd) == 0 {
		t.Fatal("an empty state dict without an error")
	}
	var total int64
	for name, v := range sd {
		if !knownDTypes[v.DType] {
			t.Fatalf("%q: dtype %q", name, v.DType)
		}
		n := int64(1)
		for _, d := range v.Shape {
			if d < 0 {
				t.Fatalf("%q: shape %v", name, v.Shape)
			}
			n *= int64(d)
		}
		if n != int64(len(v.Data)) {
			t.Fatalf("%q: shape %v with %d values", name, v.Shape, len(v.Data))
		}
		total += 4 * n
		for _, x := range v.Data {
			if !fitsDType(v.DType, x) {
				t.Fatalf("%q: %s value %v", name, v.DType, x)
			}
		}
	}
	if total > lim.tensorBytes {
		t.Fatalf("%d bytes of tensors under a budget of %d", total, lim.tensorBytes)
	}
}

// fitsDType reports whether x is a value of the given element type.
func fitsDType(dtype string, x float32) bool {
	f := float64(x)
	integral := !math.IsNaN(f) && !math.IsInf(f, 0) && f == math.Trunc(f)
	switch dtype {
	case "bool":
		return x == 0 || x == 1
	case "uint8":
		return integral && f >= 0 && f <= 255
	case "int8":
		return integral && f >= -128 && f <= 127
	case "int16":
		return integral && f >= -32768 && f <= 32767
	case "int32", "int64":
		return integral
	}
	return true
}

// FuzzReadZip reads arbitrary bytes as a torch.save zip archive.
func FuzzReadZip(f *testing.F) {
	floats := []byte{0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64}
	f.Add(torchZip(f, map[string][]byte{"a/data.pkl": tensorPickle(4, 1, []int64{2}, []int64{2}), "a/data/0": floats}))
	f.Add(torchZip(f, map[string][]byte{"a/data.pkl": tensorPickle(1, 0, []int64{3, 2}, []int64{0, 0}), "a/data/0": floats[:4],
		"a/byteorder": []byte("little")}))
	f.Add(torchZip(f, map[string][]byte{"a/data.pkl": customPickle("HalfStorage", "_rebuild_tensor_v2", true, 8, 0, []int64{2, 2}, []int64{1, 2}),
		"a/data/0": floats}))
	f.Add(torchZip(f, map[string][]byte{"a/data.pkl": customPickle("LongStorage", "_rebuild_tensor", false, 2, 1, []int64{1}, []int64{1}),
		"a/data/0": floats}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var sd map[string]Tensor
		var err error
		alloc := allocated(func() { sd, err = readZip(bytes.NewReader(data), int64(len(data)), fuzzLimits) })
		checkRead(t, sd, err, fuzzLimits)
		if alloc > allocBound(len(data)) {
			t.Fatalf("allocated %d bytes for %d of input (error %v)", alloc, len(data), err)
		}
	})
}

// FuzzReadLegacy reads arbitrary bytes as a legacy torch.save stream.
func FuzzReadLegacy(f *testing.F) {
	for _, seed := range [][]byte{
		legacyFile(1001, true, 4, 4, nil, 4, bytes.Repeat([]byte{0, 0, 128, 63}, 4)),
		legacyFile(1001, true, 4, 4, []int64{1, 2}, 2, bytes.Repeat([]byte{0, 0, 64, 64}, 4)),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var sd map[string]Tensor
		var err error
		alloc := allocated(func() { sd, err = readLegacy(bytes.NewReader(data), int64(len(data)), fuzzLimits) })
		checkRead(t, sd, err, fuzzLimits)
		if alloc > allocBound(len(data)) {
			t.Fatalf("allocated %d bytes for %d of input (error %v)", alloc, len(data), err)
		}
	})
}

// FuzzPickle decodes arbitrary bytes as a pickle, twice:
//
//   - plainly, checking that a decoded value is well formed (dicts' indexes agree with
//     their keys, containers are non-nil) and that errors are the unpickler's own;
//   - as a state dict's pickle of a zip archive and of a legacy stream, with every
//     storage it declares filled with values that encode their own element index; each
//     decoded tensor element must then be the storage element its offset and strides
//     select, computed here independently of the reader.
func FuzzPickle(f *testing.F) {
	for _, h := range pickleVectors {
		f.Add(mustHex(h))
	}
	f.Add(tensorPickle(4, 1, []int64{2}, []int64{2}))
	f.Add(tensorPickle(1, 0, []int64{3, 2}, []int64{0, 0}))
	f.Add(customPickle("HalfStorage", "_rebuild_tensor_v2", true, 6, 0, []int64{2, 3}, []int64{1, 2}))
	f.Add(customPickle("BoolStorage", "_rebuild_tensor_v2", false, 3, 0, []int64{3}, []int64{1}))
	f.Fuzz(func(t *testing.T, data []byte) {
		const plainBudget = 1 << 20
		u := &unpickler{r: bufioReader(string(data)), mem: newBudget(plainBudget, "fuzz")}
		var v any
		var err error
		alloc := allocated(func() { v, err = u.load() })
		if err != nil {
			if !errors.Is(err, errPickle) && !errors.Is(err, errTruncatedPickle) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error of another kind: %v", err)
			}
		} else {
			checkValue(t, v)
		}
		if alloc > 3*plainBudget+4*uint64(len(data))+1<<20 {
			t.Fatalf("allocated %d bytes under a budget of %d (%d bytes of input, error %v)", alloc, plainBudget, len(data), err)
		}
		for _, legacy := range []bool{false, true} {
			checkStateDictPickle(t, data, legacy)
		}
	})
}

// checkValue walks a decoded value (iteratively: lists may contain themselves) and
// checks its containers.
func checkValue(t *testing.T, v any) {
	seen := map[any]bool{}
	todo := []any{v}
	for steps := 0; len(todo) > 0 && steps < 1<<20; steps++ {
		x := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		switch o := x.(type) {
		case pyTuple:
			todo = append(todo, o...)
		case *pyList:
			if o == nil {
				t.Fatal("nil list")
			}
			if !seen[o] {
				seen[o] = true
				todo = append(todo, o.items...)
			}
		case *pyDict:
			if o == nil {
				t.Fatal("nil dict")
			}
			if seen[o] {
				continue
			}
			seen[o] = true
			if len(o.keys) != len(o.values) {
				t.Fatalf("dict with %d keys and %d values", len(o.keys), len(o.values))
			}
			indexed := 0
			for i, k := range o.keys {
				switch k.(type) {
				case string, int64:
					indexed++
					if j, ok := o.index[k]; !ok || j != i {
						t.Fatalf("dict key %v at %d is indexed at %d (%v)", k, i, j, ok)
					}
				}
			}
			if indexed != len(o.index) {
				t.Fatalf("dict index of %d entries for %d indexable keys", len(o.index), indexed)
			}
			todo = append(todo, o.values...)
			todo = append(todo, o.keys...)
			todo = append(todo, o.state)
		case *pyObject:
			if o == nil || o.class == nil {
				t.Fatal("object without a class")
			}
			if !seen[o] {
				seen[o] = true
				todo = append(todo, o.args, o.state)
			}
		case *pyGlobal:
			if o == nil {
				t.Fatal("nil global")
			}
		case *big.Int:
			if o == nil || o.IsInt64() {
				t.Fatalf("big integer %v fits an int64", o)
			}
		case nil, bool, int64, float64, string, []byte:
		default:
			t.Fatalf("unexpected value of type %T", x)
		}
	}
}

// maxSynthetic is how many storage elements checkStateDictPickle fills at most.
const maxSynthetic = 1 << 16

// checkStateDictPickle decodes data as a state dict's pickle with synthetic storages.
func checkStateDictPickle(t *testing.T, data []byte, legacy bool) {
	st := &storages{roots: make(map[string]*storageRoot)}
	u := &unpickler{r: bufioReader(string(data)), mem: newBudget(fuzzLimits.pickleBytes, "fuzz"), call: rebuild, persistentLoad: st.zipStorage}
	if legacy {
		u.persistentLoad = st.legacyStorage
	}
	obj, err := u.load()
	if err != nil {
		return // checked above
	}
	state, err := selectStateDict(obj)
	if err != nil {
		if !errors.Is(err, ErrNotCheckpoint) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("selectStateDict: %v", err)
		}
		return
	}
	// Fill the storages the tensors use (as the readers do), up to maxSynthetic
	// elements in all.
	var filled int64
	for _, raw := range state {
		root := raw.storage.root
		if root.data != nil {
			continue
		}
		if filled += root.numel; filled > maxSynthetic {
			return
		}
		root.data = make([]byte, root.numel*int64(root.typ.size))
		for j := int64(0); j < root.numel; j++ {
			synthesize(root.typ.dtype, j, root.data[j*int64(root.typ.size):])
		}
	}
	if err := checkTensorBytes(state, fuzzLimits); err != nil {
		if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("checkTensorBytes: %v", err)
		}
		return
	}
	sd, err := buildTensors(state)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("buildTensors: %v", err)
		}
		return
	}
	checkRead(t, sd, nil, fuzzLimits)
	for name, raw := range state {
		got := sd[name]
		if got.DType != raw.storage.root.typ.dtype {
			t.Fatalf("%q: dtype %s, storage %s", name, got.DType, raw.storage.root.typ.dtype)
		}
		idx := make([]int64, len(raw.size))
		for i := range got.Data {
			// Row-major multi-index of element i, and the storage element it selects.
			rest := int64(i)
			for a := len(raw.size) - 1; a >= 0; a-- {
				idx[a] = rest % raw.size[a]
				rest /= raw.size[a]
			}
			e := raw.storage.offset + raw.offset
			for a := range idx {
				e += idx[a] * raw.stride[a]
			}
			if e < raw.storage.offset || e >= raw.storage.offset+raw.storage.numel {
				t.Fatalf("%q element %d reads storage element %d outside its view [%d, %d)", name, i, e,
					raw.storage.offset, raw.storage.offset+raw.storage.numel)
			}
			if want := synthetic(got.DType, e); got.Data[i] != want {
				t.Fatalf("%q element %d (index %v): %v, want storage element %d = %v", name, i, idx, got.Data[i], e, want)
			}
			if i > 4096 { // enough to check the strides of large tensors
				break
			}
		}
	}
}

// synthesize writes storage element j of dtype so that it decodes to synthetic(dtype, j).
func synthesize(dtype string, j int64, b []byte) {
	le := binary.LittleEndian
	switch dtype {
	case "float32":
		le.PutUint32(b, math.Float32bits(float32(j)))
	case "float64":
		le.PutUint64(b, math.Float64bits(float64(j)))
	case "float16": // integers up to 2048 are exact: exponent 15+e, mantissa shifted
		k := uint16(j % 2048)
		if k == 0 {
			le.PutUint16(b, 0)
			return
		}
		e := uint16(0)
		for k>>e > 1 {
			e++
		}
		le.PutUint16(b, (15+e)<<10|(k<<(10-e))&0x3ff)
	case "bfloat16":
		le.PutUint16(b, uint16(math.Float32bits(float32(j%256))>>16))
	case "int64":
		le.PutUint64(b, uint64(j))
	case "int32":
		le.PutUint32(b, uint32(j))
	case "int16":
		le.PutUint16(b, uint16(j))
	case "int8", "uint8":
		b[0] = byte(j)
	case "bool":
		b[0] = byte(j % 3)
	}
}

// synthetic is the value storage element j of dtype holds.
func synthetic(dtype string, j int64) float32 {
	switch dtype {
	case "float16":
		return float32(j % 2048)
	case "bfloat16":
		return float32(j % 256)
	case "int32":
		return float32(int32(j))
	case "int16":
		return float32(int16(j))
	case "int8":
		return float32(int8(j))
	case "uint8":
		return float32(uint8(j))
	case "bool":
		if j%3 != 0 {
			return 1
		}
		return 0
	}
	return float32(j)
}

// TestSynthetic checks the fuzz target's storage encoding against the reader's
// decoders on every type, so that FuzzPickle's comparisons are meaningful.
func TestSynthetic(t *testing.T) {
	for _, name := range []string{"FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage", "LongStorage",
		"IntStorage", "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage"} {
		typ, ok := storageTypeOf(name)
		if !ok {
			t.Fatal(name)
		}
		b := make([]byte, typ.size)
		for _, j := range []int64{0, 1, 2, 3, 5, 127, 128, 255, 256, 1000, 2047, 2048, 4097, 65535} {
			synthesize(typ.dtype, j, b)
			if got, want := typ.decode(b), synthetic(typ.dtype, j); got != want {
				t.Errorf("%s element %d decodes to %v, want %v", name, j, got, want)
			}
		}
	}
	// The expected values are what each type holds, computed another way.
	if synthetic("float16", 2049) != 1 || synthetic("int8", 200) != -56 || synthetic("bool", 4) != 1 || synthetic("int16", 40000) != -25536 {
		t.Error("synthetic values")
	}
}

func mustHex(h string) []byte {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	return b
}
