package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// fuzzOptions caps the tensors a fuzz input may declare at 64 MiB, so that
// an input declaring a large, legal payload (up to MaxCompressionRatio times
// its size) costs the fuzzer a bounded buffer per execution.
func fuzzOptions() ReadOptions { return ReadOptions{MaxTensorBytes: 64 << 20} }

// FuzzDecode feeds arbitrary bytes to DecodeWith. Every input must either
// decode to a File that survives an Encode/Decode round trip, or fail with
// exactly one sentinel error carrying the name prefix; it must never panic.
// DecodeInfo must agree (same header and table, or the same error, except
// that it does not see errors in the zstd data), and so must a decode
// reading the input a few bytes at a time. Each input is also tried with its
// checksum recomputed, so the fuzzer can reach the structural checks behind
// the SHA-256.
//
// The seed corpus lives in testdata/fuzz/FuzzDecode (regenerate with
// go test ./checkpoint/ -run TestFuzzCorpusUpdate -update).
func FuzzDecode(f *testing.F) {
	for _, c := range goldenCases {
		b, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		if len(data) >= 40+32 {
			checkDecode(t, reseal(data))
		}
	})
}

func checkDecode(t *testing.T, data []byte) {
	opts := fuzzOptions()
	f, err := DecodeWith(data, "fuzz", opts)
	info, infoErr := DecodeInfo(data, "fuzz", opts)
	sameInfo(t, "DecodeInfo", info, infoErr, f, err)
	lim, _ := opts.limits()
	d, chunkedErr := decodeFrom(iotest.HalfReader(bytes.NewReader(data)), uint64(len(data)), lim, true)
	var chunked *File
	if chunkedErr == nil {
		chunked = &File{Header: d.info.Header, Tensors: d.tensors}
	} else {
		chunkedErr = fmt.Errorf("checkpoint fuzz: %w", chunkedErr)
	}
	sameResult(t, "half reader", chunked, chunkedErr, f, err)
	if err != nil {
		checkError(t, f != nil, err)
		return
	}
	if info.RawSize > opts.MaxTensorBytes || info.FileSize != int64(len(data)) {
		t.Fatalf("accepted %d bytes of tensors (limit %d), file size %d of %d", info.RawSize, opts.MaxTensorBytes, info.FileSize, len(data))
	}
	var buf bytes.Buffer
	if err := Encode(&buf, f, EncodeOptions{}); err != nil {
		t.Fatalf("decoded file does not re-encode: %v", err)
	}
	again, err := Decode(buf.Bytes(), "again")
	if err != nil {
		t.Fatalf("re-encoded file does not decode: %v", err)
	}
	assertHeadersEqual(t, again.Header, f.Header)
	assertTensorsEqual(t, again.Tensors, f.Tensors)
	var buf2 bytes.Buffer
	if err := Encode(&buf2, again, EncodeOptions{}); err != nil || !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Fatalf("re-encoding is not stable (err %v)", err)
	}
}

// checkError fails unless err carries the "checkpoint fuzz: " prefix and
// wraps exactly one sentinel, and no File came with it.
func checkError(t *testing.T, withFile bool, err error) {
	t.Helper()
	if withFile {
		t.Fatalf("non-nil result with error %v", err)
	}
	if !strings.HasPrefix(err.Error(), "checkpoint fuzz: ") {
		t.Fatalf("error %q lacks the name prefix", err)
	}
	matched := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			matched++
		}
	}
	if matched != 1 {
		t.Fatalf("error %q wraps %d sentinels, want 1", err, matched)
	}
}

// FuzzReadInfo writes arbitrary bytes to a file and reads it with ReadInfo
// and LoadWith under a fuzzed MaxTensorBytes (0: the default, capped at
// 64 MiB as in FuzzDecode): both must give exactly what DecodeInfo and
// DecodeWith give for the same bytes and options (the same error text, or
// the same Info and File), never panic, and never accept more tensor bytes
// than the limit. The input is also tried resealed.
//
// The seed corpus lives in testdata/fuzz/FuzzReadInfo.
func FuzzReadInfo(f *testing.F) {
	for _, c := range goldenCases {
		b, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint32(0))
	}
	// One file per fuzzing process, rewritten by every input (a fresh
	// directory per input would cost more than the reads).
	path := filepath.Join(f.TempDir(), "fuzz")
	f.Fuzz(func(t *testing.T, data []byte, maxTensor uint32) {
		opts := fuzzOptions()
		if maxTensor > 0 {
			opts.MaxTensorBytes = int64(maxTensor)
		}
		checkReadPath(t, path, data, opts)
		if len(data) >= 40+32 {
			checkReadPath(t, path, reseal(data), opts)
		}
	})
}

func checkReadPath(t *testing.T, path string, data []byte, opts ReadOptions) {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want, wantErr := DecodeInfo(data, path, opts)
	got, gotErr := ReadInfo(path, opts)
	switch {
	case wantErr != nil:
		if gotErr == nil || gotErr.Error() != wantErr.Error() || got != nil {
			t.Fatalf("ReadInfo: %v, DecodeInfo: %v", gotErr, wantErr)
		}
	case gotErr != nil:
		t.Fatalf("ReadInfo: %v, DecodeInfo succeeded", gotErr)
	case !reflect.DeepEqual(got, want):
		t.Fatalf("ReadInfo %+v, DecodeInfo %+v", got, want)
	case got.RawSize > opts.MaxTensorBytes:
		t.Fatalf("accepted %d bytes of tensors, limit %d", got.RawSize, opts.MaxTensorBytes)
	}
	wantFile, wantErr := DecodeWith(data, path, opts)
	gotFile, gotErr := LoadWith(path, opts)
	sameResult(t, "LoadWith", gotFile, gotErr, wantFile, wantErr)
}

// TestFuzzCorpusUpdate writes the committed seed corpus, only with -update.
func TestFuzzCorpusUpdate(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz/FuzzDecode")
	}
	// Encoded afresh (not read from testdata) so that -update gives a
	// consistent result whatever order the update tests run in.
	g := encodeBytes(t, goldenFile(), EncodeOptions{})
	f16 := encodeBytes(t, goldenFile(), EncodeOptions{Float16: true})
	tableStart, payloadStart := layout(g)
	withVersion := append([]byte(nil), g...)
	withVersion[8] = 2
	seeds := map[string][]byte{
		"golden-small":          g,
		"golden-small-f16":      f16,
		"empty-file":            encodeBytes(t, &File{}, EncodeOptions{}),
		"truncated-header":      g[:tableStart-7],
		"truncated-payload":     g[:payloadStart+5],
		"flipped-payload":       flip(g, payloadStart+20),
		"flipped-header":        flip(g, 50),
		"resealed-payload-flip": reseal(flip(g, payloadStart+20)),
		"resealed-table-flip":   reseal(flip(g, tableStart+3)),
		"wrong-version":         withVersion,
		"bad-magic":             flip(g, 0),
		"huge-dims": rawFile{entries: []rawEntry{
			{name: "w", code: 1, dims: []uint64{1 << 33, 1 << 33}, n: 0},
		}}.build(),
		"table-payload-mismatch": rawFile{
			entries: []rawEntry{{name: "w", code: 1, dims: []uint64{2}, n: 8}},
			payload: le32(1, 2, 3),
		}.build(),
		"two-tensors": rawFile{
			entries: []rawEntry{
				{name: "w", code: 2, dims: []uint64{2}, n: 4},
				{name: "s", code: 4, off: 4, n: 8},
			},
			payload: []byte{0, 0x3c, 0, 0xc0, 7, 0, 0, 0, 0, 0, 0, 0},
		}.build(),
		"rle-bomb": rawFile{
			entries:  []rawEntry{{name: "w", code: 7, dims: []uint64{64}, n: 64}},
			zpayload: rleBomb(4), rawLen: u64(64),
		}.build(),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// FuzzReadInfo: files and tensor caps around the limits.
	declared4MiB := rawFile{ // 32 RLE blocks: 134 payload bytes inflating to 4 MiB
		entries:  []rawEntry{{name: "prototypes", code: 1, dims: []uint64{1024, 1024}, n: 4 << 20}},
		zpayload: rleBomb(32), rawLen: u64(4 << 20),
	}.build()
	overflow := rawFile{ // declares 1 KiB, inflates to 256 KiB
		entries:  []rawEntry{{name: "w", code: 7, dims: []uint64{1024}, n: 1024}},
		zpayload: rleBomb(2), rawLen: u64(1024),
	}.build()
	infoSeeds := map[string]struct {
		data      []byte
		maxTensor uint32
	}{
		"golden-small-default":    {g, 0},
		"golden-small-exact-cap":  {g, 88},
		"golden-small-over-cap":   {g, 87},
		"golden-small-f16":        {f16, 0},
		"empty-file":              {seeds["empty-file"], 0},
		"declared-4mib":           {declared4MiB, 0},
		"declared-4mib-over-cap":  {declared4MiB, 1 << 20},
		"overflow-past-declared":  {overflow, 0},
		"resealed-payload-flip":   {seeds["resealed-payload-flip"], 0},
		"truncated-payload":       {seeds["truncated-payload"], 0},
		"two-tensors-over-cap":    {seeds["two-tensors"], 11},
		"table-payload-mismatch":  {seeds["table-payload-mismatch"], 0},
		"flipped-header-checksum": {seeds["flipped-header"], 0},
	}
	dir = filepath.Join("testdata", "fuzz", "FuzzReadInfo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range infoSeeds {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint32(%d)\n", s.data, s.maxTensor)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
