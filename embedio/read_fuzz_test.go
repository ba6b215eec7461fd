package embedio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"testing"
)

// FuzzRead reads arbitrary bytes as an embeddings file of the format kind%3 picks
// (jsonl, csv, npy), with sidecar as the .npy's paths, through the decoders behind
// Read. Its seed corpus is in testdata/fuzz/FuzzRead (hostile .npy headers and
// sidecars found by earlier fuzzing). Errors must wrap ErrMalformed and stay short. An
// accepted file must hold at least one row of one non-zero dimension, a path per row
// and only finite values; an accepted .npy must hold exactly its header's rows × cols
// values after the header, each equal to the element the file stores at its place (in
// C or Fortran order), and one non-empty path per row. What a read allocates is bounded
// by a few times its input.
func FuzzRead(f *testing.F) {
	f.Add(uint8(0), []byte(`{"path":"a","embedding":[1,2]}`+"\n"), []byte(nil))
	f.Add(uint8(1), []byte("path,v0,v1\na,1,2\nb,0,3\n"), []byte(nil))
	f.Add(uint8(2), append([]byte("\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }"+string(make([]byte, 60))+"\n"), 0, 0, 128, 63), []byte("a\n"))
	f.Fuzz(func(t *testing.T, kind uint8, data, sidecar []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var (
			e   *Embeddings
			a   *npyArray
			err error
		)
		switch kind % 3 {
		case 0:
			e, err = readJSONL(bytes.NewReader(data))
		case 1:
			e, err = readCSV(bytes.NewReader(data))
		default:
			a, err = readNPY(bytes.NewReader(data), int64(len(data)))
			if err == nil {
				var paths []string
				if paths, err = parsePaths(sidecar, a.rows); err == nil {
					e = &Embeddings{Paths: paths, Dim: a.cols, Data: a.data}
				}
			}
		}
		if err == nil {
			err = e.checkFinite()
		}
		runtime.ReadMemStats(&after)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without ErrMalformed: %v", err)
			}
			if len(err.Error()) > 1024 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
		} else {
			checkEmbeddings(t, e)
			if a != nil {
				checkNPY(t, data, a, e)
			}
		}
		bound := 4*uint64(len(data)) + 64*uint64(len(sidecar)) + 1<<20
		if kind%3 != 2 {
			bound = 32*uint64(len(data)) + 1<<20 // text: parsing buffers and slice growth
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > bound {
			t.Fatalf("allocated %d bytes for %d + %d of input", alloc, len(data), len(sidecar))
		}
	})
}

// checkEmbeddings checks what every accepted file must be.
func checkEmbeddings(t *testing.T, e *Embeddings) {
	t.Helper()
	if e.Len() < 1 || e.Dim < 1 || len(e.Data) != e.Len()*e.Dim {
		t.Fatalf("%d rows of %d, %d values", e.Len(), e.Dim, len(e.Data))
	}
	for i, v := range e.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("value %d is %v", i, v)
		}
	}
}

// checkNPY checks an accepted .npy value by value against the file's bytes.
func checkNPY(t *testing.T, npy []byte, a *npyArray, e *Embeddings) {
	t.Helper()
	n, d := e.Len(), e.Dim
	if n != a.rows || d != a.cols {
		t.Fatalf("%d×%d read, header %d×%d", n, d, a.rows, a.cols)
	}
	esize := 4
	if a.descr == "<f8" {
		esize = 8
	}
	if a.offset < 10 || npy[a.offset-1] != '\n' || int(a.offset)+n*d*esize != len(npy) {
		t.Fatalf("data at %d of a %d-byte file for %d×%d×%d bytes", a.offset, len(npy), n, d, esize)
	}
	for i, v := range e.Data {
		r, c := i/d, i%d
		k := r*d + c
		if a.fortran {
			k = c*n + r
		}
		at := npy[int(a.offset)+k*esize:]
		var want float32
		if esize == 4 {
			want = math.Float32frombits(binary.LittleEndian.Uint32(at))
		} else {
			want = float32(math.Float64frombits(binary.LittleEndian.Uint64(at)))
		}
		if math.Float32bits(v) != math.Float32bits(want) {
			t.Fatalf("value (%d, %d) is %v, the file holds %v", r, c, v, want)
		}
	}
	for i, p := range e.Paths {
		if p == "" {
			t.Fatalf("row %d has an empty path", i)
		}
	}
}
