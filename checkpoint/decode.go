package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/klauspost/compress/zstd"
)

// Decode parses a checkpoint held in data. name identifies the data in error
// messages (typically the file path): every error has the form
// "checkpoint <name>: ..." and wraps one of ErrBadMagic, ErrVersion,
// ErrTruncated, ErrChecksum, ErrCorrupt or ErrTooLarge.
//
// All sizes are validated against len(data) and the documented limits, and
// the SHA-256 checksum is verified, before anything proportional to a
// declared size is allocated; decompression stops at the declared payload
// size. Decode never panics. The returned File does not alias data; its
// tensors' Data slices share one backing array but are capacity-limited, so
// appending to one never overwrites another.
func Decode(data []byte, name string) (*File, error) {
	f, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", name, err)
	}
	return f, nil
}

// prefix holds the decoded fixed prefix.
type prefix struct {
	headerLen, tableLen, count uint32
	rawLen, zstdLen            uint64
}

func decode(data []byte) (*File, error) {
	p, err := checkFrame(data)
	if err != nil {
		return nil, err
	}
	if err := checkLimits(p); err != nil {
		return nil, err
	}

	headerStart := uint64(prefixSize)
	tableStart := headerStart + uint64(p.headerLen)
	payloadStart := tableStart + uint64(p.tableLen)
	payloadEnd := payloadStart + p.zstdLen

	h, err := unmarshalHeader(data[headerStart:tableStart])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if h.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%w: header format_version %d disagrees with file version %d", ErrCorrupt, h.FormatVersion, FormatVersion)
	}

	tensors, err := decodeTable(data[tableStart:payloadStart], p.count, p.rawLen)
	if err != nil {
		return nil, err
	}

	raw, err := decompress(data[payloadStart:payloadEnd], p.rawLen)
	if err != nil {
		return nil, err
	}
	for i := range tensors {
		t := &tensors[i]
		end := t.off + t.n // decodeTable checked end <= rawLen == len(raw)
		t.Data = raw[t.off:end:end]
	}

	f := &File{Header: h, Tensors: make([]Tensor, len(tensors))}
	for i, t := range tensors {
		f.Tensors[i] = t.Tensor
	}
	return f, nil
}

// checkFrame validates magic, version and the declared total size, then the
// checksum, returning the fixed prefix.
func checkFrame(data []byte) (prefix, error) {
	var p prefix
	if len(data) < len(Magic) {
		if bytes.HasPrefix([]byte(Magic), data) {
			return p, fmt.Errorf("%w: %d bytes, shorter than the magic", ErrTruncated, len(data))
		}
		return p, ErrBadMagic
	}
	if string(data[:len(Magic)]) != Magic {
		return p, ErrBadMagic
	}
	if len(data) < offVersion+4 {
		return p, fmt.Errorf("%w: %d bytes, no format version", ErrTruncated, len(data))
	}
	if v := binary.LittleEndian.Uint32(data[offVersion:]); v != FormatVersion {
		return p, fmt.Errorf("%w: file has version %d, this package reads version %d", ErrVersion, v, FormatVersion)
	}
	if len(data) < prefixSize {
		return p, fmt.Errorf("%w: %d bytes, shorter than the %d-byte prefix", ErrTruncated, len(data), prefixSize)
	}
	p.headerLen = binary.LittleEndian.Uint32(data[offHeaderLen:])
	p.tableLen = binary.LittleEndian.Uint32(data[offTableLen:])
	p.count = binary.LittleEndian.Uint32(data[offTensorCount:])
	p.rawLen = binary.LittleEndian.Uint64(data[offRawLen:])
	p.zstdLen = binary.LittleEndian.Uint64(data[offZstdLen:])

	size := uint64(len(data))
	if p.zstdLen > size {
		return p, fmt.Errorf("%w: declares a %d-byte payload, file has %d bytes", ErrTruncated, p.zstdLen, size)
	}
	// No overflow: every term is below 2^33 or at most len(data).
	want := uint64(prefixSize) + uint64(p.headerLen) + uint64(p.tableLen) + p.zstdLen + checksumSize
	if size < want {
		return p, fmt.Errorf("%w: file has %d bytes, its prefix declares %d", ErrTruncated, size, want)
	}
	if size > want {
		return p, fmt.Errorf("%w: %d unexpected bytes after the checksum", ErrCorrupt, size-want)
	}
	body := data[:want-checksumSize]
	sum := sha256.Sum256(body)
	if !bytes.Equal(sum[:], data[want-checksumSize:]) {
		return p, ErrChecksum
	}
	return p, nil
}

// checkLimits applies the documented limits to a checksummed prefix.
func checkLimits(p prefix) error {
	switch {
	case p.headerLen > MaxHeaderSize:
		return fmt.Errorf("%w: header is %d bytes (limit %d)", ErrTooLarge, p.headerLen, MaxHeaderSize)
	case p.tableLen > MaxTableSize:
		return fmt.Errorf("%w: tensor table is %d bytes (limit %d)", ErrTooLarge, p.tableLen, MaxTableSize)
	case p.count > MaxTensors:
		return fmt.Errorf("%w: %d tensors (limit %d)", ErrTooLarge, p.count, MaxTensors)
	case p.rawLen > MaxPayloadSize || p.rawLen > math.MaxInt:
		return fmt.Errorf("%w: payload declared as %d bytes (limit %d)", ErrTooLarge, p.rawLen, uint64(MaxPayloadSize))
	case p.zstdLen == 0:
		return fmt.Errorf("%w: empty compressed payload (must be at least one zstd frame)", ErrCorrupt)
	case p.zstdLen <= math.MaxUint64/MaxCompressionRatio && p.rawLen > p.zstdLen*MaxCompressionRatio:
		return fmt.Errorf("%w: payload declared as %d bytes, more than %d compressed bytes can hold (ratio limit %d)", ErrTooLarge, p.rawLen, p.zstdLen, MaxCompressionRatio)
	case uint64(p.count)*minEntrySize > uint64(p.tableLen):
		return fmt.Errorf("%w: %d tensors cannot fit a %d-byte table", ErrCorrupt, p.count, p.tableLen)
	}
	return nil
}

// tableTensor is a tensor whose payload range is known but not yet read.
type tableTensor struct {
	Tensor
	off, n uint64
}

// decodeTable parses and validates count table entries that must exactly
// fill table and exactly tile a payload of rawLen bytes, in order.
func decodeTable(table []byte, count uint32, rawLen uint64) ([]tableTensor, error) {
	// count*minEntrySize <= len(table) was checked, so this allocation is
	// bounded by the input size.
	tensors := make([]tableTensor, 0, count)
	seen := make(map[string]struct{}, count)
	r := tableReader{b: table}
	var next uint64 // where the next tensor must start
	for i := range count {
		nameLen, ok := r.uint16()
		if !ok {
			return nil, fmt.Errorf("%w: tensor table entry %d overruns the table", ErrCorrupt, i)
		}
		nameBytes, ok := r.bytes(int(nameLen))
		if !ok {
			return nil, fmt.Errorf("%w: tensor table entry %d overruns the table", ErrCorrupt, i)
		}
		name := string(nameBytes)
		if tooLong, err := checkName(name); err != nil {
			if tooLong {
				return nil, fmt.Errorf("%w: tensor table entry %d: %v", ErrTooLarge, i, err)
			}
			return nil, fmt.Errorf("%w: tensor table entry %d: %v", ErrCorrupt, i, err)
		}
		if _, dup := seen[name]; dup {
			return nil, fmt.Errorf("%w: duplicate tensor name %q", ErrCorrupt, name)
		}
		seen[name] = struct{}{}
		code, ok1 := r.uint8()
		rank, ok2 := r.uint8()
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: tensor %q overruns the table", ErrCorrupt, name)
		}
		dt := dtypeFromCode(code)
		if dt == "" {
			return nil, fmt.Errorf("%w: tensor %q has unknown dtype code %d", ErrCorrupt, name, code)
		}
		if rank > MaxRank {
			return nil, fmt.Errorf("%w: tensor %q has rank %d (limit %d)", ErrTooLarge, name, rank, MaxRank)
		}
		var dims [MaxRank]uint64
		for j := range int(rank) {
			if dims[j], ok = r.uint64(); !ok {
				return nil, fmt.Errorf("%w: tensor %q overruns the table", ErrCorrupt, name)
			}
		}
		off, ok1 := r.uint64()
		n, ok2 := r.uint64()
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: tensor %q overruns the table", ErrCorrupt, name)
		}
		size, err := byteSize(dt, dims[:rank])
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		if n != size {
			return nil, fmt.Errorf("%w: tensor %q: %s shape %v needs %d bytes, table says %d", ErrCorrupt, name, dt, dims[:rank], size, n)
		}
		if off != next {
			return nil, fmt.Errorf("%w: tensor %q starts at payload offset %d, expected %d (tensors must be contiguous, in order)", ErrCorrupt, name, off, next)
		}
		if n > rawLen-off { // off == next <= rawLen holds here
			return nil, fmt.Errorf("%w: tensor %q (%d bytes at %d) overruns the %d-byte payload", ErrCorrupt, name, n, off, rawLen)
		}
		next = off + n
		var shape []int
		if rank > 0 {
			shape = make([]int, rank)
			for j := range shape {
				shape[j] = int(dims[j]) // each dim <= MaxPayloadSize and <= MaxInt
			}
		}
		tensors = append(tensors, tableTensor{Tensor: Tensor{Name: name, DType: dt, Shape: shape}, off: off, n: n})
	}
	if r.len() != 0 {
		return nil, fmt.Errorf("%w: %d unused bytes at the end of the tensor table", ErrCorrupt, r.len())
	}
	if next != rawLen {
		return nil, fmt.Errorf("%w: tensors cover %d bytes of a %d-byte payload", ErrCorrupt, next, rawLen)
	}
	return tensors, nil
}

// tableReader reads little-endian values from a byte slice, reporting
// overruns instead of panicking.
type tableReader struct{ b []byte }

func (r *tableReader) len() int { return len(r.b) }

func (r *tableReader) bytes(n int) ([]byte, bool) {
	if n > len(r.b) {
		return nil, false
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v, true
}

func (r *tableReader) uint8() (uint8, bool) {
	b, ok := r.bytes(1)
	if !ok {
		return 0, false
	}
	return b[0], true
}

func (r *tableReader) uint16() (uint16, bool) {
	b, ok := r.bytes(2)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint16(b), true
}

func (r *tableReader) uint64() (uint64, bool) {
	b, ok := r.bytes(8)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

// decompress inflates a zstd payload that must produce exactly rawLen bytes.
// The output buffer grows only as decompressed bytes actually arrive, never
// beyond rawLen, so a payload that expands past its declaration is rejected
// after at most rawLen+1 bytes and without allocating more.
func decompress(src []byte, rawLen uint64) ([]byte, error) {
	dec, err := zstd.NewReader(bytes.NewReader(src),
		zstd.WithDecoderConcurrency(1), // synchronous: no goroutines
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(MaxWindowSize),
		zstd.WithDecoderMaxMemory(MaxWindowSize),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	}
	defer dec.Close()

	want := int(rawLen) // rawLen <= MaxInt was checked
	// Typical payloads (floats) barely compress, so start with what the
	// compressed size suggests and grow on demand.
	initial := want
	if limit := 4*len(src) + 1<<20; initial > limit {
		initial = limit
	}
	buf := make([]byte, 0, initial)
	for len(buf) < want {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(want, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		n, err := dec.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			if len(buf) == want {
				return buf, nil
			}
			return nil, fmt.Errorf("%w: payload decompresses to %d bytes, header declares %d", ErrCorrupt, len(buf), want)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		if n == 0 { // io.Reader allows it; the zstd decoder never does it
			return nil, fmt.Errorf("%w: zstd: no progress after %d bytes", ErrCorrupt, len(buf))
		}
	}
	// The stream must end exactly here; reading on also verifies the zstd
	// frame checksum that follows the last block.
	var probe [1]byte
	n, err := dec.Read(probe[:])
	switch {
	case n > 0:
		return nil, fmt.Errorf("%w: payload decompresses to more than the declared %d bytes", ErrCorrupt, want)
	case errors.Is(err, io.EOF):
		return buf, nil
	case err != nil:
		return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	default:
		return nil, fmt.Errorf("%w: zstd: stream did not end after %d bytes", ErrCorrupt, want)
	}
}
