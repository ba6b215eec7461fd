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
	"os"
	"path/filepath"
	"runtime"

	"github.com/swav-go/swav/internal/userfile"
)

// ExactThreshold is the size below which exact search is used and no index is needed:
// under 10⁴ vectors brute force answers a query in about a millisecond (128-d), faster
// than an index takes to load.
const ExactThreshold = 10_000

// The defaults of IndexOptions.
const (
	DefaultM              = 16
	DefaultEfConstruction = 200
	DefaultEf             = 64
)

// IndexOptions configure Build; zero fields take the defaults.
type IndexOptions struct {
	// M is the most neighbours a node keeps per layer (default 16).
	M int
	// EfConstruction is the candidate list size while inserting (default 200).
	EfConstruction int
	// Seed drives the layer assignment (default 1); with Workers 1 a build is
	// reproducible.
	Seed int64
	// Workers insert rows concurrently (default GOMAXPROCS).
	Workers int
	// Progress, when set, is called every few thousand insertions with the count so far.
	Progress func(done, total int)
}

// Index is an HNSW graph over a Set, by cosine similarity (see layered.go for why it is
// this package's own and not github.com/coder/hnsw's). Similarities it reports are exact
// dot products; only the recall is approximate. Search is safe for concurrent use.
type Index struct {
	set  *Set
	g    *layered
	meta indexMeta
	// Ef is the default search breadth (default 64): candidates gathered per query before
	// the top k are kept. Larger is slower and closer to exact. Set it before sharing the
	// Index between goroutines.
	Ef int
}

// indexMeta is the JSON header of an index file.
type indexMeta struct {
	Format         string `json:"format"`
	N              int    `json:"n"`
	Dim            int    `json:"dim"`
	M              int    `json:"m"`
	EfConstruction int    `json:"ef_construction"`
	Seed           int64  `json:"seed"`
	// Embeddings is the SHA-256 of the set's paths and unit vectors (see fingerprint).
	Embeddings string `json:"embeddings_sha256"`
	// Entry is the node every search starts from.
	Entry int32 `json:"entry"`
	// GraphBytes and Graph describe the links that follow the header.
	GraphBytes int64  `json:"graph_bytes"`
	Graph      string `json:"graph_sha256"`
}

// indexMagic starts every index file; the uint32 length of the JSON header follows.
const indexMagic = "SWAVHNSW"

// indexFormat names version 1 of the file layout in the header.
const indexFormat = "swav-hnsw/1"

// Build inserts every row of s into a new HNSW graph, on opts.Workers goroutines. It
// stops with ctx.Err() when ctx is cancelled (checked before every insertion).
func Build(ctx context.Context, s *Set, opts IndexOptions) (*Index, error) {
	if opts.M <= 0 {
		opts.M = DefaultM
	}
	opts.M = max(opts.M, 2)
	if opts.EfConstruction <= 0 {
		opts.EfConstruction = DefaultEfConstruction
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if s.Len() == 0 {
		return nil, errEmpty
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	g, err := buildLayered(ctx, s, opts.M, opts.EfConstruction, opts.Workers, opts.Seed, opts.Progress)
	if err != nil {
		return nil, err
	}
	return &Index{set: s, g: g, Ef: DefaultEf, meta: indexMeta{Format: indexFormat, N: s.Len(), Dim: s.Dim,
		M: opts.M, EfConstruction: opts.EfConstruction, Seed: opts.Seed}}, nil
}

// Set implements Searcher.
func (ix *Index) Set() *Set { return ix.set }

// Search implements Searcher with breadth ix.Ef.
func (ix *Index) Search(query []float32, k int) ([]Result, error) {
	return ix.SearchEf(query, k, ix.Ef)
}

// SearchEf is Search with breadth ef (at least k is used).
func (ix *Index) SearchEf(query []float32, k, ef int) ([]Result, error) {
	q, err := unitQuery(query, ix.set.Dim)
	if err != nil {
		return nil, err
	}
	return ix.searchUnit(q, k, ef, -1), nil
}

// searchUnit searches for a unit query, leaving out row skip (−1 for none).
func (ix *Index) searchUnit(q []float32, k, ef, skip int) []Result {
	k = min(k, ix.set.Len())
	if k <= 0 {
		return nil
	}
	res := ix.g.search(ix.set, q, max(k, ef)+1)
	out := res[:0]
	for _, r := range res {
		if r.Index != skip {
			out = append(out, r)
		}
	}
	return out[:min(k, len(out))]
}

// fingerprint is the SHA-256 of a set's dimension, paths and unit vectors.
func fingerprint(s *Set) string {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(s.Dim))
	h.Write(b[:])
	for _, p := range s.Paths {
		binary.LittleEndian.PutUint64(b[:], uint64(len(p)))
		h.Write(b[:])
		h.Write([]byte(p))
	}
	buf := make([]byte, 0, 4096)
	for _, v := range s.Vectors {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		if len(buf) == cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

// DefaultIndexPath is where `swav-embed index` writes the index of an embeddings file:
// beside it, EMB + ".hnsw" (like embedio's EMB.paths.txt sidecar).
func DefaultIndexPath(embeddings string) string { return embeddings + ".hnsw" }

// Save writes the index to path atomically (a temporary file in the same directory,
// renamed on success). The file holds "SWAVHNSW", a JSON header (sizes, build options,
// the SHA-256 of the embeddings it was built from and of the graph) and the graph's links
// as varints. The vectors are not repeated: they come from the embeddings file.
func (ix *Index) Save(path string) (err error) {
	graph := bytes.NewBuffer(ix.g.encode(nil))
	meta := ix.meta
	meta.Entry = ix.g.entry
	meta.Embeddings = fingerprint(ix.set)
	meta.GraphBytes = int64(graph.Len())
	sum := sha256.Sum256(graph.Bytes())
	meta.Graph = hex.EncodeToString(sum[:])
	head, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("neighbors: index header for %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("neighbors: save index: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	out := append([]byte(indexMagic), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[len(indexMagic):], uint32(len(head)))
	out = append(out, head...)
	for _, chunk := range [][]byte{out, graph.Bytes()} {
		if _, err := f.Write(chunk); err != nil {
			return fmt.Errorf("neighbors: save index %s: %w", path, err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("neighbors: save index %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("neighbors: save index %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("neighbors: save index %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("neighbors: save index %s: %w", path, err)
	}
	return nil
}

// ErrStale is wrapped by Load when an index was built from other embeddings than the
// set it is loaded for (the file was re-embedded or edited since): rebuild it.
var ErrStale = errors.New("index was built from different embeddings")

// ErrCorrupt is wrapped by Load for a file that is not a valid index.
var ErrCorrupt = errors.New("not a valid index file")

// Load reads an index saved by Save for the set s (read from the same embeddings file).
// The file is checked before it is used: its header, the graph's SHA-256 and every link
// (counts within M, targets that exist in their layer), so a damaged or hostile file is
// an error wrapping ErrCorrupt, never a crash; a valid index of other embeddings wraps
// ErrStale.
func Load(path string, s *Set) (*Index, error) {
	data, err := userfile.ReadFile(path, 2*MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("neighbors: index: %w", err)
	}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("neighbors: index %s: %w: %s", path, ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(data) < len(indexMagic)+4 || string(data[:len(indexMagic)]) != indexMagic {
		return nil, corrupt("it does not start with %q", indexMagic)
	}
	hl := int64(binary.LittleEndian.Uint32(data[len(indexMagic):]))
	rest := data[len(indexMagic)+4:]
	if hl > int64(len(rest)) {
		return nil, corrupt("header of %d bytes in a file of %d", hl, len(data))
	}
	var meta indexMeta
	if err := json.Unmarshal(rest[:hl], &meta); err != nil {
		return nil, corrupt("header: %v", err)
	}
	if meta.Format != indexFormat {
		return nil, corrupt("format %q, this version reads %q", meta.Format, indexFormat)
	}
	graph := rest[hl:]
	if meta.GraphBytes != int64(len(graph)) {
		return nil, corrupt("header announces %d graph bytes, the file holds %d (truncated?)", meta.GraphBytes, len(graph))
	}
	if sum := sha256.Sum256(graph); hex.EncodeToString(sum[:]) != meta.Graph {
		return nil, corrupt("graph checksum mismatch (damaged file)")
	}
	if meta.N != s.Len() || meta.Dim != s.Dim || meta.Embeddings != fingerprint(s) {
		return nil, fmt.Errorf("neighbors: index %s (%d×%d): %w (%d×%d here): rebuild it with `swav-embed index`",
			path, meta.N, meta.Dim, ErrStale, s.Len(), s.Dim)
	}
	g, err := decodeLayered(graph, s.Len(), meta.M, meta.Entry)
	if err != nil {
		return nil, corrupt("graph: %v", err)
	}
	return &Index{set: s, g: g, meta: meta, Ef: DefaultEf}, nil
}
