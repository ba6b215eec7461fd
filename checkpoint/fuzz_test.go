package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode. Every input must either decode
// to a File that survives an Encode/Decode round trip, or fail with exactly
// one sentinel error carrying the name prefix; it must never panic. Each
// input is also tried with its checksum recomputed, so the fuzzer can reach
// the structural checks behind the SHA-256.
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
	f, err := Decode(data, "fuzz")
	if err != nil {
		if f != nil {
			t.Fatalf("non-nil File with error %v", err)
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
		return
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
}
