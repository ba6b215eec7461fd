package beamembed

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/embedio"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/infer"
)

func TestMain(m *testing.M) {
	// Prism logs every job's progress at Info; keep warnings and errors.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ptest.MainWithDefault(m, "prism")
}

// tolerance is the largest difference allowed between a vector from the pipeline and
// the vector infer (the code `swav-embed embed` runs) gives for the same file.
const tolerance = 1e-6

// testMaxFileBytes caps image files in the tests, so that one generated file is over it.
const testMaxFileBytes = 64 << 10

// corpus is a folder of good and bad images with what is expected of each bad one.
type corpus struct {
	dir     string
	good    []string          // paths of the images that must be embedded
	bad     map[string]Reason // path → expected reason
	pattern []string          // the input patterns (they overlap)
}

// writePNG encodes img to path.
func writePNG(t *testing.T, path string, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newCorpus writes the repository's sample images (every supported format), nGen
// generated PNGs of random content and sizes, and one hostile file per dead-letter
// reason the local reader can meet, into a temporary folder.
func newCorpus(t *testing.T, nGen int) *corpus {
	t.Helper()
	dir := t.TempDir()
	c := &corpus{dir: dir, bad: map[string]Reason{}}
	for _, sub := range []string{"samples", "gen", "bad"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	samples, err := filepath.Glob("../../testdata/images/*")
	if err != nil || len(samples) < 9 {
		t.Fatalf("repository sample images: %v (%d found)", err, len(samples))
	}
	for _, src := range samples {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, "samples", filepath.Base(src))
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c.good = append(c.good, dst)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var onePNG []byte
	for i := range nGen {
		w, h := 20+rng.IntN(50), 20+rng.IntN(50)
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for p := range img.Pix {
			img.Pix[p] = uint8(rng.IntN(256))
		}
		for p := 3; p < len(img.Pix); p += 4 {
			img.Pix[p] = 255
		}
		path := filepath.Join(dir, "gen", "img"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".png")
		onePNG = writePNG(t, path, img)
		c.good = append(c.good, path)
	}
	bad := func(name string, r Reason, data []byte) string {
		path := filepath.Join(dir, "bad", name)
		if data != nil {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		c.bad[path] = r
		return path
	}
	bad("empty.png", ReasonEmpty, []byte{})
	bad("notes.jpg", ReasonUnknownFormat, []byte("these are not the pixels you are looking for\n"))
	bad("truncated.png", ReasonCorrupt, onePNG[:len(onePNG)/2])
	// A valid PNG header declaring 100000×100000 pixels: refused from the header.
	huge := new(bytes.Buffer)
	gray := image.NewGray(image.Rect(0, 0, 1, 1))
	gray.Set(0, 0, color.Gray{Y: 7})
	if err := png.Encode(huge, gray); err != nil {
		t.Fatal(err)
	}
	hb := huge.Bytes()
	// IHDR's width and height are bytes 16..24 (100000 = 0x186a0), its CRC over the
	// chunk type and data (bytes 12..29) bytes 29..33.
	copy(hb[16:24], []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0})
	binary.BigEndian.PutUint32(hb[29:33], crc32.ChecksumIEEE(hb[12:29]))
	bad("huge.png", ReasonTooLarge, hb)
	// Over testMaxFileBytes: refused from its size before reading.
	big := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, testMaxFileBytes)...)
	bad("big.png", ReasonTooLarge, big)
	fifo := bad("pipe.png", ReasonNotRegular, nil)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	dangling := bad("dangling.png", ReasonNotFound, nil)
	if err := os.Symlink(filepath.Join(dir, "nowhere.png"), dangling); err != nil {
		t.Fatal(err)
	}
	sort.Strings(c.good)
	c.pattern = []string{dir + "/**", dir + "/gen/*.png"}
	return c
}

// expected embeds the good files with infer, as `swav-embed embed` does (the same
// EmbedFiles over the same decode options), and returns their vectors and the CLI's
// error text for each bad file.
func (c *corpus) expected(t *testing.T) (map[string][]float32, map[string]string) {
	t.Helper()
	m, err := swav.LoadDefault(infer.Options{Decode: testDecode()})
	if err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(c.good), slices.Sorted(maps.Keys(c.bad))...)
	res, err := m.EmbedFiles(context.Background(), all)
	if err != nil {
		t.Fatalf("infer.EmbedFiles: %v", err)
	}
	errText := map[string]string{}
	for _, fe := range res.Failed {
		errText[fe.Path] = fe.Err.Error()
	}
	want := map[string][]float32{}
	for i, p := range res.Paths {
		want[p] = res.Vectors[i]
	}
	if len(want) != len(c.good) || len(errText) != len(c.bad) {
		t.Fatalf("infer embedded %d of %d good files and failed %d of %d bad ones", len(want), len(c.good), len(errText), len(c.bad))
	}
	return want, errText
}

func testDecode() imageio.Options { return imageio.Options{MaxFileBytes: testMaxFileBytes} }

// runPipeline runs the pipeline on Prism, in-process, and returns its counters.
func runPipeline(t *testing.T, opts Options) Counters {
	t.Helper()
	counters, err := Run(context.Background(), "prism", opts)
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	return counters
}

// outputs reads every file under dir into a map name → contents.
func outputs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = data
	}
	return out
}

// row returns row i of e.
func row(e *embedio.Embeddings, i int) []float32 { return e.Data[i*e.Dim : (i+1)*e.Dim] }

// maxDiff returns the largest absolute difference between a and b (+Inf if their
// lengths differ).
func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// deadLetter parses a dead-letter file.
func deadLetter(t *testing.T, data []byte) []Failure {
	t.Helper()
	var out []Failure
	for line := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		var f Failure
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("dead letter line %q: %v", line, err)
		}
		out = append(out, f)
	}
	return out
}

// TestPipelineLocal runs the pipeline on Prism over a local corpus and checks every
// output against infer, then reruns it and checks the outputs are unchanged.
func TestPipelineLocal(t *testing.T) {
	c := newCorpus(t, 40)
	want, wantErr := c.expected(t)
	outDir := t.TempDir()
	const shards = 3
	opts := Options{
		Inputs: c.pattern, Prefix: filepath.Join(outDir, "emb"), Shards: shards,
		BatchSize: 8, MaxFileBytes: testMaxFileBytes, Formats: []string{"jsonl", "npy"},
	}
	counters := runPipeline(t, opts)
	first := outputs(t, outDir)

	t.Run("shards", func(t *testing.T) {
		seen := map[string]int{}
		for shard := range shards {
			name := ShardName(opts.Prefix, shard, shards, "jsonl")
			if _, ok := first[filepath.Base(name)]; !ok {
				// 49 paths hashed into 3 shards: none is empty (checked below by the
				// count), so every shard must exist.
				t.Fatalf("shard %s is missing; outputs: %v", name, slices.Sorted(maps.Keys(first)))
			}
			js, err := embedio.Read(name, embedio.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			npy, err := embedio.Read(ShardName(opts.Prefix, shard, shards, "npy"), embedio.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(js.Paths, npy.Paths) {
				t.Errorf("shard %d: jsonl paths %v, npy sidecar %v", shard, js.Paths, npy.Paths)
			}
			if !slices.IsSorted(js.Paths) {
				t.Errorf("shard %d is not sorted by path: %v", shard, js.Paths)
			}
			for i, p := range js.Paths {
				seen[p]++
				if got := ShardOf(p, shards); got != shard {
					t.Errorf("%s is in shard %d, ShardOf says %d", p, shard, got)
				}
				w, ok := want[p]
				if !ok {
					t.Errorf("shard %d holds %s, which is not a good image", shard, p)
					continue
				}
				if d := maxDiff(row(js, i), w); d > tolerance {
					t.Errorf("%s: jsonl vector differs from infer's by %g", p, d)
				}
				if d := maxDiff(row(npy, i), row(js, i)); d != 0 {
					t.Errorf("%s: npy and jsonl vectors differ by %g", p, d)
				}
			}
		}
		for _, p := range c.good {
			if seen[p] != 1 {
				t.Errorf("%s appears %d times in the shards, want once", p, seen[p])
			}
		}
		if len(seen) != len(c.good) {
			t.Errorf("shards hold %d distinct paths, want the %d good images", len(seen), len(c.good))
		}
	})

	t.Run("deadletter", func(t *testing.T) {
		got := deadLetter(t, first[filepath.Base(DeadLetterName(opts.Prefix))])
		if len(got) != len(c.bad) {
			t.Errorf("dead letter has %d records, want %d: %+v", len(got), len(c.bad), got)
		}
		for _, f := range got {
			r, ok := c.bad[f.Path]
			if !ok {
				t.Errorf("dead letter holds %s, which is a good image: %s", f.Path, f.Error)
				continue
			}
			if f.Reason != string(r) {
				t.Errorf("%s: reason %q, want %q (%s)", f.Path, f.Reason, r, f.Error)
			}
			if f.Error != wantErr[f.Path] {
				t.Errorf("%s: error %q, the CLI reports %q", f.Path, f.Error, wantErr[f.Path])
			}
			if !strings.Contains(f.Error, f.Path) {
				t.Errorf("%s: error %q does not name the file", f.Path, f.Error)
			}
		}
	})

	t.Run("counters", func(t *testing.T) {
		wantCount := map[string]int64{"embedded": int64(len(c.good))}
		var size int64
		for _, p := range c.good {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			size += fi.Size()
		}
		wantCount["bytes_read"] = size
		for _, r := range c.bad {
			wantCount[SkippedCounter(r)]++
		}
		// Batching within bundles: at least ⌈49/8⌉ forward passes, and fewer than one
		// per image.
		got := maps.Clone(counters)
		batches := got["batches"]
		delete(got, "batches")
		if lo := (int64(len(c.good)) + 7) / 8; batches < lo || batches >= int64(len(c.good)) {
			t.Errorf("%d forward passes for %d images in batches of 8, want %d to %d", batches, len(c.good), lo, len(c.good)-1)
		}
		if !maps.Equal(map[string]int64(got), wantCount) {
			t.Errorf("counters %v, want %v", counters, wantCount)
		}
	})

	t.Run("rerun", func(t *testing.T) {
		runPipeline(t, opts)
		second := outputs(t, outDir)
		if !slices.Equal(slices.Sorted(maps.Keys(first)), slices.Sorted(maps.Keys(second))) {
			t.Fatalf("rerun wrote %v, the first run %v", slices.Sorted(maps.Keys(second)), slices.Sorted(maps.Keys(first)))
		}
		for name, data := range first {
			if !bytes.Equal(data, second[name]) {
				t.Errorf("%s differs between the runs", name)
			}
		}
	})
}

// TestPipelineRemote reads the model and the images through Beam's filesystem
// registry (memfs, in the test process like Prism's loopback workers) and writes the
// outputs there too.
func TestPipelineRemote(t *testing.T) {
	ctx := context.Background()
	c := newCorpus(t, 6)
	want, wantErr := c.expected(t)
	fsys, err := filesystem.New(ctx, "memfs://")
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, data []byte) {
		w, err := fsys.OpenWrite(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	put("memfs://models/default.swav", swav.DefaultModelBytes())
	remote := map[string]string{} // memfs path → local original
	for _, p := range c.good {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		r := "memfs://photos/" + filepath.Base(filepath.Dir(p)) + "-" + filepath.Base(p)
		put(r, data)
		remote[r] = p
	}
	truncated := filepath.Join(c.dir, "bad", "truncated.png")
	data, err := os.ReadFile(truncated)
	if err != nil {
		t.Fatal(err)
	}
	put("memfs://photos/truncated.png", data)
	put("memfs://photos/big.png", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, testMaxFileBytes)...))

	const shards = 2
	opts := Options{
		Inputs: []string{"memfs://photos/*"}, Model: "memfs://models/default.swav",
		Prefix: "memfs://out/emb", Shards: shards, BatchSize: 4, MaxFileBytes: testMaxFileBytes,
		Formats: []string{"jsonl", "npy"},
	}
	counters := runPipeline(t, opts)

	local := t.TempDir()
	fetch := func(name string) string {
		r, err := fsys.OpenRead(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer r.Close()
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(local, strings.TrimPrefix(name, "memfs://out/"))
		if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	got := map[string][]float32{}
	for shard := range shards {
		for _, format := range []string{"jsonl", "npy"} {
			name := ShardName(opts.Prefix, shard, shards, format)
			path := fetch(name)
			if format == "npy" {
				fetch(embedio.SidecarPath(name))
			}
			e, err := embedio.Read(path, embedio.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range e.Paths {
				if format == "jsonl" {
					if _, dup := got[p]; dup {
						t.Errorf("%s is in two shards", p)
					}
					got[p] = row(e, i)
				} else if d := maxDiff(got[p], row(e, i)); d != 0 {
					t.Errorf("%s: npy and jsonl differ by %g", p, d)
				}
			}
		}
	}
	if len(got) != len(remote) {
		t.Errorf("embedded %d remote files, want %d", len(got), len(remote))
	}
	for r, p := range remote {
		if d := maxDiff(got[r], want[p]); d > tolerance {
			t.Errorf("%s: vector differs from infer's on the local copy by %g", r, d)
		}
	}
	dead := deadLetter(t, readAll(t, fsys, DeadLetterName(opts.Prefix)))
	wantDead := []Failure{
		{Path: "memfs://photos/big.png", Reason: string(ReasonTooLarge)},
		{Path: "memfs://photos/truncated.png", Reason: string(ReasonCorrupt),
			Error: strings.Replace(wantErr[truncated], truncated, "memfs://photos/truncated.png", 1)},
	}
	if len(dead) != len(wantDead) {
		t.Fatalf("dead letter %+v, want %+v", dead, wantDead)
	}
	for i, w := range wantDead {
		if dead[i].Path != w.Path || dead[i].Reason != w.Reason {
			t.Errorf("dead letter record %d: %+v, want path %s reason %s", i, dead[i], w.Path, w.Reason)
		}
	}
	if !strings.Contains(dead[0].Error, "65544 bytes, the limit is 65536") {
		t.Errorf("remote size cap error %q does not give the size and the limit", dead[0].Error)
	}
	if dead[1].Error != wantDead[1].Error {
		t.Errorf("remote corrupt file error %q, the local reader says %q", dead[1].Error, wantDead[1].Error)
	}
	if counters["embedded"] != int64(len(remote)) || counters["batches"] < int64(len(remote)+3)/4 || counters[SkippedCounter(ReasonTooLarge)] != 1 || counters[SkippedCounter(ReasonCorrupt)] != 1 {
		t.Errorf("counters %v", counters)
	}
}

// readAll reads a whole file from a Beam filesystem.
func readAll(t *testing.T, fsys filesystem.Interface, name string) []byte {
	t.Helper()
	r, err := fsys.OpenRead(context.Background(), name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer r.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPipelineNoMatch checks that a pattern matching nothing fails the run, as it
// fails `swav-embed embed`.
func TestPipelineNoMatch(t *testing.T) {
	dir := t.TempDir()
	_, err := Run(context.Background(), "prism", Options{Inputs: []string{dir + "/*.png"}, Prefix: filepath.Join(dir, "out")})
	if err == nil || !strings.Contains(err.Error(), "matches no file") {
		t.Fatalf("run over an empty folder: %v, want a \"matches no file\" error", err)
	}
}
