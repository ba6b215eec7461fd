package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// allocated returns the bytes f allocates (runtime.MemStats.TotalAlloc) and
// how long it runs. Tests that use it do not run in parallel, so nothing
// else allocates meanwhile.
func allocated(f func()) (uint64, time.Duration) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, elapsed
}

// writeTemp writes data to a file in a fresh temporary directory.
func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// bombFile builds a checkpoint whose one float32 tensor, of the given
// shape, legally declares its full size, and whose payload is a hand-written
// zstd frame of blocks RLE blocks, each inflating one zero byte to 128 KiB:
// 4 bytes of file per 128 KiB declared, within MaxCompressionRatio. The
// checksum is valid. With blocks = declared/128 KiB the payload decodes to
// exactly the declaration (a genuine, if absurd, file); with fewer or more
// it decodes short or long.
func bombFile(shape []uint64, blocks int) []byte {
	n := uint64(4)
	for _, d := range shape {
		n *= d
	}
	return rawFile{
		header:   `{"format_version":1,"kind":"swav-model","float16":false}`,
		entries:  []rawEntry{{name: "prototypes.weight", code: 1, dims: shape, n: n}},
		zpayload: rleBomb(blocks), rawLen: u64(n),
	}.build()
}

const (
	gib4  = 4 << 30
	gib16 = 16 << 30
)

// TestReadInfoGolden: the header-only read of small.swav gives the header of
// goldenFile and the table and sizes that FORMAT.md's example documents.
func TestReadInfoGolden(t *testing.T) {
	want := goldenFile()
	want.Header.FormatVersion = 1
	data := readTestdata(t, "small.swav")
	fromPath, err := ReadInfo(filepath.Join("testdata", "small.swav"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fromBytes, err := DecodeInfo(data, "small.swav", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range []*Info{fromPath, fromBytes} {
		assertHeadersEqual(t, info.Header, want.Header)
		if info.FileSize != 955 || info.CompressedSize != 85 || info.RawSize != 88 {
			t.Errorf("sizes file %d compressed %d raw %d, want 955, 85, 88 (FORMAT.md)", info.FileSize, info.CompressedSize, info.RawSize)
		}
		if len(info.Tensors) != len(want.Tensors) {
			t.Fatalf("%d tensors, want %d", len(info.Tensors), len(want.Tensors))
		}
		for i, w := range want.Tensors {
			g := info.Tensors[i]
			if g.Name != w.Name || g.DType != w.DType || !reflect.DeepEqual(g.Shape, w.Shape) || g.Bytes != int64(len(w.Data)) {
				t.Errorf("tensor %d: got %+v, want %s %s %v of %d bytes", i, g, w.Name, w.DType, w.Shape, len(w.Data))
			}
		}
	}
	// 6+3 float32, 1 int64, 2 uint64, 2 int32, 4 uint8, 2 float64, 0 float32.
	var values int64
	for _, ti := range fromPath.Tensors {
		values += ti.NumElements()
	}
	if values != 20 {
		t.Errorf("%d values, want 20", values)
	}
	if ti, ok := fromPath.Tensor("train.rng"); !ok || ti.DType != Uint64 || ti.Bytes != 16 {
		t.Errorf("Tensor(train.rng) = %+v, %v", ti, ok)
	}
	if _, ok := fromPath.Tensor("missing"); ok {
		t.Error("Tensor(missing) found")
	}
}

// TestReadInfoBomb: files of 128 KiB and 512 KiB whose tables legally
// declare 4 GiB and 16 GiB (the payload really inflates that far, and the
// checksum is valid) are described by the header-only read in well under a
// second and a few hundred KiB of allocation; the 16 GiB one is above the
// default MaxTensorBytes, which ReadInfo applies as Load would.
func TestReadInfoBomb(t *testing.T) {
	bomb4 := bombFile([]uint64{65536, 16384}, gib4>>17)
	bomb16 := bombFile([]uint64{65536, 65536}, gib16>>17)
	if len(bomb4) > 129<<10 || len(bomb16) > 513<<10 {
		t.Fatalf("bombs of %d and %d bytes", len(bomb4), len(bomb16))
	}
	dir := t.TempDir()
	p4, p16 := filepath.Join(dir, "bomb4.swav"), filepath.Join(dir, "bomb16.swav")
	for p, b := range map[string][]byte{p4: bomb4, p16: bomb16} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		path    string
		data    []byte
		opts    ReadOptions
		raw     int64
		wantErr error
	}{
		{"4 GiB, defaults", p4, bomb4, ReadOptions{}, gib4, nil},
		{"16 GiB, defaults", p16, bomb16, ReadOptions{}, gib16, ErrTooLarge},
		{"16 GiB, format cap", p16, bomb16, ReadOptions{MaxTensorBytes: MaxPayloadSize}, gib16, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var info *Info
			var err error
			alloc, elapsed := allocated(func() { info, err = ReadInfo(tc.path, tc.opts) })
			var infoB *Info
			var errB error
			allocB, _ := allocated(func() { infoB, errB = DecodeInfo(tc.data, tc.path, tc.opts) })
			t.Logf("ReadInfo: %v in %v, %d KiB allocated; DecodeInfo: %d KiB", err, elapsed, alloc>>10, allocB>>10)
			if alloc > 1<<20 || allocB > 1<<20 {
				t.Errorf("allocated %d KiB (ReadInfo), %d KiB (DecodeInfo), want < 1 MiB", alloc>>10, allocB>>10)
			}
			if elapsed > 2*time.Second {
				t.Errorf("ReadInfo took %v", elapsed)
			}
			if tc.wantErr != nil {
				errorIs(t, err, tc.wantErr)
				errorIs(t, errB, tc.wantErr)
				if !strings.Contains(err.Error(), "MaxTensorBytes") || !strings.Contains(err.Error(), tc.path) {
					t.Errorf("error %q should name the file and the limit", err)
				}
				return
			}
			if err != nil || errB != nil {
				t.Fatalf("ReadInfo: %v, DecodeInfo: %v", err, errB)
			}
			for _, in := range []*Info{info, infoB} {
				if in.RawSize != tc.raw || in.CompressedSize != int64(len(tc.data)-40-len(`{"format_version":1,"kind":"swav-model","float16":false}`)-(2+17+2+16+16)-32) ||
					in.FileSize != int64(len(tc.data)) || len(in.Tensors) != 1 || in.Tensors[0].Bytes != tc.raw || in.Tensors[0].NumElements() != tc.raw/4 {
					t.Errorf("info %+v", in)
				}
			}
		})
	}
}

// TestLoadBombRefused: Load refuses a declaration above MaxTensorBytes with
// ErrTooLarge, before allocating anything like it, for the default cap (the
// 16 GiB bomb) and a lowered one (the 4 GiB bomb); the Validate hook sees
// the table before any allocation and can refuse too.
func TestLoadBombRefused(t *testing.T) {
	bomb4 := bombFile([]uint64{65536, 16384}, gib4>>17)
	bomb16 := bombFile([]uint64{65536, 65536}, gib16>>17)
	p4, p16 := writeTemp(t, "bomb4.swav", bomb4), writeTemp(t, "bomb16.swav", bomb16)
	errHook := errors.New("prototypes are too many")
	hook := func(in *Info) error {
		if in.RawSize != gib4 || in.Tensors[0].Name != "prototypes.weight" {
			return fmt.Errorf("hook got %+v", in)
		}
		return errHook
	}
	for _, tc := range []struct {
		name string
		path string
		data []byte
		opts ReadOptions
		want error
	}{
		{"16 GiB, default cap", p16, bomb16, ReadOptions{}, ErrTooLarge},
		{"4 GiB, 1 GiB cap", p4, bomb4, ReadOptions{MaxTensorBytes: 1 << 30}, ErrTooLarge},
		{"4 GiB, just under", p4, bomb4, ReadOptions{MaxTensorBytes: gib4 - 1}, ErrTooLarge},
		{"4 GiB, hook refuses", p4, bomb4, ReadOptions{Validate: hook}, errHook},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f *File
			var err error
			alloc, elapsed := allocated(func() { f, err = LoadWith(tc.path, tc.opts) })
			var fB *File
			var errB error
			allocB, _ := allocated(func() { fB, errB = DecodeWith(tc.data, tc.path, tc.opts) })
			t.Logf("LoadWith: %v in %v, %d KiB allocated; DecodeWith: %d KiB", err, elapsed, alloc>>10, allocB>>10)
			if !errors.Is(err, tc.want) || !errors.Is(errB, tc.want) || f != nil || fB != nil {
				t.Fatalf("LoadWith: %v, DecodeWith: %v, want %v and no File", err, errB, tc.want)
			}
			if err.Error() != errB.Error() {
				t.Errorf("LoadWith and DecodeWith disagree:\n%v\n%v", err, errB)
			}
			if alloc > 2<<20 || allocB > 2<<20 {
				t.Errorf("allocated %d KiB (LoadWith), %d KiB (DecodeWith), want < 2 MiB", alloc>>10, allocB>>10)
			}
			if elapsed > 2*time.Second {
				t.Errorf("LoadWith took %v", elapsed)
			}
		})
	}
}

// TestLoadBombOverflow: a table declaring 1 MiB whose payload inflates to
// 4 GiB (and another to 256 MiB inside a 4 MiB declaration, across two
// tensors) fails with ErrCorrupt after decoding one block past the
// declaration, allocating the declared tensors, the zstd decoder and
// little else.
func TestLoadBombOverflow(t *testing.T) {
	two := rawFile{
		entries: []rawEntry{
			{name: "a", code: 1, dims: []uint64{1 << 19}, n: 2 << 20},
			{name: "b", code: 7, dims: []uint64{2 << 20}, off: 2 << 20, n: 2 << 20},
		},
		zpayload: rleBomb(2048), rawLen: u64(4 << 20),
	}.build()
	for _, tc := range []struct {
		name     string
		data     []byte
		declared uint64
	}{
		{"1 MiB declared, 4 GiB inflated", rawFile{
			entries:  []rawEntry{{name: "w", code: 7, dims: []uint64{1 << 20}, n: 1 << 20}},
			zpayload: rleBomb(gib4 >> 17), rawLen: u64(1 << 20),
		}.build(), 1 << 20},
		{"4 MiB declared in two tensors, 256 MiB inflated", two, 4 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "overflow.swav", tc.data)
			var err, errB error
			alloc, elapsed := allocated(func() { _, err = Load(path) })
			allocB, _ := allocated(func() { _, errB = Decode(tc.data, path) })
			t.Logf("Load: %v in %v, %d KiB allocated; Decode: %d KiB", err, elapsed, alloc>>10, allocB>>10)
			errorIs(t, err, ErrCorrupt)
			errorIs(t, errB, ErrCorrupt)
			if !strings.Contains(err.Error(), "more than the declared") {
				t.Errorf("error %q", err)
			}
			// The declared tensors, the decoder (its window is at most
			// 128 KiB here, its buffers at most one block) and the read buffer.
			if limit := tc.declared + 2<<20; alloc > limit || allocB > limit {
				t.Errorf("allocated %d KiB (Load), %d KiB (Decode), want < %d KiB", alloc>>10, allocB>>10, limit>>10)
			}
			if elapsed > 2*time.Second {
				t.Errorf("Load took %v", elapsed)
			}
		})
	}
}

// randomFile is a checkpoint of three float32 tensors of random values
// (incompressible: the file is about as large as the tensors) totalling
// about mib MiB.
func randomFile(t testing.TB, mib int) (*File, []byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	n := mib << 18 // float32 values
	sizes := []int{n / 2, n/2 - 1000, 1000}
	f := &File{Header: Header{Kind: "swav-model"}}
	for i, s := range sizes {
		v := make([]float32, s)
		for j := range v {
			v[j] = rng.Float32()
		}
		f.Tensors = append(f.Tensors, Float32Tensor(fmt.Sprintf("t%d", i), []int{s}, v))
	}
	return f, encodeBytes(t, f, EncodeOptions{Level: 1})
}

// TestLoadPeakMemory: a legal file at a lowered MaxTensorBytes loads with
// total allocation close to the tensors' size (the old whole-file read plus
// a growing payload buffer took about 2.5 times it), decodes to the values
// written, and is refused one byte below its size.
func TestLoadPeakMemory(t *testing.T) {
	want, data := randomFile(t, 24)
	raw := int64(binary.LittleEndian.Uint64(data[24:]))
	path := writeTemp(t, "random.swav", data)
	var f, fB *File
	var err, errB error
	alloc, elapsed := allocated(func() { f, err = LoadWith(path, ReadOptions{MaxTensorBytes: raw}) })
	allocB, _ := allocated(func() { fB, errB = DecodeWith(data, path, ReadOptions{MaxTensorBytes: raw}) })
	t.Logf("%d MiB of tensors in a %d MiB file: LoadWith allocated %d KiB in %v, DecodeWith %d KiB", raw>>20, len(data)>>20, alloc>>10, elapsed, allocB>>10)
	if err != nil || errB != nil {
		t.Fatalf("LoadWith: %v, DecodeWith: %v", err, errB)
	}
	assertTensorsEqual(t, f.Tensors, want.Tensors)
	assertTensorsEqual(t, fB.Tensors, want.Tensors)
	// The tensors, the zstd decoder (an 8 MiB window at most) and the read
	// buffer: well under 1.5× the tensors plus 12 MiB.
	if limit := uint64(raw) + uint64(raw)/2 + 12<<20; alloc > limit || allocB > limit {
		t.Errorf("allocated %d KiB (LoadWith), %d KiB (DecodeWith) for %d KiB of tensors, want < %d KiB", alloc>>10, allocB>>10, raw>>10, limit>>10)
	}
	for _, ten := range f.Tensors {
		if cap(ten.Data) != len(ten.Data) {
			t.Errorf("tensor %s: cap %d, len %d", ten.Name, cap(ten.Data), len(ten.Data))
		}
	}
	_, err = LoadWith(path, ReadOptions{MaxTensorBytes: raw - 1})
	errorIs(t, err, ErrTooLarge)
}

// TestLoadMatchesDecode: for the golden file cut at every length, with each
// byte flipped (checksum kept or recomputed), and for the fuzz seeds, Load
// and ReadInfo of the bytes on disk give exactly what Decode gives (same
// error text, or the same File and table; ReadInfo may only miss zstd
// errors), and so do a one-byte-at-a-time reader and a half-reader, so
// reading in chunks never changes a decision. The cuts must be ErrTruncated
// and the flips past the prefix ErrChecksum, whatever structural error they
// cause: the checksum's precedence holds in the streaming path.
func TestLoadMatchesDecode(t *testing.T) {
	g := readTestdata(t, "small.swav")
	type testCase struct {
		data   []byte
		want   error // nil: only compared with Decode
		onDisk bool  // also Load and ReadInfo it from a file
	}
	var cases []testCase
	// Every case is decoded through chunked readers; the prefix cases, every
	// 8th of the others and the seeds are also written to disk (the file
	// plumbing does not depend on where a byte is; writing 3000 files makes
	// the test slow on a busy machine).
	for i := range len(g) {
		cases = append(cases, testCase{g[:i], ErrTruncated, i < 48 || i%8 == 0})
	}
	for i := range len(g) {
		var want error
		if i >= 40 {
			want = ErrChecksum
		}
		disk := i < 48 || i%8 == 0
		cases = append(cases, testCase{flip(g, i), want, disk}, testCase{reseal(flip(g, i)), nil, disk})
	}
	cases = append(cases, testCase{g, nil, true}, testCase{append(append([]byte(nil), g...), 0), ErrCorrupt, true})
	seeds, err := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	if err != nil || len(seeds) < 15 {
		t.Fatalf("fuzz seeds: %d, %v", len(seeds), err)
	}
	for _, s := range seeds {
		for _, b := range readCorpusEntry(t, s) {
			cases = append(cases, testCase{b, nil, true})
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "case.swav")
	lim, _ := ReadOptions{}.limits()
	for i, tc := range cases {
		data := tc.data
		want, wantErr := Decode(data, path)
		if tc.want != nil {
			errorIs(t, wantErr, tc.want)
		}
		if tc.onDisk {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, gotErr := Load(path)
			sameResult(t, fmt.Sprintf("case %d: Load", i), got, gotErr, want, wantErr)
			info, infoErr := ReadInfo(path, ReadOptions{})
			sameInfo(t, fmt.Sprintf("case %d", i), info, infoErr, want, wantErr)
		}
		info, infoErr := DecodeInfo(data, path, ReadOptions{})
		sameInfo(t, fmt.Sprintf("case %d: DecodeInfo", i), info, infoErr, want, wantErr)
		for name, chunked := range map[string]func(io.Reader) io.Reader{"one-byte": iotest.OneByteReader, "half": iotest.HalfReader} {
			d, err := decodeFrom(chunked(bytes.NewReader(data)), uint64(len(data)), lim, true)
			var f *File
			if err == nil {
				f = &File{Header: d.info.Header, Tensors: d.tensors}
			} else {
				err = fmt.Errorf("checkpoint %s: %w", path, err)
			}
			sameResult(t, fmt.Sprintf("case %d: %s reader", i, name), f, err, want, wantErr)
		}
	}
}

// sameResult fails unless (got, gotErr) equals (want, wantErr): the same
// error text, or Files with equal headers and tensors.
func sameResult(t *testing.T, what string, got *File, gotErr error, want *File, wantErr error) {
	t.Helper()
	switch {
	case wantErr != nil:
		if gotErr == nil || gotErr.Error() != wantErr.Error() || got != nil {
			t.Fatalf("%s: got %v (File %v), want %v", what, gotErr, got != nil, wantErr)
		}
	case gotErr != nil:
		t.Fatalf("%s: got %v, want success", what, gotErr)
	default:
		assertHeadersEqual(t, got.Header, want.Header)
		assertTensorsEqual(t, got.Tensors, want.Tensors)
	}
}

// sameInfo checks a header-only read against the full decode of the same
// bytes: it succeeds with the same header and table when the decode does,
// and otherwise fails with the same error, except that it may succeed when
// only the payload's zstd data is bad (which it does not inflate).
func sameInfo(t *testing.T, what string, info *Info, infoErr error, want *File, wantErr error) {
	t.Helper()
	switch {
	case infoErr != nil:
		if wantErr == nil || infoErr.Error() != wantErr.Error() || info != nil {
			t.Fatalf("%s: ReadInfo: %v, Decode: %v", what, infoErr, wantErr)
		}
	case wantErr != nil:
		if !errors.Is(wantErr, ErrCorrupt) || !strings.Contains(wantErr.Error(), "decompress") && !strings.Contains(wantErr.Error(), "zstd") {
			t.Fatalf("%s: ReadInfo succeeded, Decode: %v", what, wantErr)
		}
	default:
		assertHeadersEqual(t, info.Header, want.Header)
		if len(info.Tensors) != len(want.Tensors) {
			t.Fatalf("%s: %d tensors, want %d", what, len(info.Tensors), len(want.Tensors))
		}
		for j, w := range want.Tensors {
			g := info.Tensors[j]
			if g.Name != w.Name || g.DType != w.DType || !reflect.DeepEqual(g.Shape, w.Shape) || g.Bytes != int64(len(w.Data)) {
				t.Fatalf("%s: tensor %d: %+v, want %s %s %v", what, j, g, w.Name, w.DType, w.Shape)
			}
		}
	}
}

// readCorpusEntry decodes a "go test fuzz v1" file of []byte values.
func readCorpusEntry(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if v, ok := strings.CutPrefix(line, "[]byte("); ok {
			s, err := strconv.Unquote(strings.TrimSuffix(v, ")"))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			out = append(out, []byte(s))
		}
	}
	return out
}

// TestReadOptionsLimits: negative limits are invalid arguments; a lowered
// MaxFileBytes refuses a larger file by its size, from a path or bytes; the
// derived default is what ReadOptions documents.
func TestReadOptionsLimits(t *testing.T) {
	g := readTestdata(t, "small.swav")
	path := filepath.Join("testdata", "small.swav")
	for _, o := range []ReadOptions{{MaxFileBytes: -1}, {MaxTensorBytes: -1}} {
		if _, err := LoadWith(path, o); !errors.Is(err, ErrInvalid) {
			t.Errorf("LoadWith %+v: %v, want ErrInvalid", o, err)
		}
		if _, err := DecodeInfo(g, "g", o); !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodeInfo %+v: %v, want ErrInvalid", o, err)
		}
	}
	small := ReadOptions{MaxFileBytes: int64(len(g)) - 1}
	_, err := ReadInfo(path, small)
	errorIs(t, err, ErrTooLarge)
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "MaxFileBytes") {
		t.Errorf("error %q should name the file and the limit", err)
	}
	_, err = DecodeWith(g, "g", small)
	errorIs(t, err, ErrTooLarge)
	if _, err := LoadWith(path, ReadOptions{MaxFileBytes: int64(len(g))}); err != nil {
		t.Errorf("a file of exactly MaxFileBytes: %v", err)
	}
	lim, err := ReadOptions{}.limits()
	if err != nil || lim.maxTensor != 8<<30 || lim.maxFile != 9_747_562_568 {
		t.Errorf("default limits %+v, %v; want 8 GiB of tensors, 9,747,562,568 file bytes", lim, err)
	}
	lim, _ = ReadOptions{MaxTensorBytes: 1 << 62}.limits()
	if lim.maxTensor != MaxPayloadSize || lim.maxFile != MaxPayloadSize+MaxPayloadSize/8+MaxHeaderSize+MaxTableSize+72 {
		t.Errorf("limits above the format cap: %+v", lim)
	}
}

// TestValidateHook: the hook sees the header and table of a good file and
// its error is returned with the name; on a damaged file the checksum
// error wins.
func TestValidateHook(t *testing.T) {
	g := readTestdata(t, "small.swav")
	refuse := errors.New("no thanks")
	var seen []string
	hook := func(in *Info) error {
		seen = append(seen, fmt.Sprintf("%s/%d/%d", in.Header.Kind, len(in.Tensors), in.RawSize))
		return refuse
	}
	_, err := DecodeWith(g, "g.swav", ReadOptions{Validate: hook})
	if !errors.Is(err, refuse) || err.Error() != "checkpoint g.swav: no thanks" {
		t.Errorf("DecodeWith: %v", err)
	}
	_, err = ReadInfo(filepath.Join("testdata", "small.swav"), ReadOptions{Validate: hook})
	if !errors.Is(err, refuse) {
		t.Errorf("ReadInfo: %v", err)
	}
	if want := []string{"swav-model/8/88", "swav-model/8/88"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("hook saw %v, want %v", seen, want)
	}
	// Damaged payload: the hook runs (the header looks fine) but the
	// checksum error is what is reported.
	_, tableEnd := layout(g)
	_, err = DecodeWith(flip(g, tableEnd+20), "g.swav", ReadOptions{Validate: hook})
	errorIs(t, err, ErrChecksum)
	if errors.Is(err, refuse) {
		t.Errorf("damaged file reported as %v", err)
	}
}
