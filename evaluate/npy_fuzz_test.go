package evaluate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"sort"
	"testing"
)

// FuzzReadNPY reads arbitrary bytes as an embeddings file and its sidecar (the parsers
// behind FromNPY). Its seed corpus is in testdata/fuzz/FuzzReadNPY. Errors must wrap
// ErrNPY and stay short; an accepted file must hold exactly its header's rows × cols
// values after the header, each equal to the element the file stores at its place (in
// C or Fortran order), with one finite value per cell, one path per row and labels
// that name each path's folder among sorted, distinct classes. What a read allocates
// is bounded by a few times its input.
func FuzzReadNPY(f *testing.F) {
	f.Add(npyFile(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", le32(1, 3, 5, 2, 4, 6)), []byte(threePaths))
	f.Add(npyFile(2, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", le64(1, -1)), []byte("x.png"))
	f.Fuzz(func(t *testing.T, npy, sidecar []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		a, err := readNPY(bytes.NewReader(npy), int64(len(npy)))
		var paths []string
		if err == nil {
			paths, err = parsePaths(sidecar, a.rows)
		}
		if err == nil {
			d, lerr := labelled(a, paths)
			if err = lerr; err == nil {
				checkDataset(t, npy, a, paths, d.Features, d.N, d.D, d.Labels, d.Classes)
			}
		}
		runtime.ReadMemStats(&after)
		if err != nil {
			if !errors.Is(err, ErrNPY) {
				t.Fatalf("error without ErrNPY: %v", err)
			}
			if len(err.Error()) > 1024 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*uint64(len(npy))+64*uint64(len(sidecar))+1<<20 {
			t.Fatalf("allocated %d bytes for %d + %d of input", alloc, len(npy), len(sidecar))
		}
	})
}

func checkDataset(t *testing.T, npy []byte, a *npyArray, paths []string, features []float32, n, d int, labels []int, classes []string) {
	t.Helper()
	if n != a.rows || d != a.cols || n < 1 || d < 1 || len(features) != n*d || len(labels) != n || len(paths) != n {
		t.Fatalf("N %d D %d with %d values, %d labels, %d paths (header %d×%d)", n, d, len(features), len(labels), len(paths), a.rows, a.cols)
	}
	esize := 4
	if a.descr == "<f8" {
		esize = 8
	}
	if a.offset < 10 || npy[a.offset-1] != '\n' || int(a.offset)+n*d*esize != len(npy) {
		t.Fatalf("data at %d of a %d-byte file for %d×%d×%d bytes", a.offset, len(npy), n, d, esize)
	}
	for i, v := range features {
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
		if math.Float32bits(v) != math.Float32bits(want) || math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("value (%d, %d) is %v, the file holds %v", r, c, v, want)
		}
	}
	if !sort.StringsAreSorted(classes) {
		t.Fatalf("classes %q not sorted", classes)
	}
	for i := 1; i < len(classes); i++ {
		if classes[i] == classes[i-1] {
			t.Fatalf("class %q twice", classes[i])
		}
	}
	for i, l := range labels {
		if l < 0 || l >= len(classes) || classes[l] != classOf(paths[i]) || paths[i] == "" {
			t.Fatalf("row %d (%q) has label %d of %q", i, paths[i], l, classes)
		}
	}
}
