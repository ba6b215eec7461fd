// Command search measures nearest-neighbour search at 10⁵ vectors: recall@k of the HNSW
// index against exact search, and queries per second of both, on random unit vectors and
// on real embeddings (Fashion-MNIST through the embedded default model, 69k images plus
// noise-jittered copies; 1000 held-out test images are the queries).
//
//	go run ./bench/search                         # both data sets, table on stdout
//	go run ./bench/search -write BENCHMARKS.md    # also the "search" section there
//
// Queries run one at a time on one goroutine locked to its thread, and are timed both by
// the wall clock and by that thread's CPU time (getrusage RUSAGE_THREAD): on a machine
// shared with other work the CPU-time rate is the one that carries over. The build uses
// every core (GOMAXPROCS workers); its wall and process CPU times are both reported.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/embedio"
	"github.com/swav-go/swav/infer"
	"github.com/swav-go/swav/internal/mdsection"
	"github.com/swav-go/swav/neighbors"
)

func main() {
	n := flag.Int("n", 100_000, "vectors in the searched set")
	dim := flag.Int("dim", 128, "dimension of the random vectors")
	nq := flag.Int("queries", 1000, "queries")
	k := flag.Int("k", 10, "neighbours per query")
	efs := flag.String("ef", "16,32,64,128,256", "search breadths to time")
	m := flag.Int("m", neighbors.DefaultM, "HNSW links per node")
	efc := flag.Int("ef-construction", neighbors.DefaultEfConstruction, "HNSW build breadth")
	data := flag.String("data", "random,fashion", "data sets: random, fashion")
	fashionDir := flag.String("fashion-dir", dataset.DefaultFashionMNISTDir, "Fashion-MNIST IDX files")
	cache := flag.String("cache", filepath.Join(os.TempDir(), "swav-bench-fashion-default.npy"), "where the Fashion-MNIST embeddings are kept between runs")
	write := flag.String("write", "", "also write the table into this markdown file, between <!-- search --> markers")
	flag.Parse()
	var efList []int
	for _, f := range strings.Split(*efs, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			fail(fmt.Errorf("-ef %q: want positive integers", *efs))
		}
		efList = append(efList, v)
	}
	ctx := context.Background()
	var b strings.Builder
	fmt.Fprintf(&b, "`go run ./bench/search` (%s, GOMAXPROCS %d, %s/%s): %d queries, k=%d, one at a time on one goroutine; HNSW M=%d, ef_construction=%d.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, *nq, *k, *m, *efc)
	b.WriteString("| data | vectors | search | ef | recall@10 | queries/s (wall) | queries per CPU-second | build wall / CPU |\n|---|---|---|---|---|---|---|---|\n")
	for _, d := range strings.Split(*data, ",") {
		var set *neighbors.Set
		var queries [][]float32
		var err error
		switch strings.TrimSpace(d) {
		case "random":
			set, queries, err = randomData(*n, *dim, *nq)
		case "fashion":
			set, queries, err = fashionData(ctx, *fashionDir, *cache, *n, *nq)
		default:
			err = fmt.Errorf("-data %q: want random or fashion", d)
		}
		if err != nil {
			fail(err)
		}
		name := fmt.Sprintf("%s %d-d", strings.TrimSpace(d), set.Dim)
		if err := measure(ctx, &b, name, set, queries, *k, *m, *efc, efList); err != nil {
			fail(err)
		}
	}
	fmt.Print(b.String())
	if *write != "" {
		if err := mdsection.Replace(*write, "search", b.String()); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "search:", err)
	os.Exit(1)
}

// measure times exact search and the index at each ef, and appends table rows.
func measure(ctx context.Context, b *strings.Builder, name string, set *neighbors.Set, queries [][]float32, k, m, efc int, efs []int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	exact := neighbors.NewExact(set)
	truth := make([][]neighbors.Result, len(queries))
	start, cpu0 := time.Now(), cpuTime(rusageThread)
	for i, q := range queries {
		r, err := exact.Search(q, k)
		if err != nil {
			return err
		}
		truth[i] = r
	}
	qps := float64(len(queries)) / time.Since(start).Seconds()
	cqps := float64(len(queries)) / (cpuTime(rusageThread) - cpu0).Seconds()
	fmt.Fprintf(b, "| %s | %d | exact | – | 1 | %.0f | %.0f | – |\n", name, set.Len(), qps, cqps)
	log("%s: exact %.0f queries/s (%.0f per CPU-second); building the index…", name, qps, cqps)
	start, cpu0 = time.Now(), cpuTime(rusageSelf)
	ix, err := neighbors.Build(ctx, set, neighbors.IndexOptions{M: m, EfConstruction: efc,
		Progress: func(done, total int) {
			if done%10000 == 0 {
				log("  %d/%d inserted (%s)", done, total, time.Since(start).Round(time.Second))
			}
		}})
	if err != nil {
		return err
	}
	build, buildCPU := time.Since(start), cpuTime(rusageSelf)-cpu0
	for _, ef := range efs {
		hits := 0
		start, cpu0 := time.Now(), cpuTime(rusageThread)
		results := make([][]neighbors.Result, len(queries))
		for i, q := range queries {
			if results[i], err = ix.SearchEf(q, k, ef); err != nil {
				return err
			}
		}
		qps := float64(len(queries)) / time.Since(start).Seconds()
		cqps := float64(len(queries)) / (cpuTime(rusageThread) - cpu0).Seconds()
		for i := range queries {
			in := map[int]bool{}
			for _, r := range results[i] {
				in[r.Index] = true
			}
			for _, r := range truth[i] {
				if in[r.Index] {
					hits++
				}
			}
		}
		rec := float64(hits) / float64(len(queries)*k)
		fmt.Fprintf(b, "| %s | %d | HNSW | %d | %.3f | %.0f | %.0f | %.0f s / %.0f s |\n", name, set.Len(), ef, rec, qps, cqps, build.Seconds(), buildCPU.Seconds())
		log("%s: ef %d recall@%d %.3f, %.0f queries/s (%.0f per CPU-second)", name, ef, k, rec, qps, cqps)
	}
	return nil
}

// The getrusage targets: this process, or the calling thread (Linux).
const (
	rusageSelf   = 0
	rusageThread = 1
)

// cpuTime returns the user+system CPU time of the process or of the calling thread.
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		fail(fmt.Errorf("getrusage: %w", err))
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func log(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// randomData returns n random unit vectors and nq more as queries.
func randomData(n, dim, nq int) (*neighbors.Set, [][]float32, error) {
	rng := rand.New(rand.NewPCG(11, 12))
	gauss := func() []float32 {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		return v
	}
	vecs := make([][]float32, n)
	paths := make([]string, n)
	for i := range vecs {
		vecs[i], paths[i] = gauss(), "random#"+strconv.Itoa(i)
	}
	queries := make([][]float32, nq)
	for i := range queries {
		queries[i] = gauss()
	}
	set, err := neighbors.NewSet(paths, vecs)
	return set, queries, err
}

// fashionData embeds the 70k Fashion-MNIST images with the default model (cached in
// cache), keeps the last nq test images as queries, and fills the set to n with the
// other images and copies of them jittered by Gaussian noise (σ = 0.3/√D per value, a
// cosine of about 0.96 to the original).
func fashionData(ctx context.Context, dir, cache string, n, nq int) (*neighbors.Set, [][]float32, error) {
	all, err := neighbors.Read(cache)
	if err != nil {
		log("embedding Fashion-MNIST with the default model into %s (%v)", cache, err)
		if err := embedFashion(ctx, dir, cache); err != nil {
			return nil, nil, err
		}
		if all, err = neighbors.Read(cache); err != nil {
			return nil, nil, err
		}
	}
	if all.Len() <= nq {
		return nil, nil, fmt.Errorf("%s: %d embeddings, need more than %d queries", cache, all.Len(), nq)
	}
	real := all.Len() - nq
	queries := make([][]float32, nq)
	for i := range queries {
		queries[i] = all.Row(real + i)
	}
	rng := rand.New(rand.NewPCG(13, 14))
	sigma := 0.3 / math.Sqrt(float64(all.Dim))
	vecs := make([][]float32, n)
	paths := make([]string, n)
	for i := range vecs {
		src := i % real
		paths[i] = all.Paths[src]
		v := append([]float32(nil), all.Row(src)...)
		if i >= real {
			for j := range v {
				v[j] += float32(sigma * rng.NormFloat64())
			}
			paths[i] += "~" + strconv.Itoa(i/real)
		}
		vecs[i] = v
	}
	set, err := neighbors.NewSet(paths, vecs)
	return set, queries, err
}

// embedFashion writes the default model's embeddings of the 60k training and 10k test
// images, in that order, to path.
func embedFashion(ctx context.Context, dir, path string) error {
	m, err := swav.LoadDefault(infer.Options{})
	if err != nil {
		return err
	}
	w, err := embedio.Create(path, embedio.FormatNPY, m.Dim())
	if err != nil {
		return err
	}
	defer w.Abort()
	start := time.Now()
	for _, train := range []bool{true, false} {
		src, err := dataset.FashionMNIST(dir, train)
		if err != nil {
			return err
		}
		err = m.EachImage(ctx, src, func(i int, vec []float32, err error) error {
			if err != nil {
				return err
			}
			if i%10000 == 0 {
				log("  %s: %d/%d (%s)", src.Name(i), i, src.Len(), time.Since(start).Round(time.Second))
			}
			return w.Write(src.Name(i), vec)
		})
		if err != nil {
			return err
		}
	}
	return w.Close()
}
