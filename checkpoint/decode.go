package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"

	"github.com/klauspost/compress/zstd"
)

// Decode parses a checkpoint held in data with the default ReadOptions; it
// is DecodeWith(data, name, ReadOptions{}). name identifies the data in
// error messages (typically the file path): every error has the form
// "checkpoint <name>: ..." and wraps one of ErrBadMagic, ErrVersion,
// ErrTruncated, ErrChecksum, ErrCorrupt or ErrTooLarge.
//
// All sizes are validated against len(data), the documented limits and the
// ReadOptions caps, and the header and tensor table are validated, before
// anything proportional to a declared size is allocated. Each tensor then
// gets one buffer of exactly its declared size, which the zstd payload is
// inflated straight into; decompression stops at the declared size. The
// SHA-256 checksum takes precedence over every other check: a damaged file
// is reported as ErrChecksum, whatever else is wrong with it. Decode never
// panics. The returned File does not alias data, and each tensor's Data is
// its own array.
func Decode(data []byte, name string) (*File, error) {
	return DecodeWith(data, name, ReadOptions{})
}

// prefix holds the decoded fixed prefix.
type prefix struct {
	headerLen, tableLen, count uint32
	rawLen, zstdLen            uint64
}

// checkPrefix validates magic, version and the total size declared by the
// fixed prefix. head holds the first min(size, prefixSize) bytes of a
// source of size bytes. The checksum is checked later, as the rest of the
// source is read.
func checkPrefix(head []byte, size uint64) (prefix, error) {
	var p prefix
	if len(head) < len(Magic) {
		if bytes.HasPrefix([]byte(Magic), head) {
			return p, fmt.Errorf("%w: %d bytes, shorter than the magic", ErrTruncated, size)
		}
		return p, ErrBadMagic
	}
	if string(head[:len(Magic)]) != Magic {
		return p, ErrBadMagic
	}
	if len(head) < offVersion+4 {
		return p, fmt.Errorf("%w: %d bytes, no format version", ErrTruncated, size)
	}
	if v := binary.LittleEndian.Uint32(head[offVersion:]); v != FormatVersion {
		return p, fmt.Errorf("%w: file has version %d, this package reads version %d", ErrVersion, v, FormatVersion)
	}
	if len(head) < prefixSize {
		return p, fmt.Errorf("%w: %d bytes, shorter than the %d-byte prefix", ErrTruncated, size, prefixSize)
	}
	p.headerLen = binary.LittleEndian.Uint32(head[offHeaderLen:])
	p.tableLen = binary.LittleEndian.Uint32(head[offTableLen:])
	p.count = binary.LittleEndian.Uint32(head[offTensorCount:])
	p.rawLen = binary.LittleEndian.Uint64(head[offRawLen:])
	p.zstdLen = binary.LittleEndian.Uint64(head[offZstdLen:])

	if p.zstdLen > size {
		return p, fmt.Errorf("%w: declares a %d-byte payload, file has %d bytes", ErrTruncated, p.zstdLen, size)
	}
	// No overflow: every term is below 2^33 or at most size (< 2^63).
	want := uint64(prefixSize) + uint64(p.headerLen) + uint64(p.tableLen) + p.zstdLen + checksumSize
	if size < want {
		return p, fmt.Errorf("%w: file has %d bytes, its prefix declares %d", ErrTruncated, size, want)
	}
	if size > want {
		return p, fmt.Errorf("%w: %d unexpected bytes after the checksum", ErrCorrupt, size-want)
	}
	return p, nil
}

// checkLimits applies the documented limits and the reader's caps to a
// prefix.
func checkLimits(p prefix, lim limits) error {
	switch {
	case p.headerLen > MaxHeaderSize:
		return fmt.Errorf("%w: header is %d bytes (limit %d)", ErrTooLarge, p.headerLen, MaxHeaderSize)
	case p.tableLen > MaxTableSize:
		return fmt.Errorf("%w: tensor table is %d bytes (limit %d)", ErrTooLarge, p.tableLen, MaxTableSize)
	case p.count > MaxTensors:
		return fmt.Errorf("%w: %d tensors (limit %d)", ErrTooLarge, p.count, MaxTensors)
	case p.rawLen > MaxPayloadSize || p.rawLen > math.MaxInt:
		return fmt.Errorf("%w: payload declared as %d bytes (limit %d)", ErrTooLarge, p.rawLen, uint64(MaxPayloadSize))
	case p.rawLen > lim.maxTensor:
		return fmt.Errorf("%w: tensors declared as %d bytes in all, above the reader's limit of %d (ReadOptions.MaxTensorBytes)", ErrTooLarge, p.rawLen, lim.maxTensor)
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

// source reads a checkpoint's bytes in file order, feeding everything
// before the trailing checksum to a SHA-256 hash. Reading stops at the sizes
// the prefix declares, so a source longer than declared is never read
// beyond them (plus one byte to detect growth).
type source struct {
	r   io.Reader
	sum hash.Hash
}

// readErr converts an error from reading a section: the source ending
// before a section the size check promised means it shrank while being
// read.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the file ended early (it changed while being read)", ErrTruncated)
	}
	return fmt.Errorf("read: %w", err)
}

// read returns the next n bytes, hashed. The caller bounds n by the
// documented limits and the source's size.
func (s *source) read(n uint32) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.r, b); err != nil {
		return nil, readErr(err)
	}
	s.sum.Write(b)
	return b, nil
}

// skip hashes the next n bytes without keeping them.
func (s *source) skip(r io.Reader, n uint64) error {
	if n == 0 {
		return nil
	}
	if _, err := io.CopyN(s.sum, r, int64(n)); err != nil { // n < size < 2^63
		return readErr(err)
	}
	return nil
}

// finish reads the trailing checksum, compares it with the hash of
// everything read before it, and checks that the source ends there.
func (s *source) finish() error {
	var stored [checksumSize]byte
	if _, err := io.ReadFull(s.r, stored[:]); err != nil {
		return readErr(err)
	}
	if !bytes.Equal(s.sum.Sum(nil), stored[:]) {
		return ErrChecksum
	}
	var probe [1]byte
	if n, _ := io.ReadFull(s.r, probe[:]); n > 0 {
		return fmt.Errorf("%w: unexpected bytes after the checksum (the file grew while being read)", ErrCorrupt)
	}
	return nil
}

// fail completes the checksum over the rest of the source (the unread
// remainder of the payload, from r, then the checksum) and returns
// ErrChecksum if it does not match, else err: a damaged file is reported as
// damaged, whatever structural error the damage caused. It costs reading
// the rest of the file, never memory.
func (s *source) fail(err error, r io.Reader, remaining uint64) error {
	if derr := s.skip(r, remaining); derr != nil {
		return derr
	}
	if cerr := s.finish(); cerr != nil {
		return cerr
	}
	return err
}

// decoded is the result of reading a checkpoint: its Info and, when the
// payload was decoded, its tensors.
type decoded struct {
	info    *Info
	tensors []Tensor
}

// decodeFrom reads a checkpoint of size bytes from r: the prefix, header and
// table, then either only hashes the payload (payload false: the checksum
// is verified before the header and table are validated, as Decode does)
// or validates the header and table, allocates each tensor's buffer of its
// declared size and inflates the payload into them while hashing it
// (payload true; checksum errors take precedence over the others, see
// source.fail). Memory use is bounded by the header and table sizes, which
// the limits bound, the declared tensor bytes, which lim bounds, and the
// zstd decoder's window.
func decodeFrom(r io.Reader, size uint64, lim limits, payload bool) (decoded, error) {
	if size > lim.maxFile {
		return decoded{}, fmt.Errorf("%w: the file has %d bytes, the limit is %d (ReadOptions.MaxFileBytes)", ErrTooLarge, size, lim.maxFile)
	}
	s := &source{r: r, sum: sha256.New()}
	var head [prefixSize]byte
	n := min(size, prefixSize)
	if _, err := io.ReadFull(r, head[:n]); err != nil {
		return decoded{}, readErr(err)
	}
	p, err := checkPrefix(head[:n], size)
	if err != nil {
		return decoded{}, err
	}
	s.sum.Write(head[:])

	// Header and table are read into memory only when within their limits
	// (they are also within size, checked above); otherwise they are only
	// hashed and checkLimits reports them after the checksum.
	var header, table []byte
	if p.headerLen <= MaxHeaderSize && p.tableLen <= MaxTableSize {
		if header, err = s.read(p.headerLen); err == nil {
			table, err = s.read(p.tableLen)
		}
	} else {
		err = s.skip(r, uint64(p.headerLen)+uint64(p.tableLen))
	}
	if err != nil {
		return decoded{}, err
	}

	if !payload {
		if err := s.skip(r, p.zstdLen); err != nil {
			return decoded{}, err
		}
		if err := s.finish(); err != nil {
			return decoded{}, err
		}
		info, _, err := parseSections(p, header, table, size, lim)
		if err != nil {
			return decoded{}, err
		}
		return decoded{info: info}, nil
	}

	info, tensors, err := parseSections(p, header, table, size, lim)
	if err != nil {
		return decoded{}, s.fail(err, r, p.zstdLen)
	}
	// Bytes the zstd decoder reads pass through the hash; whatever it leaves
	// of the payload is hashed by fail or below.
	payloadReader := &io.LimitedReader{R: r, N: int64(p.zstdLen)} // zstdLen < size < 2^63
	if err := inflate(io.TeeReader(payloadReader, s.sum), tensors, p.rawLen); err != nil {
		return decoded{}, s.fail(err, payloadReader, uint64(payloadReader.N))
	}
	if err := s.skip(payloadReader, uint64(payloadReader.N)); err != nil {
		return decoded{}, err
	}
	if err := s.finish(); err != nil {
		return decoded{}, err
	}
	out := make([]Tensor, len(tensors))
	for i, t := range tensors {
		out[i] = t.Tensor
	}
	return decoded{info: info, tensors: out}, nil
}

// parseSections applies the limits to the prefix, parses the header and the
// table, and calls the Validate hook, returning the Info and the tensors
// (without data). header and table are nil when their sizes exceed the
// limits, which checkLimits then reports.
func parseSections(p prefix, header, table []byte, size uint64, lim limits) (*Info, []tableTensor, error) {
	if err := checkLimits(p, lim); err != nil {
		return nil, nil, err
	}
	h, err := unmarshalHeader(header)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if h.FormatVersion != FormatVersion {
		return nil, nil, fmt.Errorf("%w: header format_version %d disagrees with file version %d", ErrCorrupt, h.FormatVersion, FormatVersion)
	}
	tensors, err := decodeTable(table, p.count, p.rawLen)
	if err != nil {
		return nil, nil, err
	}
	info := &Info{
		Header:         h,
		Tensors:        make([]TensorInfo, len(tensors)),
		FileSize:       int64(size),
		CompressedSize: int64(p.zstdLen),
		RawSize:        int64(p.rawLen),
	}
	for i, t := range tensors {
		info.Tensors[i] = TensorInfo{Name: t.Name, DType: t.DType, Shape: cloneShape(t.Shape), Bytes: int64(t.n)}
	}
	if lim.validate != nil {
		if err := lim.validate(info); err != nil {
			return nil, nil, err
		}
	}
	return info, tensors, nil
}

// inflate decompresses a zstd payload that must produce exactly rawLen
// bytes straight into the tensors' buffers: each tensor gets one buffer of
// exactly its declared size (the table was validated to tile rawLen, which
// the limits bound), allocated when the stream reaches it, and nothing else
// proportional to the payload is allocated. A payload that expands past its
// declaration is rejected after at most one zstd block beyond rawLen.
func inflate(src io.Reader, tensors []tableTensor, rawLen uint64) error {
	dec, err := zstd.NewReader(src,
		zstd.WithDecoderConcurrency(1), // synchronous: no goroutines
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(MaxWindowSize),
		zstd.WithDecoderMaxMemory(MaxWindowSize),
	)
	if err != nil {
		return fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	}
	defer dec.Close()

	var done uint64 // bytes decompressed so far
	for i := range tensors {
		t := &tensors[i]
		t.Data = make([]byte, t.n) // t.n <= rawLen <= the tensor limit
		n, err := io.ReadFull(dec, t.Data)
		done += uint64(n)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: payload decompresses to %d bytes, header declares %d", ErrCorrupt, done, rawLen)
		}
		if err != nil {
			return fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
	}
	// The stream must end exactly here; reading on also verifies the zstd
	// frame checksum that follows the last block.
	var probe [1]byte
	n, err := dec.Read(probe[:])
	switch {
	case n > 0:
		return fmt.Errorf("%w: payload decompresses to more than the declared %d bytes", ErrCorrupt, rawLen)
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	default:
		return fmt.Errorf("%w: zstd: stream did not end after %d bytes", ErrCorrupt, rawLen)
	}
}
