package neighbors

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: any bytes as an index file either load (and then search without error) or
// fail with an error; never a panic or a hang.
func FuzzLoad(f *testing.F) {
	rng := rand.New(rand.NewPCG(51, 52))
	s, err := NewSet(names(20), randomVecs(rng, 20, 4))
	if err != nil {
		f.Fatal(err)
	}
	ix, err := Build(context.Background(), s, IndexOptions{M: 3, EfConstruction: 8, Workers: 1})
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(f.TempDir(), "seed.hnsw")
	if err := ix.Save(path); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:40])
	f.Add([]byte(indexMagic + "\x02\x00\x00\x00{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "x.hnsw")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		back, err := Load(p, s)
		if err != nil {
			return
		}
		for i := range 3 {
			if _, err := back.Search(s.Row(i), 4); err != nil {
				t.Fatalf("loaded index fails to search: %v", err)
			}
		}
	})
}

// FuzzRead: any bytes as an embeddings file (.jsonl, .csv, or .npy with a fixed
// sidecar) either read as unit rows of one dimension or fail with an error.
func FuzzRead(f *testing.F) {
	f.Add(uint8(0), []byte(`{"path":"a","embedding":[1,2]}`+"\n"))
	f.Add(uint8(1), []byte("path,v0,v1\na,1,2\nb,0,3\n"))
	f.Add(uint8(2), append([]byte("\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }"+string(make([]byte, 60))+"\n"), 0, 0, 128, 63))
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "e."+[]string{"jsonl", "csv", "npy"}[kind%3])
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+".paths.txt", []byte("a\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Read(p)
		if err != nil {
			return
		}
		if s.Dim <= 0 || len(s.Vectors) != s.Len()*s.Dim {
			t.Fatalf("%d rows of %d, %d values", s.Len(), s.Dim, len(s.Vectors))
		}
		for i := range s.Len() {
			var ss float64
			for _, v := range s.Row(i) {
				ss += float64(v) * float64(v)
			}
			if math.Abs(ss-1) > 1e-4 {
				t.Fatalf("row %d has squared norm %v", i, ss)
			}
		}
	})
}
