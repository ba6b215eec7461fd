package dataset_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/internal/hostile"
	"github.com/swav-go/swav/internal/userfile"
)

// idxWithin runs IDX on images (no labels) and fails the test if it does
// not return within 5 s (a FIFO would block an unguarded open forever).
func idxWithin(t *testing.T, images string, opts dataset.IDXOptions) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := dataset.IDXWithOptions(images, "", opts); done <- err }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("IDX(%s) still blocked after 5 s", images)
		return nil
	}
}

func TestIDXRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero-images-idx3-ubyte")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo-images-idx3-ubyte.gz")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, reason := range map[string]string{zero: "character device", fifo: "named pipe", dir: "directory"} {
		start := time.Now()
		err := idxWithin(t, path, dataset.IDXOptions{})
		if !errors.Is(err, userfile.ErrNotRegular) || !strings.HasPrefix(err.Error(), "idx "+path+": ") || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: err = %v, want ErrNotRegular naming the path and %q", path, err, reason)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: refused after %v", path, d)
		}
	}
}

func TestIDXSizeLimits(t *testing.T) {
	dir := t.TempDir()
	// A sparse 4 GiB file is refused from its size, without reading.
	huge := filepath.Join(dir, "huge-images-idx3-ubyte")
	if err := os.WriteFile(huge, idxBytes([]uint32{65536, 256, 256}, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 16+1<<32); err != nil {
		t.Fatal(err)
	}
	var err error
	start := time.Now()
	alloc := hostile.Allocated(func() { err = idxWithin(t, huge, dataset.IDXOptions{}) })
	if !errors.Is(err, userfile.ErrTooLarge) || !strings.Contains(err.Error(), huge) || !strings.Contains(err.Error(), "4294967312 bytes") {
		t.Errorf("4 GiB file: err = %v, want ErrTooLarge naming the file and its size", err)
	}
	if d := time.Since(start); d > time.Second || alloc > 1<<20 {
		t.Errorf("4 GiB file refused after %v and %d bytes allocated", d, alloc)
	}

	// MaxBytes bounds the file (16-byte header + 18 data bytes) and the
	// declared data; both limits are inclusive.
	tiny := writeFile(t, dir, "tiny", idxBytes([]uint32{3, 2, 3}, tinyPix))
	if err := idxWithin(t, tiny, dataset.IDXOptions{MaxBytes: 34}); err != nil {
		t.Errorf("MaxBytes 34: %v", err)
	}
	if err := idxWithin(t, tiny, dataset.IDXOptions{MaxBytes: 33}); !errors.Is(err, userfile.ErrTooLarge) {
		t.Errorf("MaxBytes 33: err = %v, want the file refused", err)
	}
	// A 40-byte gzip file of 1,000 zero pixels.
	flat := writeFile(t, dir, "flat.gz", gz(t, idxBytes([]uint32{10, 10, 10}, make([]byte, 1000))))
	if err := idxWithin(t, flat, dataset.IDXOptions{MaxBytes: 1000}); err != nil {
		t.Errorf("gzip, MaxBytes 1000: %v", err)
	}
	err = idxWithin(t, flat, dataset.IDXOptions{MaxBytes: 999})
	if !errors.Is(err, dataset.ErrIDX) || !strings.Contains(err.Error(), "declare 1000 data bytes, over the limit of 999 (IDXOptions.MaxBytes)") {
		t.Errorf("gzip, MaxBytes 999: err = %v, want the declared data refused", err)
	}
}

func TestIDXGzipBombs(t *testing.T) {
	dir := t.TempDir()
	// A 100-byte gzip file whose header declares Fashion-MNIST's 47 MB: no
	// deflate stream that short can hold it, so nothing is allocated.
	liar := writeFile(t, dir, "liar.gz", gz(t, idxBytes([]uint32{60000, 28, 28}, []byte{1, 2, 3})))
	var err error
	alloc := hostile.Allocated(func() { err = idxWithin(t, liar, dataset.IDXOptions{}) })
	if !errors.Is(err, dataset.ErrIDX) || !strings.Contains(err.Error(), "47040000 data bytes, more than a") {
		t.Errorf("lying header: err = %v, want it refused from the file size", err)
	}
	if alloc > 1<<20 {
		t.Errorf("lying header: %d bytes allocated", alloc)
	}

	// A gzip file declaring 1,000 bytes but inflating to 16 MiB of zeros
	// (16 KB compressed) is refused after reading 1,001 of them.
	bomb := writeFile(t, dir, "bomb.gz", gz(t, idxBytes([]uint32{10, 10, 10}, make([]byte, 16<<20))))
	start := time.Now()
	alloc = hostile.Allocated(func() { err = idxWithin(t, bomb, dataset.IDXOptions{}) })
	if !errors.Is(err, dataset.ErrIDX) || !strings.Contains(err.Error(), "need 1000 data bytes, but the gzip stream holds more") {
		t.Errorf("gzip bomb: err = %v", err)
	}
	if d := time.Since(start); d > time.Second || alloc > 1<<20 {
		t.Errorf("gzip bomb refused after %v and %d bytes allocated, want < 1 s and < 1 MiB", d, alloc)
	}
}

func TestIDXHeaderChecksBeforeAllocating(t *testing.T) {
	// An uncompressed file whose header declares 1 GiB but holds 3 bytes
	// is refused from its size.
	dir := t.TempDir()
	var hdr bytes.Buffer
	hdr.Write([]byte{0, 0, 8, 3})
	for _, d := range []uint32{16384, 256, 256} {
		_ = binary.Write(&hdr, binary.BigEndian, d)
	}
	hdr.Write([]byte{1, 2, 3})
	path := writeFile(t, dir, "short", hdr.Bytes())
	var err error
	alloc := hostile.Allocated(func() { err = idxWithin(t, path, dataset.IDXOptions{}) })
	if !errors.Is(err, dataset.ErrIDX) || !strings.Contains(err.Error(), "need 1073741824 data bytes but the file holds 3") {
		t.Errorf("err = %v", err)
	}
	if alloc > 1<<20 {
		t.Errorf("%d bytes allocated", alloc)
	}
}
