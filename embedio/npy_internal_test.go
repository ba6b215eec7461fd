package embedio

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"codeberg.org/sbinet/npyio/npy"
)

func TestNPYHeaderFixedSizeAndAligned(t *testing.T) {
	dims := []int{1, 3, 128, 2048, 1 << 20}
	rows := []int{0, 1, 9, 10, 12345, math.MaxInt32, math.MaxInt}
	for _, dim := range dims {
		size := npyHeaderSize(dim)
		if size%64 != 0 {
			t.Errorf("dim %d: header size %d is not a multiple of 64", dim, size)
		}
		for _, n := range rows {
			h, err := npyHeader(n, dim, size)
			if err != nil {
				t.Fatalf("npyHeader(%d, %d, %d): %v", n, dim, size, err)
			}
			if len(h) != size {
				t.Errorf("npyHeader(%d, %d): %d bytes, want %d", n, dim, len(h), size)
			}
			if got := int(binary.LittleEndian.Uint16(h[8:10])); got != size-10 {
				t.Errorf("npyHeader(%d, %d): header length field %d, want %d", n, dim, got, size-10)
			}
			if h[len(h)-1] != '\n' {
				t.Errorf("npyHeader(%d, %d): last byte %q, want '\\n'", n, dim, h[len(h)-1])
			}
			r, err := npy.NewReader(bytes.NewReader(h))
			if err != nil {
				t.Fatalf("npy.NewReader on header (%d, %d): %v", n, dim, err)
			}
			if r.Header.Major != 1 || r.Header.Minor != 0 {
				t.Errorf("version %d.%d, want 1.0", r.Header.Major, r.Header.Minor)
			}
			if r.Header.Descr.Type != "'<f4'" || r.Header.Descr.Fortran {
				t.Errorf("descr %q fortran %v, want '<f4' and false", r.Header.Descr.Type, r.Header.Descr.Fortran)
			}
			if s := r.Header.Descr.Shape; len(s) != 2 || s[0] != n || s[1] != dim {
				t.Errorf("shape %v, want [%d %d]", s, n, dim)
			}
		}
	}
}

func TestNPYHeaderTooSmall(t *testing.T) {
	if _, err := npyHeader(1000, 3, 64); err == nil {
		t.Error("npyHeader into too small a size: no error")
	}
}
