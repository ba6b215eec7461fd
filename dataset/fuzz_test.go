package dataset

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the committed fuzz seed corpus under testdata/fuzz")

// idxSeed builds an IDX file: magic 0x0000 08 <len(dims)>, the dimensions,
// then data.
func idxSeed(dims []uint32, data []byte) []byte {
	out := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		out = binary.BigEndian.AppendUint32(out, d)
	}
	return append(out, data...)
}

func gzSeed(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// idxSeeds is FuzzIDX's seed corpus: valid image and label files, raw and
// gzip-compressed, and the hostile headers the tests refuse.
func idxSeeds() map[string][]byte {
	images := idxSeed([]uint32{3, 2, 3}, []byte{0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25})
	return map[string][]byte{
		"images":           images,
		"images-gz":        gzSeed(images),
		"labels":           idxSeed([]uint32{3}, []byte{2, 0, 2}),
		"labels-gz":        gzSeed(idxSeed([]uint32{3}, []byte{2, 0, 2})),
		"truncated":        images[:len(images)-1],
		"trailing":         append(bytes.Clone(images), 7),
		"huge-header":      idxSeed([]uint32{0xffffffff, 0xffff, 0xffff}, nil),
		"lying-gz":         gzSeed(idxSeed([]uint32{60000, 28, 28}, []byte{1, 2, 3})),
		"inflates-past-gz": gzSeed(idxSeed([]uint32{2, 2, 2}, make([]byte, 4096))),
		"bad-magic":        append([]byte{1, 2}, images[2:]...),
	}
}

// TestFuzzSeedCorpus checks that the committed seed corpus is the one
// idxSeeds generates (run with -args -update to rewrite it).
func TestFuzzSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzIDX")
	for name, data := range idxSeeds() {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data)))
		path := filepath.Join(dir, "seed-"+name)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (err %v): run go test ./dataset -run TestFuzzSeedCorpus -args -update", path, err)
		}
	}
}

// FuzzIDX parses arbitrary bytes as an IDX image file and as a label file,
// with a 1 MiB limit. Errors must wrap ErrIDX or be gzip errors; a success
// must return data of exactly the declared size that re-encodes to the
// (decompressed) input.
//
// The seeds are the committed corpus testdata/fuzz/FuzzIDX (idxSeeds).
func FuzzIDX(f *testing.F) {
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, want := range []int{1, 3} {
			dims, got, err := parseIDX(bytes.NewReader(data), int64(len(data)), "fuzz", want, limit)
			if err != nil {
				if !errors.Is(err, ErrIDX) && !errors.Is(err, gzip.ErrHeader) && !errors.Is(err, gzip.ErrChecksum) && !isFlateError(err) {
					t.Fatalf("dims %d: error %q wraps neither ErrIDX nor a gzip error", want, err)
				}
				continue
			}
			if len(dims) != want {
				t.Fatalf("%d dimensions, want %d", len(dims), want)
			}
			total := 1
			for _, d := range dims {
				total *= d
			}
			if total != len(got) || total > limit {
				t.Fatalf("dims %v but %d data bytes (limit %d)", dims, len(got), limit)
			}
			raw := data
			if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
				zr, err := gzip.NewReader(bytes.NewReader(data))
				if err != nil {
					t.Fatalf("parseIDX accepted data gzip rejects: %v", err)
				}
				if raw, err = io.ReadAll(zr); err != nil {
					t.Fatalf("parseIDX accepted data gzip rejects: %v", err)
				}
			}
			dims32 := make([]uint32, len(dims))
			for i, d := range dims {
				dims32[i] = uint32(d)
			}
			if !bytes.Equal(idxSeed(dims32, got), raw) {
				t.Fatalf("dims %v and %d data bytes do not re-encode to the input", dims, len(got))
			}
		}
	})
}

// isFlateError reports a corrupt deflate stream inside a gzip file.
func isFlateError(err error) bool {
	var corrupt flate.CorruptInputError
	return errors.As(err, &corrupt)
}
