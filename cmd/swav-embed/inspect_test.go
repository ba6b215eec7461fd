package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/swav-go/swav/checkpoint"
)

// inspect runs "swav-embed inspect args..." in-process and returns its
// standard output, the bytes it allocated and how long it took.
func inspect(t *testing.T, args ...string) (string, uint64, time.Duration, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetArgs(append([]string{"inspect"}, args...))
	root.SetOut(&out)
	root.SetErr(&bytes.Buffer{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	err := root.ExecuteContext(context.Background())
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return out.String(), after.TotalAlloc - before.TotalAlloc, elapsed, err
}

// bombHeader is the header of the files bomb writes.
const bombHeader = `{"format_version":1,"kind":"swav-model","model":{"arch":"resnet50","width_multiplier":5},"float16":false}`

// bomb writes, byte by byte as checkpoint/FORMAT.md lays it out, a
// checkpoint whose one float32 tensor "prototypes.weight" of shape
// [rows, cols] legally declares 4·rows·cols bytes (a multiple of 128 KiB),
// with a payload of hand-written zstd RLE blocks that really inflates that
// far (one zero byte to 128 KiB per 4-byte block) and a valid checksum: a
// 4 GiB declaration takes 128 KiB, 16 GiB 512 KiB.
func bomb(t *testing.T, rows, cols uint64) string {
	t.Helper()
	raw := 4 * rows * cols
	var table []byte
	table = binary.LittleEndian.AppendUint16(table, uint16(len("prototypes.weight")))
	table = append(table, "prototypes.weight"...)
	table = append(table, 1, 2) // float32, rank 2
	table = binary.LittleEndian.AppendUint64(table, rows)
	table = binary.LittleEndian.AppendUint64(table, cols)
	table = binary.LittleEndian.AppendUint64(table, 0)   // offset
	table = binary.LittleEndian.AppendUint64(table, raw) // bytes
	// zstd frame: magic, descriptor (no checksum, no content size), window
	// 128 KiB, then RLE blocks of 128 KiB, the last one flagged.
	z := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3}
	blocks := int(raw >> 17)
	for i := range blocks {
		hdr := uint32(1<<1 | (128<<10)<<3) // RLE, 128 KiB
		if i == blocks-1 {
			hdr |= 1
		}
		z = append(z, byte(hdr), byte(hdr>>8), byte(hdr>>16), 0)
	}
	b := []byte("SWAVCKPT")
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(bombHeader)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(table)))
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint64(b, raw)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(z)))
	b = append(b, bombHeader...)
	b = append(b, table...)
	b = append(b, z...)
	sum := sha256.Sum256(b)
	b = append(b, sum[:]...)
	path := filepath.Join(t.TempDir(), fmt.Sprintf("bomb-%dx%d.swav", rows, cols))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInspectBomb: inspect of files of 128 KiB and 512 KiB that declare
// 4 GiB and 16 GiB of tensors (the second above what a full load accepts
// by default) prints the header and the table and succeeds in well under a
// second with under 4 MiB allocated. Before, the 4 GiB one took 10.5 GB of
// memory and the 16 GiB one a fatal out-of-memory.
func TestInspectBomb(t *testing.T) {
	var indented bytes.Buffer
	if err := json.Indent(&indented, []byte(bombHeader), "", "  "); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ rows, cols uint64 }{{65536, 16384}, {65536, 65536}} {
		path := bomb(t, tc.rows, tc.cols)
		if fi, err := os.Stat(path); err != nil || fi.Size() > int64(4*tc.rows*tc.cols/32768+1024) {
			t.Fatalf("bomb file: %v, %v", fi, err)
		}
		out, alloc, elapsed, err := inspect(t, "--tensors", path)
		t.Logf("%d MiB declared: %v in %v, %d KiB allocated", 4*tc.rows*tc.cols>>20, err, elapsed, alloc>>10)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%s\n%-60s %-8s [%d %d]\n1 tensors, %d values\n", indented.String(), "prototypes.weight", "float32", tc.rows, tc.cols, tc.rows*tc.cols)
		if out != want {
			t.Errorf("output:\n%s\nwant:\n%s", out, want)
		}
		if alloc > 4<<20 || elapsed > 2*time.Second {
			t.Errorf("%d KiB allocated in %v, want < 4 MiB and < 2 s", alloc>>10, elapsed)
		}
	}
}

// TestInspectOutputUnchanged: inspect prints what it printed when it
// decoded the whole file: the header as indented JSON, with --tensors one
// line per tensor, and the totals, here computed from a full
// checkpoint.Load of the same files.
func TestInspectOutputUnchanged(t *testing.T) {
	for _, path := range []string{"../../infer/testdata/tiny.swav", "../../checkpoint/testdata/small.swav", "../../checkpoint/testdata/small_f16.swav"} {
		f, err := checkpoint.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := json.MarshalIndent(f.Header, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		var lines strings.Builder
		total := 0
		for _, ten := range f.Tensors {
			n, err := ten.NumElements()
			if err != nil || n*ten.DType.Size() != len(ten.Data) {
				t.Fatalf("%s: %d elements for %d bytes, %v", ten.Name, n, len(ten.Data), err)
			}
			total += n
			fmt.Fprintf(&lines, "%-60s %-8s %v\n", ten.Name, ten.DType, ten.Shape)
		}
		summary := fmt.Sprintf("%d tensors, %d values\n", len(f.Tensors), total)
		for _, withTensors := range []bool{false, true} {
			args, want := []string{path}, string(hdr)+"\n"+summary
			if withTensors {
				args, want = []string{"--tensors", path}, string(hdr)+"\n"+lines.String()+summary
			}
			out, _, _, err := inspect(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			if out != want {
				t.Errorf("inspect %v:\n%s\nwant:\n%s", args, out, want)
			}
		}
	}
}

// TestInspectDamaged: a flipped byte in the payload, which inspect never
// inflates, is still caught by the checksum; a truncated file and a missing
// one fail naming the file.
func TestInspectDamaged(t *testing.T) {
	good, err := os.ReadFile("../../checkpoint/testdata/small.swav")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-40] ^= 0x40 // inside the payload
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"flipped.swav", flipped, checkpoint.ErrChecksum},
		{"cut.swav", good[:len(good)-1], checkpoint.ErrTruncated},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := inspect(t, path); !errors.Is(err, c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("inspect %s: %v, want %v naming the file", c.name, err, c.want)
		}
	}
	missing := filepath.Join(dir, "missing.swav")
	if _, _, _, err := inspect(t, missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("inspect of a missing file: %v", err)
	}
}
