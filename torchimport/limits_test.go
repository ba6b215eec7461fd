package torchimport

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/swav-go/swav/internal/userfile"
)

// measure runs f and returns the bytes it allocated and how long it took.
func measure(f func()) (allocated uint64, took time.Duration) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took = time.Since(start)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, took
}

// TestDefaultFileCap checks the documented default against the largest released SwAV
// model, and that a file over the cap is refused from its size alone: a sparse file of
// DefaultMaxFileBytes+1 bytes is refused at once, without reading it.
func TestDefaultFileCap(t *testing.T) {
	const rn50w5 = 2_350_000_000 // swav_RN50w5_400ep_pretrain.pth.tar, about 2.3 GB
	if DefaultMaxFileBytes < rn50w5*3/2 {
		t.Fatalf("DefaultMaxFileBytes %d leaves too little room above ResNet-50-w5 (%d bytes)", DefaultMaxFileBytes, rn50w5)
	}
	p := filepath.Join(t.TempDir(), "huge.pth.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("PK\x03\x04"))
	if err := f.Truncate(DefaultMaxFileBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var rerr error
	alloc, took := measure(func() { _, rerr = ReadStateDict(p) })
	if !errors.Is(rerr, ErrTooLarge) || !errors.Is(rerr, userfile.ErrTooLarge) || !strings.Contains(rerr.Error(), p) {
		t.Fatalf("error %v, want ErrTooLarge naming %s", rerr, p)
	}
	if alloc > 1<<20 || took > 2*time.Second {
		t.Fatalf("refusing took %v and allocated %d bytes", took, alloc)
	}
	t.Log(rerr)
}

// TestReadOptionsFileCap checks MaxFileBytes: a smaller cap refuses a fixture, a
// negative one lifts the cap, and ConvertFile passes its ReadOptions on.
func TestReadOptionsFileCap(t *testing.T) {
	fi, err := os.Stat(fixture("tensors.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStateDictWith(fixture("tensors.pt"), ReadOptions{MaxFileBytes: fi.Size() - 1}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("cap one byte below the file: %v", err)
	}
	for _, max := range []int64{fi.Size(), -1} {
		if _, err := ReadStateDictWith(fixture("tensors.pt"), ReadOptions{MaxFileBytes: max}); err != nil {
			t.Errorf("cap %d: %v", max, err)
		}
	}
	err = ConvertFile(fixture("swav_basic_nobn.pt"), filepath.Join(t.TempDir(), "o.swav"), ConvertOptions{Read: ReadOptions{MaxFileBytes: 1000}})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "the limit is 1000") {
		t.Errorf("ConvertFile with a 1000-byte cap: %v", err)
	}
}

// TestReadTensorBudget checks MaxTensorBytes on a real file: the fixture needs its
// storages plus their float32 copies; one byte less is refused.
func TestReadTensorBudget(t *testing.T) {
	sd := readFixture(t, "tensors.pt")
	// Every storage of tensors.pt backs one tensor except shared ones; find the exact
	// need by bisection, then check both sides of it.
	need := int64(0)
	for _, v := range sd {
		need += 4 * int64(len(v.Data))
	}
	lo, hi := need, need*4+1<<20 // the storages add at most 8 bytes per element
	if _, err := ReadStateDictWith(fixture("tensors.pt"), ReadOptions{MaxTensorBytes: hi}); err != nil {
		t.Fatalf("budget %d: %v", hi, err)
	}
	if _, err := ReadStateDictWith(fixture("tensors.pt"), ReadOptions{MaxTensorBytes: lo - 1}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("budget below the float32 data alone: %v", err)
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if _, err := ReadStateDictWith(fixture("tensors.pt"), ReadOptions{MaxTensorBytes: mid}); err == nil {
			hi = mid
		} else {
			lo = mid
		}
	}
	_, err := ReadStateDictWith(fixture("tensors.pt"), ReadOptions{MaxTensorBytes: lo})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "MaxTensorBytes") || !strings.Contains(err.Error(), fixture("tensors.pt")) {
		t.Fatalf("budget %d, one byte short: %v", lo, err)
	}
	t.Logf("tensors.pt needs %d bytes (%d of float32 data)", hi, need)
}

// TestReadSharedStorageBomb reads a small archive whose thousands of keys all
// broadcast one stored value to a million elements: 8 GiB of float32 from a file of a
// few hundred KiB. The default budget (three times the file plus 64 MiB) refuses it
// from the pickle alone, before reading or decoding anything.
func TestReadSharedStorageBomb(t *testing.T) {
	p := &pk{}
	p.op(0x80, 2, '}', '(')
	for i := 0; i < 2048; i++ {
		p.str("w" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)))
		p.global("torch._utils", "_rebuild_tensor_v2").op('(')
		p.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(1).op('t', 'Q')
		p.int(0).ints(1<<20).ints(0).op(0x89, '}', 't', 'R')
	}
	p.op('u', '.')
	path := writeTemp(t, "bomb.pt", torchZip(t, map[string][]byte{"a/data.pkl": p.Bytes(), "a/data/0": {0, 0, 128, 63}}))
	var err error
	alloc, took := measure(func() { _, err = ReadStateDict(path) })
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "MaxTensorBytes") || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v, want ErrTooLarge naming the file", err)
	}
	if alloc > 16<<20 || took > 5*time.Second {
		t.Fatalf("refusing took %v and allocated %d MiB", took, alloc>>20)
	}
	t.Logf("%v (allocated %d KiB in %v)", err, alloc>>10, took)
}

// repeat is an io.Reader of n bytes repeating pattern.
type repeat struct {
	pattern []byte
	n, i    int64
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.i >= r.n {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && r.i < r.n {
		p[k] = r.pattern[r.i%int64(len(r.pattern))]
		k++
		r.i++
	}
	return k, nil
}

// TestReadPickleMemoryBomb reads an archive whose deflated data.pkl is a list of 8
// million empty dicts: 16 MiB of pickle from 16 KiB of file, which decoded would take
// about a gigabyte (a 256 MiB one, from 256 KiB, thirty). The pickle's memory budget (256 MiB) stops it.
func TestReadPickleMemoryBomb(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "a/data.pkl", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte{0x80, 2, ']'})
	if _, err := io.Copy(w, &repeat{pattern: []byte("}a"), n: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte{'.'})
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := writeTemp(t, "pickle-bomb.pt", buf.Bytes())
	var rerr error
	alloc, took := measure(func() { _, rerr = ReadStateDict(path) })
	if !errors.Is(rerr, ErrTooLarge) || !strings.Contains(rerr.Error(), "pickle") || !strings.Contains(rerr.Error(), path) {
		t.Fatalf("error %v, want ErrTooLarge naming the file", rerr)
	}
	if alloc > 2*maxPickleMemory || took > 20*time.Second {
		t.Fatalf("refusing took %v and allocated %d MiB", took, alloc>>20)
	}
	t.Logf("%d-byte file: %v (allocated %d MiB in %v)", buf.Len(), rerr, alloc>>20, took)
}

// TestReadZipDirectoryBomb reads an archive whose directory exceeds maxZipDirectory
// (archive/zip allocates for every record it lists): refused with ErrTooLarge.
func TestReadZipDirectoryBomb(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	name := strings.Repeat("n", 60000)
	for i := 0; len(name)*i < maxZipDirectory+len(name); i++ {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: "a/" + name + string(rune('a'+i%26)) + string(rune('a'+i/26)), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := zw.Create("a/data.pkl")
	w.Write([]byte{0x80, 2, '}', '.'})
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := writeTemp(t, "many.pt", buf.Bytes())
	var err error
	alloc, took := measure(func() { _, err = ReadStateDict(path) })
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "directory") || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v, want ErrTooLarge for the directory", err)
	}
	if alloc > 4*maxZipDirectory || took > 10*time.Second {
		t.Fatalf("refusing took %v and allocated %d MiB", took, alloc>>20)
	}
}

// TestUnpicklerBudget checks the unpickler's memory accounting on small budgets:
// each kind of allocation is charged and stops the read once the budget is spent.
func TestUnpicklerBudget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pickle string
		budget int64
	}{
		{"dicts in a list", "]" + strings.Repeat("}a", 10000) + ".", 100000},
		{"strings", "]" + strings.Repeat("X\x00\x01\x00\x00"+strings.Repeat("s", 256)+"a", 1000) + ".", 100000},
		{"memo entries", "N" + strings.Repeat("\x94", 100000) + ".", 100000},
		{"tuples of memo refs", "]q\x00" + strings.Repeat("("+strings.Repeat("h\x00", 10)+"tq\x00", 20000) + ".", 100000},
		{"deep stack", strings.Repeat("N", 100000) + ".", 100000},
		{"globals", "]" + strings.Repeat("cm\nn\na", 10000) + ".", 100000},
	} {
		u := &unpickler{r: bufioReader(tc.pickle), mem: newBudget(tc.budget, "test values")}
		_, err := u.load()
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "test values") {
			t.Errorf("%s: error %v, want ErrTooLarge", tc.name, err)
		}
		// The same pickle fits a budget large enough (except the unbalanced ones).
		u = &unpickler{r: bufioReader(tc.pickle), mem: newBudget(1<<30, "test values")}
		if _, err := u.load(); errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: a 1 GiB budget: %v", tc.name, err)
		}
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
