package checkpoint

import (
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// layout returns the offsets of the table and payload of a checkpoint.
func layout(b []byte) (tableStart, payloadStart int) {
	h := int(binary.LittleEndian.Uint32(b[12:]))
	tab := int(binary.LittleEndian.Uint32(b[16:]))
	return 40 + h, 40 + h + tab
}

func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0x40
	return out
}

func TestDecodeCorruptGolden(t *testing.T) {
	g := readTestdata(t, "small.swav")
	tableStart, payloadStart := layout(g)
	n := len(g)
	withVersion := func(v uint32) []byte {
		out := append([]byte(nil), g...)
		binary.LittleEndian.PutUint32(out[8:], v)
		return out
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"cut in magic", g[:5], ErrTruncated},
		{"cut after magic", g[:8], ErrTruncated},
		{"cut in version", g[:11], ErrTruncated},
		{"cut in prefix", g[:30], ErrTruncated},
		{"cut after prefix", g[:40], ErrTruncated},
		{"cut in header", g[:tableStart-10], ErrTruncated},
		{"cut in table", g[:tableStart+5], ErrTruncated},
		{"cut in payload", g[:payloadStart+10], ErrTruncated},
		{"cut in checksum", g[:n-1], ErrTruncated},
		{"bad magic", flip(g, 7), ErrBadMagic},
		{"short non-checkpoint", []byte("hello"), ErrBadMagic},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), ErrBadMagic},
		{"version 2", withVersion(2), ErrVersion},
		{"version 0", withVersion(0), ErrVersion},
		{"version 2 truncated", withVersion(2)[:12], ErrVersion},
		{"flipped header byte", flip(g, 60), ErrChecksum},
		{"flipped table byte", flip(g, tableStart+3), ErrChecksum},
		{"flipped payload byte", flip(g, payloadStart+20), ErrChecksum},
		{"flipped checksum byte", flip(g, n-5), ErrChecksum},
		{"flipped tensor count", flip(g, 20), ErrChecksum},
		{"flipped raw length", flip(g, 24), ErrChecksum},
		{"header length grown", flip(g, 13), ErrTruncated},
		{"trailing byte", append(append([]byte(nil), g...), 0), ErrCorrupt},
		// Resealed: the checksum is recomputed, so the inner checks fire.
		{"resealed payload flip", reseal(flip(g, payloadStart+20)), ErrCorrupt},
		{"resealed zstd magic flip", reseal(flip(g, payloadStart)), ErrCorrupt},
		{"resealed header flip", reseal(flip(g, 42)), ErrCorrupt},
		{"resealed table dtype", reseal(flip(g, tableStart+2+len("backbone.stem.weight"))), ErrCorrupt},
		{"resealed count", reseal(flip(g, 20)), ErrCorrupt},
		{"resealed raw length", reseal(flip(g, 24)), ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Decode(tc.data, "bad.swav")
			errorIs(t, err, tc.want)
			if f != nil {
				t.Error("non-nil File with error")
			}
			if !strings.HasPrefix(err.Error(), "checkpoint bad.swav: ") {
				t.Errorf("error %q lacks the file name prefix", err)
			}
		})
	}
}

// TestDecodeTruncatedEverywhere cuts small.swav at every length.
func TestDecodeTruncatedEverywhere(t *testing.T) {
	g := readTestdata(t, "small.swav")
	for i := range len(g) {
		if _, err := Decode(g[:i], "cut"); err == nil {
			t.Fatalf("cut at %d: no error", i)
		} else {
			errorIs(t, err, ErrTruncated)
		}
	}
}

// TestDecodeFlipEverywhere flips every byte of small.swav.
func TestDecodeFlipEverywhere(t *testing.T) {
	g := readTestdata(t, "small.swav")
	for i := range len(g) {
		_, err := Decode(flip(g, i), "flip")
		switch {
		case i < 8:
			errorIs(t, err, ErrBadMagic)
		case i < 12:
			errorIs(t, err, ErrVersion)
		case i < 40:
			// Section lengths and counts: either the file no longer has
			// the declared size, or the checksum catches the change.
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrChecksum) {
				t.Fatalf("flip at %d: %v", i, err)
			}
		default:
			errorIs(t, err, ErrChecksum)
		}
	}
}

// TestDecodeHandBuilt builds files byte by byte (see rawFile) to reach every
// structural check behind a valid checksum.
func TestDecodeHandBuilt(t *testing.T) {
	f32x2 := le32(1.5, -2)
	okEntry := rawEntry{name: "w", code: 1, dims: []uint64{2}, off: 0, n: 8}
	bomb := rleBomb(2048) // 256 MiB of zeros in 8 KiB
	tests := []struct {
		name string
		raw  rawFile
		want error // nil: must decode
		msg  string
	}{
		{"valid", rawFile{entries: []rawEntry{okEntry}, payload: f32x2}, nil, ""},
		{"valid two tensors", rawFile{
			entries: []rawEntry{okEntry, {name: "s", code: 4, off: 8, n: 8}},
			payload: append(append([]byte(nil), f32x2...), 5, 0, 0, 0, 0, 0, 0, 0),
		}, nil, ""},
		{"valid no tensors", rawFile{}, nil, ""},

		// Tensor table vs payload.
		{"size disagrees with shape", rawFile{entries: []rawEntry{{name: "w", code: 1, dims: []uint64{2}, n: 4}}, payload: f32x2[:4]}, ErrCorrupt, "needs 8 bytes"},
		{"dtype disagrees", rawFile{entries: []rawEntry{{name: "w", code: 3, dims: []uint64{2}, n: 8}}, payload: f32x2}, ErrCorrupt, "needs 16 bytes"},
		{"gap", rawFile{entries: []rawEntry{{name: "w", code: 1, dims: []uint64{2}, off: 4, n: 8}}, payload: append(f32x2, 0, 0, 0, 0)}, ErrCorrupt, "expected 0"},
		{"overlap", rawFile{
			entries: []rawEntry{okEntry, {name: "v", code: 1, dims: []uint64{2}, off: 4, n: 8}},
			payload: append(f32x2, 0, 0, 0, 0),
		}, ErrCorrupt, "expected 8"},
		{"overrun", rawFile{entries: []rawEntry{okEntry, {name: "v", code: 1, dims: []uint64{2}, off: 8, n: 8}}, payload: f32x2}, ErrCorrupt, "overruns the 8-byte payload"},
		{"payload not covered", rawFile{entries: []rawEntry{okEntry}, payload: append(f32x2, 1)}, ErrCorrupt, "cover 8 bytes of a 9-byte"},
		{"declared raw length short", rawFile{entries: []rawEntry{{name: "w", code: 1, dims: []uint64{1}, n: 4}}, payload: f32x2, rawLen: u64(4)}, ErrCorrupt, "more than the declared 4"},
		{"declared raw length long", rawFile{entries: []rawEntry{{name: "w", code: 1, dims: []uint64{4}, n: 16}}, payload: f32x2, rawLen: u64(16)}, ErrCorrupt, "decompresses to 8 bytes"},

		// Dimensions.
		{"huge dim", rawFile{entries: []rawEntry{{name: "w", code: 7, dims: []uint64{1 << 40}, n: 1 << 40}}}, ErrTooLarge, "dimension 0"},
		{"negative dim", rawFile{entries: []rawEntry{{name: "w", code: 7, dims: []uint64{1<<64 - 1}, n: 0}}}, ErrTooLarge, "dimension 0"},
		{"overflowing product", rawFile{entries: []rawEntry{{name: "w", code: 1, dims: []uint64{1 << 33, 1 << 33, 1 << 33}, n: 0}}}, ErrTooLarge, "elements"},
		{"too many bytes", rawFile{entries: []rawEntry{{name: "w", code: 3, dims: []uint64{1 << 32}, n: 0}}}, ErrTooLarge, "bytes (limit"},
		{"huge dim with zero", rawFile{entries: []rawEntry{{name: "w", code: 1, dims: []uint64{0, 1 << 62}, n: 0}}}, ErrTooLarge, "dimension 1"},
		{"zero dim", rawFile{entries: []rawEntry{{name: "w", code: 1, dims: []uint64{0, 1 << 30}, n: 0}}}, nil, ""},
		{"rank 9", rawFile{entries: []rawEntry{{name: "w", code: 7, dims: []uint64{1, 1, 1, 1, 1, 1, 1, 1, 1}, n: 1}}, payload: []byte{1}}, ErrTooLarge, "rank 9"},

		// Names and dtypes.
		{"duplicate names", rawFile{entries: []rawEntry{okEntry, {name: "w", code: 1, dims: []uint64{2}, off: 8, n: 8}}, payload: append(f32x2, f32x2...)}, ErrCorrupt, "duplicate"},
		{"empty name", rawFile{entries: []rawEntry{{name: "", code: 7, dims: []uint64{1}, n: 1}}, payload: []byte{1}}, ErrCorrupt, "empty tensor name"},
		{"bad utf8 name", rawFile{entries: []rawEntry{{name: "a\xffb", code: 7, n: 1}}, payload: []byte{1}}, ErrCorrupt, "UTF-8"},
		{"long name", rawFile{entries: []rawEntry{{name: strings.Repeat("x", 1025), code: 7, n: 1}}, payload: []byte{1}}, ErrTooLarge, "exceeds 1024"},
		{"dtype 0", rawFile{entries: []rawEntry{{name: "w", code: 0, n: 1}}, payload: []byte{1}}, ErrCorrupt, "dtype code 0"},
		{"dtype 8", rawFile{entries: []rawEntry{{name: "w", code: 8, n: 1}}, payload: []byte{1}}, ErrCorrupt, "dtype code 8"},

		// Table framing.
		{"table trailing bytes", rawFile{entries: []rawEntry{okEntry}, tableExtra: []byte{0}, payload: f32x2}, ErrCorrupt, "unused bytes"},
		{"count too small", rawFile{entries: []rawEntry{okEntry}, count: u32(0), payload: f32x2}, ErrCorrupt, "unused bytes"},
		{"count too large for table", rawFile{entries: []rawEntry{okEntry}, count: u32(2), payload: f32x2}, ErrCorrupt, "cannot fit"},
		{"entry overruns table", rawFile{entries: []rawEntry{okEntry}, count: u32(2), tableExtra: append([]byte{0xff, 0xff}, make([]byte, 19)...), payload: f32x2}, ErrCorrupt, "overruns the table"},
		{"count over limit", rawFile{count: u32(MaxTensors + 1)}, ErrTooLarge, "tensors (limit"},

		// Payload sizes and zstd.
		{"raw length over hard cap", rawFile{rawLen: u64(MaxPayloadSize + 1)}, ErrTooLarge, "limit"},
		{"raw length over ratio", rawFile{zpayload: make([]byte, 10), rawLen: u64(10*MaxCompressionRatio + 1)}, ErrTooLarge, "ratio limit"},
		{"raw length absurd", rawFile{rawLen: u64(1<<64 - 1)}, ErrTooLarge, "limit"},
		{"empty compressed payload", rawFile{zpayload: []byte{}}, ErrCorrupt, "empty compressed payload"},
		{"not zstd", rawFile{entries: []rawEntry{okEntry}, payload: f32x2, zpayload: []byte("definitely not zstd")}, ErrCorrupt, "zstd"},
		{"zstd bomb, small declaration", rawFile{
			entries:  []rawEntry{{name: "w", code: 7, dims: []uint64{1024}, n: 1024}},
			zpayload: bomb, rawLen: u64(1024),
		}, ErrCorrupt, "more than the declared 1024"},
		{"zstd window too large", rawFile{zpayload: bigWindowFrame()}, ErrCorrupt, "zstd"},

		// Header.
		{"header not json", rawFile{header: `{"format_version":1,`}, ErrCorrupt, "header JSON"},
		{"header unknown field", rawFile{header: `{"format_version":1,"surprise":true}`}, ErrCorrupt, "unknown field"},
		{"header unknown nested field", rawFile{header: `{"format_version":1,"training":{"epochs":1}}`}, ErrCorrupt, "unknown field"},
		{"header trailing data", rawFile{header: `{"format_version":1}{}`}, ErrCorrupt, "after the object"},
		{"header array", rawFile{header: `[1]`}, ErrCorrupt, "not a JSON object"},
		{"header null", rawFile{header: `null`}, ErrCorrupt, "not a JSON object"},
		{"header version mismatch", rawFile{header: `{"format_version":2}`}, ErrCorrupt, "format_version 2"},
		{"header version missing", rawFile{header: `{"kind":"x"}`}, ErrCorrupt, "format_version 0"},
		{"header bad utf8", rawFile{header: "{\"format_version\":1,\"kind\":\"\xff\"}"}, ErrCorrupt, "UTF-8"},
		{"header bad time", rawFile{header: `{"format_version":1,"training":{"time":"yesterday"}}`}, ErrCorrupt, "header JSON"},
		{"header wrong type", rawFile{header: `{"format_version":"1"}`}, ErrCorrupt, "header JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.raw.build()
			f, err := Decode(data, "raw")
			if tc.want == nil {
				if err != nil {
					t.Fatalf("valid hand-built file rejected: %v", err)
				}
				return
			}
			errorIs(t, err, tc.want)
			if f != nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want it to mention %q", err, tc.msg)
			}
		})
	}
}

// TestDecodeHandBuiltValues checks that a file built from FORMAT.md alone
// decodes to the values put in.
func TestDecodeHandBuiltValues(t *testing.T) {
	data := rawFile{
		header: `{"format_version":1,"kind":"raw","model":{"d":2},"float16":true}`,
		entries: []rawEntry{
			{name: "w", code: 2, dims: []uint64{2}, n: 4},
			{name: "step", code: 4, off: 4, n: 8},
		},
		payload: []byte{0x00, 0x3c, 0x00, 0xc0, 0x2a, 0, 0, 0, 0, 0, 0, 0},
	}.build()
	f, err := Decode(data, "raw")
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.Kind != "raw" || !f.Header.Float16 || string(f.Header.Model) != `{"d":2}` {
		t.Errorf("header %+v", f.Header)
	}
	w, _ := f.Tensor("w")
	if v, err := w.Float32s(); err != nil || len(v) != 2 || v[0] != 1 || v[1] != -2 {
		t.Errorf("w = %v %v", v, err)
	}
	s, _ := f.Tensor("step")
	if v, err := s.Int64s(); err != nil || len(v) != 1 || v[0] != 42 || s.Shape != nil {
		t.Errorf("step = %v %v %v", v, err, s.Shape)
	}
}

// TestDecodeHugeHeader: a header over MaxHeaderSize is rejected by its size.
func TestDecodeHugeHeader(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 16 MiB")
	}
	h := make([]byte, MaxHeaderSize+1)
	for i := range h {
		h[i] = ' '
	}
	h[0] = '{'
	_, err := Decode(rawFile{header: string(h)}.build(), "big")
	errorIs(t, err, ErrTooLarge)
}

// TestDecodeBombMemory: a small payload that inflates to 256 MiB, declared
// as 1 KiB, is rejected without allocating anywhere near 256 MiB.
func TestDecodeBombMemory(t *testing.T) {
	data := rawFile{
		entries:  []rawEntry{{name: "w", code: 7, dims: []uint64{1024}, n: 1024}},
		zpayload: rleBomb(2048), rawLen: u64(1024),
	}.build()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Decode(data, "bomb")
	runtime.ReadMemStats(&after)
	errorIs(t, err, ErrCorrupt)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("decoding the bomb allocated %d MiB", alloc>>20)
	}
}

// TestDecodeGenuineHighRatio: the same RLE stream declared at its true size
// (exactly MaxCompressionRatio × compressed bytes, minus headers) decodes.
func TestDecodeGenuineHighRatio(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 32 MiB")
	}
	const blocks = 256 // 32 MiB
	data := rawFile{
		entries:  []rawEntry{{name: "zeros", code: 7, dims: []uint64{blocks << 17}, n: blocks << 17}},
		zpayload: rleBomb(blocks), rawLen: u64(blocks << 17),
	}.build()
	f, err := Decode(data, "rle")
	if err != nil {
		t.Fatal(err)
	}
	if d := f.Tensors[0].Data; len(d) != blocks<<17 || d[0] != 0 || d[len(d)-1] != 0 {
		t.Errorf("got %d bytes", len(d))
	}
}

// rleBomb writes a zstd frame by hand: no content size, 128 KiB window, and
// n RLE blocks each expanding one zero byte to 128 KiB (4 bytes per block).
func rleBomb(n int) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3}
	for i := range n {
		last := uint32(0)
		if i == n-1 {
			last = 1
		}
		hdr := last | 1<<1 | (128<<10)<<3 // last flag, type RLE, size
		b = append(b, byte(hdr), byte(hdr>>8), byte(hdr>>16), 0)
	}
	return b
}

// bigWindowFrame is a zstd frame header declaring a 16 MiB window, above
// MaxWindowSize, followed by one empty raw block.
func bigWindowFrame() []byte {
	return []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, (24 - 10) << 3, 0x01, 0x00, 0x00}
}
