package beamembed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/infer"
)

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{Inputs: []string{"a/*.png"}, Prefix: "out/emb", Formats: []string{"NPY", "jsonl"}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Shards != DefaultShards || o.BatchSize != DefaultBatchSize || o.MaxModelBytes != DefaultMaxModelBytes {
		t.Errorf("defaults: %+v", o)
	}
	if fmt.Sprint(o.Formats) != "[npy jsonl]" {
		t.Errorf("formats %v, want [npy jsonl] (normalised)", o.Formats)
	}
	o, err = Options{Inputs: []string{"a"}, Prefix: "p"}.withDefaults()
	if err != nil || fmt.Sprint(o.Formats) != "[jsonl npy]" {
		t.Errorf("default formats %v (%v), want [jsonl npy]", o.Formats, err)
	}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Prefix: "p"}, "no input pattern"},
		{Options{Inputs: []string{" "}, Prefix: "p"}, "empty input pattern"},
		{Options{Inputs: []string{"a"}}, "no output prefix"},
		{Options{Inputs: []string{"a"}, Prefix: "p", Output: "logits"}, "outputs are: features, projection"},
		{Options{Inputs: []string{"a"}, Prefix: "p", Shards: -1}, "must not be negative"},
		{Options{Inputs: []string{"a"}, Prefix: "p", Formats: []string{"parquet"}}, "valid formats are npy, jsonl, csv"},
		{Options{Inputs: []string{"a"}, Prefix: "p", Formats: []string{"npy", "NPY"}}, "listed twice"},
	} {
		_, err := tc.opts.withDefaults()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.opts, err, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Reason
	}{
		{fmt.Errorf("image x: %w", imageio.ErrNotRegular), ReasonNotRegular},
		{fmt.Errorf("image x: %w: %w", imageio.ErrTooLarge, imageio.ErrTooComplex), ReasonTooComplex},
		{fmt.Errorf("image x: %w", imageio.ErrTooLarge), ReasonTooLarge},
		{fmt.Errorf("image x: %w", imageio.ErrEmpty), ReasonEmpty},
		{fmt.Errorf("image x: %w", imageio.ErrUnknownFormat), ReasonUnknownFormat},
		{fmt.Errorf("image x: %w", imageio.ErrCorrupt), ReasonCorrupt},
		{&fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}, ReasonNotFound},
		{&fs.PathError{Op: "open", Path: "x", Err: fs.ErrPermission}, ReasonPermission},
		{errors.New("connection reset"), ReasonRead},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestShardOf(t *testing.T) {
	// FNV-1a 32 of "a" is 0xe40c292c = 3826002220; mod 7 = 3826002220 - 7×546571745 = 5.
	if got := ShardOf("a", 7); got != 5 {
		t.Errorf("ShardOf(a, 7) = %d, want 5", got)
	}
	counts := make([]int, 4)
	for i := range 4000 {
		counts[ShardOf(fmt.Sprintf("photos/%06d.jpg", i), 4)]++
	}
	for s, n := range counts {
		if n < 800 || n > 1200 {
			t.Errorf("shard %d got %d of 4000 paths, want about 1000: %v", s, n, counts)
		}
	}
	if got := ShardName("gs://b/out/emb", 3, 16, "npy"); got != "gs://b/out/emb-00003-of-00016.npy" {
		t.Errorf("ShardName = %s", got)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "beamembed: ShardOf with 0 shards") {
			t.Errorf("ShardOf(_, 0) panicked with %v", r)
		}
	}()
	ShardOf("a", 0)
}

func TestReadRemoteCaps(t *testing.T) {
	ctx := context.Background()
	fsys, err := filesystem.New(ctx, "memfs://")
	if err != nil {
		t.Fatal(err)
	}
	w, err := fsys.OpenWrite(ctx, "memfs://caps/ten")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("0123456789"))
	w.Close()
	if data, err := readRemote(ctx, fsys, "memfs://caps/ten", 10, "image", imageio.ErrTooLarge); err != nil || string(data) != "0123456789" {
		t.Errorf("at the cap: %q, %v", data, err)
	}
	if data, err := readRemote(ctx, fsys, "memfs://caps/ten", -1, "image", imageio.ErrTooLarge); err != nil || len(data) != 10 {
		t.Errorf("no cap: %q, %v", data, err)
	}
	_, err = readRemote(ctx, fsys, "memfs://caps/ten", 9, "image", imageio.ErrTooLarge)
	if !errors.Is(err, imageio.ErrTooLarge) || err.Error() != "image memfs://caps/ten: image too large: 10 bytes, the limit is 9" {
		t.Errorf("over the cap: %v", err)
	}
	_, err = readRemote(ctx, fsys, "memfs://caps/missing", 9, "checkpoint", errModelTooLarge)
	if err == nil || !strings.HasPrefix(err.Error(), "checkpoint memfs://caps/missing: ") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := loadModel(ctx, filesystems{}, "memfs://caps/ten", infer.Options{}, 9); !errors.Is(err, errModelTooLarge) {
		t.Errorf("model over MaxModelBytes: %v", err)
	}
}

func TestIsLocal(t *testing.T) {
	for path, want := range map[string]bool{
		"photos/*.jpg": true, "/abs/x.png": true, "://odd": true, "a:b/c": true,
		"gs://bucket/x": false, "s3://b/k": false, "memfs://x": false,
	} {
		if got := isLocal(path); got != want {
			t.Errorf("isLocal(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestModelCacheOncePerProcess(t *testing.T) {
	c := &modelCache{models: map[modelKey]*infer.Model{}}
	loads := 0
	m0 := &infer.Model{}
	load := func() (*infer.Model, error) {
		loads++
		return m0, nil
	}
	k := modelKey{Model: "gs://b/m.swav", BatchSize: 64}
	for range 3 {
		m, err := c.get(k, load)
		if err != nil || m != m0 {
			t.Fatalf("get: %p, %v", m, err)
		}
	}
	if loads != 1 {
		t.Errorf("3 gets of one key loaded %d times, want once", loads)
	}
	if _, err := c.get(modelKey{Model: "gs://b/m.swav", BatchSize: 32}, load); err != nil || loads != 2 {
		t.Errorf("another batch size: %d loads (%v), want 2", loads, err)
	}
	boom := errors.New("transient")
	k2 := modelKey{Model: "gs://b/other.swav"}
	if _, err := c.get(k2, func() (*infer.Model, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("failed load: %v", err)
	}
	if m, err := c.get(k2, load); err != nil || m != m0 || loads != 3 {
		t.Errorf("a failed load was cached: %p, %v, %d loads", m, err, loads)
	}
}
