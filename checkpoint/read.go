package checkpoint

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"

	"github.com/swav-go/swav/internal/userfile"
)

// DefaultMaxTensorBytes is the default ReadOptions.MaxTensorBytes: 8 GiB of
// tensor data. It is sized for the largest released SwAV model, ResNet-50-w5
// (hidden MLP 10240, 128-d output, 3000 prototypes), in float32:
//
//	backbone (convolutions, batch-norm scales and shifts)   586,450,240
//	batch-norm running means and variances                      265,600
//	projection head 10240×10240 + 10240 + 10240×128 + 128   106,178,688
//	prototypes 128×3000                                         384,000
//	total                                                   693,278,528 values
//
// that is 2,773,114,112 bytes (2.58 GiB) for the weights alone. A training
// checkpoint adds the optimiser state: with one momentum slot per weight
// (SGD, LARS) it is 5.55 GB, with two (Adam) 8.32 GB, both under 8 GiB
// (8,589,934,592 bytes), which therefore loads every such checkpoint while
// refusing, before allocating, a file that declares more.
const DefaultMaxTensorBytes = 8 << 30

// ReadOptions bounds what the reading functions accept. The zero value
// gives the defaults.
type ReadOptions struct {
	// MaxFileBytes caps the size of the file (of data, for DecodeWith and
	// DecodeInfo), checked before anything is read. Zero means a cap
	// derived from the tensor cap T (MaxTensorBytes after its own default):
	// T + T/8 + MaxHeaderSize + MaxTableSize + 72 bytes (prefix and
	// checksum), which any file a conforming writer produces for tensors of
	// T bytes stays under (zstd adds at most a few bytes per 128 KiB block
	// to incompressible data). With the default T, 9,747,562,568 bytes
	// (9.08 GiB).
	MaxFileBytes int64
	// MaxTensorBytes caps the total bytes of tensor data the tensor table
	// declares (the uncompressed payload, U in FORMAT.md). A file declaring
	// more is refused with ErrTooLarge before anything proportional to it
	// is allocated. Zero means DefaultMaxTensorBytes; values above
	// MaxPayloadSize, the format's own cap, act as MaxPayloadSize.
	MaxTensorBytes int64
	// Validate, if not nil, is called once the header and the tensor table
	// have been read and validated (for LoadWith and DecodeWith: before any
	// tensor buffer is allocated or the payload is inflated; for ReadInfo
	// and DecodeInfo: after the checksum was verified). A non-nil error
	// stops the read; it is returned as it is, prefixed with
	// "checkpoint <name>: ", unless the file turns out to be damaged, which
	// is then reported as ErrChecksum instead. Validate must not modify
	// the Info (its Header is the one the caller receives).
	Validate func(*Info) error
}

// limits are ReadOptions with the defaults applied.
type limits struct {
	maxFile, maxTensor uint64
	validate           func(*Info) error
}

func (o ReadOptions) limits() (limits, error) {
	if o.MaxFileBytes < 0 || o.MaxTensorBytes < 0 {
		return limits{}, fmt.Errorf("%w: negative ReadOptions limit (MaxFileBytes %d, MaxTensorBytes %d)", ErrInvalid, o.MaxFileBytes, o.MaxTensorBytes)
	}
	lim := limits{maxTensor: DefaultMaxTensorBytes, validate: o.Validate}
	if o.MaxTensorBytes > 0 {
		lim.maxTensor = min(uint64(o.MaxTensorBytes), MaxPayloadSize)
	}
	lim.maxFile = lim.maxTensor + lim.maxTensor/8 + MaxHeaderSize + MaxTableSize + prefixSize + checksumSize
	if o.MaxFileBytes > 0 {
		lim.maxFile = uint64(o.MaxFileBytes)
	}
	return lim, nil
}

// Info is what a checkpoint declares, without its tensor data: the header,
// the tensor table and the section sizes.
type Info struct {
	// Header is the decoded JSON header.
	Header Header
	// Tensors describes the tensors, in file order.
	Tensors []TensorInfo
	// FileSize is the size of the whole file, in bytes.
	FileSize int64
	// CompressedSize is the size of the zstd payload, in bytes (C in
	// FORMAT.md).
	CompressedSize int64
	// RawSize is the total size of the tensors' data, the uncompressed
	// payload, in bytes (U in FORMAT.md); a full load allocates this much.
	RawSize int64
}

// Tensor returns the entry of the tensor called name and whether it exists.
func (in *Info) Tensor(name string) (TensorInfo, bool) {
	for _, t := range in.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return TensorInfo{}, false
}

// TensorInfo is one entry of a checkpoint's tensor table: a tensor without
// its data.
type TensorInfo struct {
	Name  string
	DType DType
	// Shape is nil for a scalar (one element).
	Shape []int
	// Bytes is the size of the tensor's data: DType.Size() × the product of
	// Shape.
	Bytes int64
}

// NumElements returns the number of elements of the tensor, Bytes divided
// by the element size (0 for an unknown DType).
func (t TensorInfo) NumElements() int64 {
	if s := t.DType.Size(); s > 0 {
		return t.Bytes / int64(s)
	}
	return 0
}

// ReadInfo reads the header and tensor table of the checkpoint at path
// without inflating its payload, under opts' limits (see ReadOptions).
//
// It validates everything Load validates except the payload's zstd data:
// the file's size and mode, magic, version, section sizes, the limits, the
// SHA-256 checksum, the header and the tensor table, with the same errors
// Load would give. The checksum covers the whole file, so ReadInfo streams
// the payload through SHA-256 without keeping it: memory is bounded by the
// header and table (at most MaxHeaderSize and MaxTableSize, and at most the
// file's size) whatever the payload declares, and time is one read of the
// file (SHA-256 runs at about 1-2 GB/s). The returned Info is therefore as
// trustworthy as a full load's, short of the payload decompressing to
// exactly the declared bytes, which only Load and Decode check.
//
// Paths that are not regular files are refused with ErrNotRegular, and
// files above ReadOptions.MaxFileBytes with ErrTooLarge, both before
// anything is read.
func ReadInfo(path string, opts ReadOptions) (*Info, error) {
	d, err := readPath(path, opts, false)
	if err != nil {
		return nil, err
	}
	return d.info, nil
}

// DecodeInfo is ReadInfo for a checkpoint held in data; name is used in
// errors ("checkpoint <name>: ..."). It does not allocate anything
// proportional to the payload, and verifies the checksum over data.
func DecodeInfo(data []byte, name string, opts ReadOptions) (*Info, error) {
	d, err := decodeBytes(data, name, opts, false)
	if err != nil {
		return nil, err
	}
	return d.info, nil
}

// DecodeWith is Decode with explicit limits (see ReadOptions).
func DecodeWith(data []byte, name string, opts ReadOptions) (*File, error) {
	d, err := decodeBytes(data, name, opts, true)
	if err != nil {
		return nil, err
	}
	return &File{Header: d.info.Header, Tensors: d.tensors}, nil
}

// LoadWith reads and decodes the checkpoint at path under opts' limits;
// path is used as the name in errors.
//
// Only regular files are read (others fail with ErrNotRegular), and the
// file's size is checked against ReadOptions.MaxFileBytes (ErrTooLarge)
// before anything is read. The file is then read once, in order: the prefix,
// header and table are validated (as Decode does, including
// ReadOptions.MaxTensorBytes and the Validate hook) before any tensor
// buffer is allocated, and the compressed payload is inflated as it is read,
// straight into one buffer per tensor of exactly its declared size, while
// being hashed. Peak memory is therefore the tensors' size plus the zstd
// decoder's window (at most MaxWindowSize) and a read buffer, never a
// multiple of the payload; decompression stops at the declared size. The
// checksum is verified at the end: on a mismatch no File is returned. A
// damaged file is reported as ErrChecksum even when the damage shows first
// as another error (the rest of the file is then hashed, not kept), so the
// errors are those Decode gives for the same bytes.
func LoadWith(path string, opts ReadOptions) (*File, error) {
	d, err := readPath(path, opts, true)
	if err != nil {
		return nil, err
	}
	return &File{Header: d.info.Header, Tensors: d.tensors}, nil
}

// readBufferSize is the read buffer of LoadWith and ReadInfo: large enough
// that the zstd decoder's small reads (block headers) are not system calls.
const readBufferSize = 256 << 10

func readPath(path string, opts ReadOptions, payload bool) (decoded, error) {
	lim, err := opts.limits()
	if err != nil {
		return decoded{}, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	// userfile refuses non-regular files by their mode without opening them
	// for a blocking read, and checks the size by Stat before reading.
	f, err := userfile.Open(path, int64(lim.maxFile)) // maxFile < 2^35
	if err != nil {
		if errors.Is(err, userfile.ErrTooLarge) {
			return decoded{}, fmt.Errorf("checkpoint: %w (ReadOptions.MaxFileBytes): %w", ErrTooLarge, err)
		}
		return decoded{}, fmt.Errorf("checkpoint: %w", err) // names the path
	}
	defer f.Close()
	buf := int(min(f.Size()+1, readBufferSize)) // small files, small buffer
	d, err := decodeFrom(bufio.NewReaderSize(f, buf), uint64(f.Size()), lim, payload)
	if err != nil {
		return decoded{}, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return d, nil
}

func decodeBytes(data []byte, name string, opts ReadOptions, payload bool) (decoded, error) {
	lim, err := opts.limits()
	if err == nil {
		var d decoded
		if d, err = decodeFrom(bytes.NewReader(data), uint64(len(data)), lim, payload); err == nil {
			return d, nil
		}
	}
	return decoded{}, fmt.Errorf("checkpoint %s: %w", name, err)
}
