package neighbors

import (
	"context"
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
