package beamembed

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/swav-go/swav/embedio"
)

// ShardOf returns the shard, in [0, shards), that the embedding of path is written to:
// FNV-1a of the path modulo shards, so the assignment depends on the path alone. It
// panics if shards is not positive.
func ShardOf(path string, shards int) int {
	if shards <= 0 {
		panic(fmt.Sprintf("beamembed: ShardOf with %d shards", shards))
	}
	h := fnv.New32a()
	h.Write([]byte(path))
	return int(h.Sum32() % uint32(shards))
}

// ShardName is the file of one shard in one format: PREFIX-SSSSS-of-NNNNN.FORMAT (an
// .npy shard also has its embedio.SidecarPath).
func ShardName(prefix string, shard, shards int, format string) string {
	return fmt.Sprintf("%s-%05d-of-%05d.%s", prefix, shard, shards, format)
}

// DeadLetterName is the dead-letter file of prefix: PREFIX-deadletter.jsonl.
func DeadLetterName(prefix string) string { return prefix + "-deadletter.jsonl" }

// keyFn keys an embedding by its shard.
type keyFn struct {
	Shards int
}

// ProcessElement returns the shard of e and e.
func (f *keyFn) ProcessElement(e Embedding) (int, Embedding) { return ShardOf(e.Path, f.Shards), e }

// writeShardFn writes one shard, sorted by path, in each format.
type writeShardFn struct {
	Prefix  string
	Shards  int
	Formats []string
}

// ProcessElement writes the embeddings of shard.
func (f *writeShardFn) ProcessElement(ctx context.Context, shard int, values func(*Embedding) bool) error {
	var all []Embedding
	var e Embedding
	for values(&e) {
		all = append(all, Embedding{Path: e.Path, Vector: slices.Clone(e.Vector)})
	}
	slices.SortFunc(all, func(a, b Embedding) int { return cmp.Compare(a.Path, b.Path) })
	// A path is embedded once (the matches are made distinct), but a runner may retry
	// a bundle whose outputs were already committed downstream only if it is buggy;
	// keeping the first of equal paths makes the shard exact either way.
	all = slices.CompactFunc(all, func(a, b Embedding) bool { return a.Path == b.Path })
	if len(all) == 0 {
		return nil // a group is never empty; nothing to write if one were
	}
	for _, format := range f.Formats {
		if err := writeEmbeddings(ctx, ShardName(f.Prefix, shard, f.Shards, format), embedio.Format(format), all); err != nil {
			return err
		}
	}
	return nil
}

// writeEmbeddings writes all to name in format: a local name directly through
// embedio's atomic writer, a name on a Beam filesystem through a local temporary file
// uploaded once complete (the sidecar of an .npy first).
func writeEmbeddings(ctx context.Context, name string, format embedio.Format, all []Embedding) error {
	if isLocal(name) {
		return writeLocal(name, format, all)
	}
	tmp, err := os.MkdirTemp("", "swav-beam-shard-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	local := filepath.Join(tmp, "shard."+string(format))
	if err := writeLocal(local, format, all); err != nil {
		return err
	}
	if format == embedio.FormatNPY {
		if err := upload(ctx, embedio.SidecarPath(local), embedio.SidecarPath(name)); err != nil {
			return err
		}
	}
	return upload(ctx, local, name)
}

// writeLocal writes all to the local file path with embedio (a temporary file renamed
// on success).
func writeLocal(path string, format embedio.Format, all []Embedding) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	w, err := embedio.Create(path, format, len(all[0].Vector))
	if err != nil {
		return err
	}
	for _, e := range all {
		if err := w.Write(e.Path, e.Vector); err != nil {
			_ = w.Abort()
			return fmt.Errorf("shard %s: %w", path, err)
		}
	}
	return w.Close()
}

// upload copies the local file src to dst on its Beam filesystem.
func upload(ctx context.Context, src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeRemote(ctx, dst, in)
}

// writeRemote writes r to dst on its Beam filesystem (committed on Close).
func writeRemote(ctx context.Context, dst string, r io.Reader) error {
	fsys, err := filesystem.New(ctx, dst)
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	defer fsys.Close()
	w, err := fsys.OpenWrite(ctx, dst)
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		_ = w.Close()
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// writeDeadLetterFn writes every failure, sorted by path, to the dead-letter file.
type writeDeadLetterFn struct {
	Prefix string
}

// ProcessElement runs once (on the impulse) and writes the failures side input.
func (f *writeDeadLetterFn) ProcessElement(ctx context.Context, _ []byte, failures func(*Failure) bool) error {
	var all []Failure
	var e Failure
	for failures(&e) {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b Failure) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Error, b.Error))
	})
	// A folder that two overlapping patterns both failed to read is reported once.
	all = slices.CompactFunc(all, func(a, b Failure) bool { return a.Path == b.Path })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, e := range all {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
	}
	name := DeadLetterName(f.Prefix)
	if isLocal(name) {
		return writeFileAtomic(name, buf.Bytes())
	}
	return writeRemote(ctx, name, &buf)
}

// writeFileAtomic writes data to a temporary file beside path and renames it to path.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := cmp.Or(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
