package checkpoint

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"unicode/utf8"

	"github.com/swav-go/swav/internal/userfile"
)

// Magic is the 8-byte signature every checkpoint file starts with.
const Magic = "SWAVCKPT"

// FormatVersion is the version of the byte layout written by Encode and the
// only version Decode accepts.
const FormatVersion = 1

// Limits enforced by both Encode and Decode. A file that Encode writes is
// always accepted by Decode.
const (
	// MaxHeaderSize is the largest JSON header, in bytes.
	MaxHeaderSize = 16 << 20
	// MaxTableSize is the largest tensor table, in bytes.
	MaxTableSize = 64 << 20
	// MaxTensors is the largest number of tensors in one file.
	MaxTensors = 1 << 20
	// MaxNameLen is the longest tensor name, in bytes of UTF-8.
	MaxNameLen = 1024
	// MaxRank is the largest number of dimensions of a tensor.
	MaxRank = 8
	// MaxPayloadSize is the format's hard cap on the uncompressed tensor
	// payload (the sum of all tensors' data), in bytes: Encode writes no
	// more, and no reader option raises it. It is also the largest single
	// dimension. Readers apply a lower, configurable cap on top of it,
	// ReadOptions.MaxTensorBytes (DefaultMaxTensorBytes by default).
	MaxPayloadSize = 16 << 30
	// MaxCompressionRatio bounds the declared uncompressed payload size by
	// the compressed size: uncompressed <= compressed*MaxCompressionRatio.
	// It is the structural maximum of zstd (a 4-byte RLE block expands to at
	// most 128 KiB), so every genuine zstd stream satisfies it, including
	// payloads of all-zero tensors. It is only a sanity check: a 512 KiB
	// payload may still legally declare 16 GiB, which is why readers also
	// cap the declared size itself (ReadOptions.MaxTensorBytes).
	MaxCompressionRatio = 32768
	// MaxWindowSize is the largest zstd window a payload may use.
	MaxWindowSize = 8 << 20
)

// Sentinel errors. Every error returned by Decode, DecodeWith, DecodeInfo,
// Load, LoadWith and ReadInfo wraps exactly one of ErrBadMagic, ErrVersion,
// ErrTruncated, ErrChecksum, ErrCorrupt or ErrTooLarge, except that the
// functions reading a path may also return ErrNotRegular or an I/O error
// from opening or reading the file, and that an error returned by a
// ReadOptions.Validate hook is passed on as it is (wrapped with the name).
// Negative ReadOptions limits, and invalid arguments to Encode, Save and
// the Tensor accessors, are reported with ErrInvalid.
var (
	// ErrBadMagic means the data does not start with Magic: it is not a
	// checkpoint file.
	ErrBadMagic = errors.New("not a checkpoint file (bad magic)")
	// ErrVersion means the file has a format version this package does not
	// read.
	ErrVersion = errors.New("unsupported format version")
	// ErrTruncated means the data is shorter than the file declares itself
	// to be (including an empty file).
	ErrTruncated = errors.New("truncated file")
	// ErrChecksum means the trailing SHA-256 does not match the contents.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrCorrupt means the checksum is valid but the contents are not a
	// well-formed checkpoint: malformed header JSON, a tensor table that
	// disagrees with the payload, duplicate names, invalid zstd data, ...
	ErrCorrupt = errors.New("corrupt file")
	// ErrTooLarge means the file, or a declared size or dimension, exceeds
	// one of the documented limits (including the reader's
	// ReadOptions.MaxFileBytes and MaxTensorBytes), or a declared
	// uncompressed size exceeds what the compressed payload can justify
	// (see MaxCompressionRatio).
	ErrTooLarge = errors.New("size exceeds limits")
	// ErrNotRegular means a path given to Load, LoadWith or ReadInfo is not
	// a regular file (a directory, named pipe, device or socket, after
	// following symbolic links). Such paths are refused by their mode,
	// before anything is read, so a named pipe cannot block the caller and
	// a device such as /dev/zero cannot be read without end.
	ErrNotRegular = userfile.ErrNotRegular
	// ErrInvalid means an argument to Encode, Save or a Tensor method is
	// invalid (unknown dtype, shape that disagrees with the data, duplicate
	// tensor names, wrong dtype for the accessor, ...).
	ErrInvalid = errors.New("invalid argument")
)

// Byte offsets and sizes of the fixed prefix.
const (
	offVersion     = 8
	offHeaderLen   = 12
	offTableLen    = 16
	offTensorCount = 20
	offRawLen      = 24
	offZstdLen     = 32
	prefixSize     = 40
	checksumSize   = 32 // SHA-256
	// minEntrySize is the smallest tensor table entry: a one-byte name and
	// rank 0 (name length, name, dtype, rank, offset, byte length).
	minEntrySize = 2 + 1 + 1 + 1 + 8 + 8
)

// dtypeCodes maps each DType to its one-byte code in the tensor table.
var dtypeCodes = map[DType]byte{
	Float32: 1,
	Float16: 2,
	Float64: 3,
	Int64:   4,
	Int32:   5,
	Uint64:  6,
	Uint8:   7,
}

// dtypeFromCode is the inverse of dtypeCodes; the zero DType means unknown.
func dtypeFromCode(c byte) DType {
	for d, code := range dtypeCodes {
		if code == c {
			return d
		}
	}
	return ""
}

// numElements returns the number of elements of a tensor with the given
// dimensions. Each dimension must be at most MaxPayloadSize and, when no
// dimension is zero, so must the product; violations wrap ErrTooLarge.
func numElements(dims []uint64) (uint64, error) {
	n := uint64(1)
	zero := false
	for i, d := range dims {
		if d > MaxPayloadSize || d > math.MaxInt {
			return 0, fmt.Errorf("%w: dimension %d is %d (limit %d)", ErrTooLarge, i, d, uint64(MaxPayloadSize))
		}
		if d == 0 {
			zero = true
		}
	}
	if zero {
		return 0, nil
	}
	for _, d := range dims {
		hi, lo := bits.Mul64(n, d)
		if hi != 0 || lo > MaxPayloadSize {
			return 0, fmt.Errorf("%w: shape %v has more than %d elements", ErrTooLarge, dims, uint64(MaxPayloadSize))
		}
		n = lo
	}
	return n, nil
}

// byteSize returns the number of bytes of a tensor of the given dtype and
// dimensions, wrapping ErrTooLarge when it exceeds MaxPayloadSize.
func byteSize(dt DType, dims []uint64) (uint64, error) {
	n, err := numElements(dims)
	if err != nil {
		return 0, err
	}
	size := n * uint64(dt.Size()) // n <= 2^34 and Size <= 8: no overflow
	if size > MaxPayloadSize {
		return 0, fmt.Errorf("%w: %s tensor of shape %v is %d bytes (limit %d)", ErrTooLarge, dt, dims, size, uint64(MaxPayloadSize))
	}
	return size, nil
}

// checkName validates a tensor name; the returned error does not wrap a
// sentinel (callers add ErrInvalid or ErrCorrupt/ErrTooLarge).
func checkName(name string) (tooLong bool, err error) {
	switch {
	case name == "":
		return false, errors.New("empty tensor name")
	case len(name) > MaxNameLen:
		return true, fmt.Errorf("tensor name of %d bytes exceeds %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return false, fmt.Errorf("tensor name %q is not valid UTF-8", name)
	}
	return false, nil
}
