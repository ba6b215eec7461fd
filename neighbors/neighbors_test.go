package neighbors

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/swav-go/swav/embedio"
)

// randomVecs returns n Gaussian vectors of dim values (not normalised).
func randomVecs(rng *rand.Rand, n, dim int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, dim)
		for j := range out[i] {
			out[i][j] = float32(rng.NormFloat64())
		}
	}
	return out
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("img/%05d.png", i)
	}
	return out
}

func mustSet(t *testing.T, vecs [][]float32) *Set {
	t.Helper()
	s, err := NewSet(names(len(vecs)), vecs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// naive ranks every raw vector by float64 cosine similarity with a full stable sort.
func naive(query []float32, raw [][]float32) []Result {
	cos := func(a, b []float32) float64 {
		var d, na, nb float64
		for i := range a {
			d += float64(a[i]) * float64(b[i])
			na += float64(a[i]) * float64(a[i])
			nb += float64(b[i]) * float64(b[i])
		}
		return d / math.Sqrt(na*nb)
	}
	type scored struct {
		i int
		s float64
	}
	all := make([]scored, len(raw))
	for i, v := range raw {
		all[i] = scored{i, cos(query, v)}
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].s > all[b].s })
	out := make([]Result, len(all))
	for i, s := range all {
		out[i] = Result{Index: s.i, Similarity: float32(s.s)}
	}
	return out
}

func TestExactMatchesNaiveSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	raw := randomVecs(rng, 400, 13) // odd dimension: the dot product's tail loop
	// Exact duplicates tie; ties rank by lower index.
	for _, i := range []int{7, 100, 250} {
		raw = append(raw, slices.Clone(raw[i]))
	}
	e := NewExact(mustSet(t, raw))
	queries := append(randomVecs(rng, 20, 13), raw[7], raw[250])
	for qi, q := range queries {
		want := naive(q, raw)
		for _, k := range []int{1, 3, 10, 100, len(raw), len(raw) + 5} {
			got, err := e.Search(q, k)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != min(k, len(raw)) {
				t.Fatalf("query %d k=%d: %d results", qi, k, len(got))
			}
			for r := range got {
				if got[r].Index != want[r].Index || math.Abs(float64(got[r].Similarity-want[r].Similarity)) > 1e-5 {
					t.Fatalf("query %d k=%d rank %d: got %+v, naive sort %+v", qi, k, r, got[r], want[r])
				}
			}
		}
	}
	// The duplicate of row 7 (row 400) follows it at the same similarity.
	got, _ := e.Search(raw[7], 2)
	if got[0].Index != 7 || got[1].Index != 400 || got[0].Similarity != got[1].Similarity {
		t.Errorf("query = row 7: %+v, want rows 7 then 400 tied", got)
	}
	if math.Abs(float64(got[0].Similarity)-1) > 1e-6 {
		t.Errorf("self-similarity %v, want 1", got[0].Similarity)
	}
}

func TestExactAbove(t *testing.T) {
	s := mustSet(t, [][]float32{{1, 0}, {1, 0.1}, {0, 1}, {-1, 0}, {1, 0.5}})
	got := NewExact(s).Above(0, 0.85)
	// cos(0°,5.71°)=0.995, cos(0°,26.57°)=0.894; the others are 0 and −1.
	if len(got) != 2 || got[0].Index != 1 || got[1].Index != 4 {
		t.Fatalf("Above(0, 0.85) = %+v, want rows 1 then 4", got)
	}
	if math.Abs(float64(got[1].Similarity)-1/math.Sqrt(1.25)) > 1e-6 {
		t.Errorf("similarity to (1,0.5) %v, want %v", got[1].Similarity, 1/math.Sqrt(1.25))
	}
}

func TestQueryErrors(t *testing.T) {
	e := NewExact(mustSet(t, [][]float32{{1, 0, 0}, {0, 1, 0}}))
	for _, tc := range []struct {
		q    []float32
		want string
	}{
		{[]float32{1, 0}, "query has 2 values, the embeddings 3"},
		{[]float32{0, 0, 0}, "zero vector"},
		{[]float32{float32(math.NaN()), 0, 0}, "NaN"},
	} {
		if _, err := e.Search(tc.q, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Search(%v): %v, want %q", tc.q, err, tc.want)
		}
	}
	if _, err := NewSet([]string{"a", "b"}, [][]float32{{1, 2}, {0, 0}}); err == nil || !strings.Contains(err.Error(), "b) is a zero vector") {
		t.Errorf("zero vector in a set: %v", err)
	}
}

// recall is the mean fraction of the exact top k that approx also returns.
func recall(t *testing.T, exact, approx Searcher, queries [][]float32, k int) float64 {
	t.Helper()
	var hit, total int
	for _, q := range queries {
		want, err := exact.Search(q, k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := approx.Search(q, k)
		if err != nil {
			t.Fatal(err)
		}
		in := map[int]bool{}
		for _, r := range got {
			in[r.Index] = true
		}
		for _, r := range want {
			if in[r.Index] {
				hit++
			}
		}
		total += len(want)
	}
	return float64(hit) / float64(total)
}

func TestIndexRecall(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := mustSet(t, randomVecs(rng, 3000, 16))
	ix, err := Build(context.Background(), s, IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	queries := randomVecs(rng, 200, 16)
	r := recall(t, NewExact(s), ix, queries, 10)
	if r < 0.9 {
		t.Errorf("recall@10 %.3f at ef %d, want ≥ 0.9", r, ix.Ef)
	}
	t.Logf("recall@10 %.3f at ef %d", r, ix.Ef)
	// Re-ranking makes the reported similarities exact.
	hits, err := ix.Search(queries[0], 10)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := unitQuery(queries[0], 16)
	for r, h := range hits {
		if want := dot(q, s.Row(h.Index)); h.Similarity != want {
			t.Errorf("rank %d: similarity %v, exact %v", r, h.Similarity, want)
		}
		if r > 0 && better(h, hits[r-1]) {
			t.Errorf("rank %d ranks before rank %d", r, r-1)
		}
	}
}

func TestIndexSaveLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	raw := randomVecs(rng, 800, 8)
	s := mustSet(t, raw)
	ix, err := Build(context.Background(), s, IndexOptions{M: 8, EfConstruction: 50})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "emb.npy.hnsw")
	if err := ix.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path, s)
	if err != nil {
		t.Fatal(err)
	}
	queries := randomVecs(rng, 50, 8)
	for _, q := range queries {
		a, _ := ix.SearchEf(q, 10, 16)
		b, _ := back.SearchEf(q, 10, 16)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("after reload: %v, before %v", b, a)
		}
	}
	// The same rows in another order, or one changed value, are other embeddings.
	other := append([][]float32{raw[1], raw[0]}, raw[2:]...)
	if _, err := Load(path, mustSet(t, other)); !errors.Is(err, ErrStale) {
		t.Errorf("reordered embeddings: %v, want ErrStale", err)
	}
	if _, err := Load(path, mustSet(t, raw[:799])); !errors.Is(err, ErrStale) {
		t.Errorf("one row fewer: %v, want ErrStale", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Truncation and a flipped byte are caught by the header and the checksum.
	for name, bad := range map[string][]byte{
		"empty":     {},
		"magic":     append([]byte("NOTHNSW!"), data[8:]...),
		"truncated": data[:len(data)-7],
		"flipped":   flip(data, len(data)-20),
	} {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p, s); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want ErrCorrupt naming the file", name, err)
		}
	}
}

func flip(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0x5a
	return out
}

// TestLoadHostileGraph changes bytes of the graph and fixes up its checksum, as a hostile
// file would: every load must fail cleanly or give an index that searches without a
// crash.
func TestLoadHostileGraph(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	s := mustSet(t, randomVecs(rng, 60, 4))
	ix, err := Build(context.Background(), s, IndexOptions{M: 4, EfConstruction: 16})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "x.hnsw")
	if err := ix.Save(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	hl := int(binary.LittleEndian.Uint32(data[8:]))
	var meta indexMeta
	if err := json.Unmarshal(data[12:12+hl], &meta); err != nil {
		t.Fatal(err)
	}
	graph := data[12+hl:]
	rewrite := func(m indexMeta, g []byte) string {
		m.GraphBytes = int64(len(g))
		sum := sha256.Sum256(g)
		m.Graph = hex.EncodeToString(sum[:])
		head, _ := json.Marshal(m)
		out := append([]byte(indexMagic), 0, 0, 0, 0)
		binary.LittleEndian.PutUint32(out[8:], uint32(len(head)))
		out = append(append(out, head...), g...)
		p := filepath.Join(dir, "hostile.hnsw")
		if err := os.WriteFile(p, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := Load(rewrite(meta, graph), s); err != nil {
		t.Fatalf("unaltered rewrite: %v", err)
	}
	rejected, variants := 0, 0
	for i := range graph {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			g := bytes.Clone(graph)
			g[i] ^= mask
			variants++
			back, err := Load(rewrite(meta, g), s)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("byte %d ^ %#x: %v, want ErrCorrupt", i, mask, err)
				}
				rejected++
				continue
			}
			for r := range 8 {
				if _, err := back.Search(s.Row(r), 5); err != nil {
					t.Fatalf("byte %d ^ %#x: accepted index fails to search: %v", i, mask, err)
				}
			}
		}
	}
	for _, cut := range []int{0, 1, 5, len(graph) / 2, len(graph) - 1} {
		if _, err := Load(rewrite(meta, graph[:cut]), s); !errors.Is(err, ErrCorrupt) {
			t.Errorf("graph cut to %d bytes: %v, want ErrCorrupt", cut, err)
		}
	}
	for name, m := range map[string]indexMeta{
		"entry out of range": func() indexMeta { m := meta; m.Entry = 60; return m }(),
		"negative entry":     func() indexMeta { m := meta; m.Entry = -1; return m }(),
		"M too small":        func() indexMeta { m := meta; m.M = 1; return m }(),
		"other format":       func() indexMeta { m := meta; m.Format = "swav-hnsw/9"; return m }(),
	} {
		if _, err := Load(rewrite(m, graph), s); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	// Level or link bytes changed to out-of-range values must mostly be refused.
	if rejected < variants/4 {
		t.Errorf("only %d of %d altered graphs refused", rejected, variants)
	}
	t.Logf("%d of %d altered graphs refused, the rest searched without error", rejected, variants)
}

func TestReadFormats(t *testing.T) {
	dir := t.TempDir()
	raw := [][]float32{{3, 4, 0}, {0, 0, -2}, {1, 1, 1}}
	paths := []string{"a/x.png", "b/y, \"q\".jpg", "c/z.webp"}
	for _, ext := range []string{"npy", "jsonl", "csv"} {
		p := filepath.Join(dir, "emb."+ext)
		w, err := embedio.Create(p, embedio.Format(ext), 3)
		if err != nil {
			t.Fatal(err)
		}
		for i := range raw {
			if err := w.Write(paths[i], raw[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := Read(p)
		if err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		want := []float32{0.6, 0.8, 0, 0, 0, -1, 1 / float32(math.Sqrt(3)), 1 / float32(math.Sqrt(3)), 1 / float32(math.Sqrt(3))}
		if s.Dim != 3 || fmt.Sprint(s.Paths) != fmt.Sprint(paths) {
			t.Errorf("%s: dim %d paths %q", ext, s.Dim, s.Paths)
		}
		for i := range want {
			if math.Abs(float64(s.Vectors[i]-want[i])) > 1e-7 {
				t.Errorf("%s: value %d = %v, want %v (unit rows)", ext, i, s.Vectors[i], want[i])
			}
		}
		if s.Find("c/z.webp") != 2 || s.Find("nope") != -1 {
			t.Errorf("%s: Find", ext)
		}
	}
}

// npyFile writes a .npy with the given header dict and data bytes.
func npyFile(t *testing.T, path, dict string, data []byte) {
	t.Helper()
	h := dict
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	b = append(append(b, h...), data...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	f64 := make([]byte, 0, 32)
	for _, v := range []float64{1, 0, 0, 2} {
		f64 = binary.LittleEndian.AppendUint64(f64, math.Float64bits(v))
	}
	ok := filepath.Join(dir, "f64.npy")
	npyFile(t, ok, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", f64)
	os.WriteFile(ok+".paths.txt", []byte("p\nq\n"), 0o644)
	if s, err := Read(ok); err != nil || s.Len() != 2 || s.Row(1)[1] != 1 {
		t.Errorf("float64 .npy: %v %+v", err, s)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	short := filepath.Join(dir, "short.npy")
	npyFile(t, short, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 128), }", make([]byte, 64))
	write("short.npy.paths.txt", "a\n")
	// Fortran order is read, transposed back to rows.
	fortran := filepath.Join(dir, "fortran.npy")
	var f32 []byte
	for _, v := range []float32{3, 0, 4, 2} { // (2, 2) column-major: rows (3, 4) and (0, 2)
		f32 = binary.LittleEndian.AppendUint32(f32, math.Float32bits(v))
	}
	npyFile(t, fortran, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f32)
	write("fortran.npy.paths.txt", "p\nq\n")
	if s, err := Read(fortran); err != nil || s.Len() != 2 || fmt.Sprint(s.Vectors) != fmt.Sprint([]float32{0.6, 0.8, 0, 1}) {
		t.Errorf("Fortran-order .npy: %v %+v, want rows (0.6, 0.8) and (0, 1)", err, s)
	}
	ints := filepath.Join(dir, "ints.npy")
	npyFile(t, ints, "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }", make([]byte, 8))
	three := filepath.Join(dir, "three.npy")
	npyFile(t, three, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }", make([]byte, 8))
	nosidecar := filepath.Join(dir, "nosidecar.npy")
	npyFile(t, nosidecar, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }", []byte{0, 0, 128, 63})
	count := filepath.Join(dir, "count.npy")
	npyFile(t, count, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }", []byte{0, 0, 128, 63})
	write("count.npy.paths.txt", "a\nb\n")
	for _, tc := range []struct{ path, want string }{
		{short, "needs 512000000 bytes"},
		{ints, "<i4"},
		{three, "shape [1 1 2]"},
		{nosidecar, "nosidecar.npy.paths.txt"},
		{count, "lists 2 paths"},
		{write("x.npy", "not numpy"), "not a NumPy"},
		{write("dims.jsonl", `{"path":"a","embedding":[1,2]}`+"\n"+`{"path":"b","embedding":[1]}`+"\n"), "line 2: embedding of b has 1 values, earlier rows 2"},
		{write("nopath.jsonl", `{"embedding":[1,2]}`+"\n"), "line 1: want an object"},
		{write("zero.jsonl", `{"path":"z","embedding":[0,0]}`+"\n"), "row 0 (z) is a zero vector"},
		{write("empty.jsonl", ""), "no vectors"},
		{write("head.csv", "file,a,b\nx,1,2\n"), "want path,v0"},
		{write("val.csv", "path,v0,v1\nx,1,zz\n"), "line 2, column 3"},
		{write("emb.txt", ""), "emb.txt"},
		{filepath.Join(dir, "missing.csv"), "missing.csv"},
		{dir + "/", "cannot infer"},
	} {
		_, err := Read(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Base(strings.TrimSuffix(tc.path, "/"))) {
			t.Errorf("Read(%s): %v, want an error naming the file and %q", filepath.Base(tc.path), err, tc.want)
		}
	}
}

// TestConcurrentSearch: searches from many goroutines (run with -race) give the serial
// answers.
func TestConcurrentSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	s := mustSet(t, randomVecs(rng, 500, 8))
	ix, err := Build(context.Background(), s, IndexOptions{M: 8, EfConstruction: 40, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	queries := randomVecs(rng, 40, 8)
	for _, sr := range []Searcher{ix, NewExact(s)} {
		want := make([]string, len(queries))
		for i, q := range queries {
			r, _ := sr.Search(q, 5)
			want[i] = fmt.Sprint(r)
		}
		errs := make(chan string, 4*len(queries))
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i, q := range queries {
					if r, _ := sr.Search(q, 5); fmt.Sprint(r) != want[i] {
						errs <- fmt.Sprintf("query %d: %v, serially %s", i, r, want[i])
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
}
