package torchimport

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"
)

// fileTensor is a tensor as a test writes it into a torch.save zip archive: its
// storage class, the storage's raw little-endian bytes and element count, and the view.
type fileTensor struct {
	storage string
	data    []byte
	numel   int64
	offset  int64
	size    []int64
	stride  []int64
}

// contiguous describes values stored with dtype ("float32", "float64", "int64",
// "int32" or "uint8") as a C-contiguous tensor of shape.
func contiguous(dtype string, shape []int, values []float32) fileTensor {
	ft := fileTensor{numel: int64(len(values)), size: make([]int64, len(shape)), stride: make([]int64, len(shape))}
	st := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		ft.size[i], ft.stride[i] = int64(shape[i]), st
		st *= int64(shape[i])
	}
	var b bytes.Buffer
	for _, v := range values {
		switch dtype {
		case "float32":
			binary.Write(&b, binary.LittleEndian, v)
		case "float64":
			binary.Write(&b, binary.LittleEndian, float64(v))
		case "int64":
			binary.Write(&b, binary.LittleEndian, int64(math.Round(float64(v))))
		case "int32":
			binary.Write(&b, binary.LittleEndian, int32(math.Round(float64(v))))
		case "uint8":
			b.WriteByte(byte(v))
		default:
			panic("contiguous: dtype " + dtype)
		}
	}
	ft.storage = map[string]string{"float32": "FloatStorage", "float64": "DoubleStorage", "int64": "LongStorage",
		"int32": "IntStorage", "uint8": "ByteStorage"}[dtype]
	ft.data = b.Bytes()
	return ft
}

// stateDictZip writes tensors as torch.save (PyTorch ≥ 1.6, protocol 2) does: an
// OrderedDict of _rebuild_tensor_v2 calls in archive/data.pkl, storage i in
// archive/data/i. Keys are written in the order given.
func stateDictZip(t *testing.T, keys []string, tensors map[string]fileTensor) []byte {
	t.Helper()
	p := &pk{}
	p.op(0x80, 2).global("collections", "OrderedDict").op(')', 'R', '(')
	records := map[string][]byte{}
	for i, k := range keys {
		ft := tensors[k]
		key := fmt.Sprint(i)
		p.str(k).global("torch._utils", "_rebuild_tensor_v2").op('(')
		p.op('(').str("storage").global("torch", ft.storage).str(key).str("cpu").int(ft.numel).op('t', 'Q')
		p.int(ft.offset).ints(ft.size...).ints(ft.stride...).op(0x89).global("collections", "OrderedDict").op(')', 'R', 't', 'R')
		records["archive/data/"+key] = ft.data
	}
	p.op('u', '.')
	records["archive/data.pkl"] = p.Bytes()
	records["archive/version"] = []byte("3\n")
	return torchZip(t, records)
}

// fileStateDict turns a state dict read from a fixture back into fileTensors, all
// float32 except num_batches_tracked (int64, as PyTorch stores it), with keys sorted.
func fileStateDict(sd map[string]Tensor) ([]string, map[string]fileTensor) {
	out := make(map[string]fileTensor, len(sd))
	for k, v := range sd {
		dtype := "float32"
		if v.DType == "int64" {
			dtype = "int64"
		}
		out[k] = contiguous(dtype, v.Shape, v.Data)
	}
	return sortedKeys(sd), out
}
