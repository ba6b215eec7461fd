package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/klauspost/compress/zstd"
)

// DefaultLevel is the zstd compression level used when EncodeOptions.Level
// is zero.
const DefaultLevel = 3

// EncodeOptions controls Encode and Save.
type EncodeOptions struct {
	// Float16 stores float32 tensors as float16 (round to nearest even) and
	// marks the header with Float16 = true. Other dtypes are unchanged.
	Float16 bool
	// Level is the zstd compression level, 1 (fastest) to 22 (smallest);
	// 0 means DefaultLevel. The zstd implementation maps levels onto four
	// encoders: 1-2 fastest, 3-5 default, 6-9 better, 10-22 best, so levels
	// within one group produce identical bytes.
	Level int
}

// File is a decoded checkpoint: its header and its tensors, in file order.
type File struct {
	Header  Header
	Tensors []Tensor
}

// Tensor returns the tensor called name and whether it exists.
func (f *File) Tensor(name string) (Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// storedTensor is a validated tensor as it will be written.
type storedTensor struct {
	src    *Tensor
	dtype  DType    // stored dtype (float16 when converting float32)
	dims   []uint64 // shape
	nbytes uint64   // stored byte length
}

// Encode writes f to w in the checkpoint format. Tensors are written in the
// order given and the header is filled with FormatVersion (and Float16, see
// Header). f is not modified. The output is a deterministic function of f
// and opts.
//
// Encode validates f first and writes nothing if it is invalid: every tensor
// needs a unique, non-empty UTF-8 name of at most MaxNameLen bytes, a known
// DType, a shape of at most MaxRank non-negative dimensions, and Data of
// exactly the size the shape requires; header JSON fields (Model, Extra)
// must be valid JSON; and the limits of FORMAT.md must hold. Such errors
// wrap ErrInvalid (ErrTooLarge for exceeded limits). Errors from w are
// returned wrapped.
//
// The compressed payload is built in memory before anything is written,
// because its size is part of the prefix; w receives a handful of large
// writes.
func Encode(w io.Writer, f *File, opts EncodeOptions) error {
	if err := encode(w, f, opts); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func encode(w io.Writer, f *File, opts EncodeOptions) error {
	if f == nil {
		return fmt.Errorf("%w: nil File", ErrInvalid)
	}
	if opts.Level < 0 || opts.Level > 22 {
		return fmt.Errorf("%w: zstd level %d not in [0, 22]", ErrInvalid, opts.Level)
	}
	level := opts.Level
	if level == 0 {
		level = DefaultLevel
	}
	stored, rawLen, err := validateTensors(f.Tensors, opts.Float16)
	if err != nil {
		return err
	}

	h := f.Header
	h.FormatVersion = FormatVersion
	h.Float16 = h.Float16 || opts.Float16
	headerJSON, err := marshalHeader(&h)
	if err != nil {
		return fmt.Errorf("%w: header: %v", ErrInvalid, err)
	}
	if len(headerJSON) > MaxHeaderSize {
		return fmt.Errorf("%w: header JSON is %d bytes (limit %d)", ErrTooLarge, len(headerJSON), MaxHeaderSize)
	}

	table := encodeTable(stored)
	if len(table) > MaxTableSize {
		return fmt.Errorf("%w: tensor table is %d bytes (limit %d)", ErrTooLarge, len(table), MaxTableSize)
	}

	payload, err := compressPayload(stored, rawLen, level)
	if err != nil {
		return err
	}
	if rawLen > uint64(len(payload))*MaxCompressionRatio {
		// Cannot happen with a conforming zstd encoder; refuse to write a
		// file Decode would reject.
		return fmt.Errorf("%w: compressed payload of %d bytes for %d raw bytes exceeds the compression ratio limit", ErrTooLarge, len(payload), rawLen)
	}

	var prefix [prefixSize]byte
	copy(prefix[:], Magic)
	binary.LittleEndian.PutUint32(prefix[offVersion:], FormatVersion)
	binary.LittleEndian.PutUint32(prefix[offHeaderLen:], uint32(len(headerJSON)))
	binary.LittleEndian.PutUint32(prefix[offTableLen:], uint32(len(table)))
	binary.LittleEndian.PutUint32(prefix[offTensorCount:], uint32(len(stored)))
	binary.LittleEndian.PutUint64(prefix[offRawLen:], rawLen)
	binary.LittleEndian.PutUint64(prefix[offZstdLen:], uint64(len(payload)))

	sum := sha256.New()
	out := io.MultiWriter(w, sum)
	for _, part := range [][]byte{prefix[:], headerJSON, table, payload} {
		if _, err := out.Write(part); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	if _, err := w.Write(sum.Sum(nil)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// validateTensors checks every tensor and computes how it will be stored and
// the total raw payload size.
func validateTensors(tensors []Tensor, toFloat16 bool) ([]storedTensor, uint64, error) {
	if len(tensors) > MaxTensors {
		return nil, 0, fmt.Errorf("%w: %d tensors (limit %d)", ErrTooLarge, len(tensors), MaxTensors)
	}
	stored := make([]storedTensor, len(tensors))
	seen := make(map[string]struct{}, len(tensors))
	var total uint64
	for i := range tensors {
		t := &tensors[i]
		if tooLong, err := checkName(t.Name); err != nil {
			if tooLong {
				return nil, 0, fmt.Errorf("%w: tensor %d: %v", ErrTooLarge, i, err)
			}
			return nil, 0, fmt.Errorf("%w: tensor %d: %v", ErrInvalid, i, err)
		}
		if _, dup := seen[t.Name]; dup {
			return nil, 0, fmt.Errorf("%w: duplicate tensor name %q", ErrInvalid, t.Name)
		}
		seen[t.Name] = struct{}{}
		if _, ok := dtypeCodes[t.DType]; !ok {
			return nil, 0, fmt.Errorf("%w: tensor %q: unknown dtype %q", ErrInvalid, t.Name, t.DType)
		}
		if len(t.Shape) > MaxRank {
			return nil, 0, fmt.Errorf("%w: tensor %q: rank %d (limit %d)", ErrTooLarge, t.Name, len(t.Shape), MaxRank)
		}
		dims := make([]uint64, len(t.Shape))
		for j, d := range t.Shape {
			if d < 0 {
				return nil, 0, fmt.Errorf("%w: tensor %q: negative dimension in shape %v", ErrInvalid, t.Name, t.Shape)
			}
			dims[j] = uint64(d)
		}
		srcBytes, err := byteSize(t.DType, dims)
		if err != nil {
			return nil, 0, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if uint64(len(t.Data)) != srcBytes {
			return nil, 0, fmt.Errorf("%w: tensor %q: %s shape %v needs %d bytes of data, has %d", ErrInvalid, t.Name, t.DType, t.Shape, srcBytes, len(t.Data))
		}
		st := storedTensor{src: t, dtype: t.DType, dims: dims, nbytes: srcBytes}
		if toFloat16 && t.DType == Float32 {
			st.dtype = Float16
			st.nbytes = srcBytes / 2
		}
		total += st.nbytes
		if total > MaxPayloadSize || total > math.MaxInt {
			return nil, 0, fmt.Errorf("%w: tensor payload exceeds %d bytes", ErrTooLarge, uint64(MaxPayloadSize))
		}
		stored[i] = st
	}
	return stored, total, nil
}

// encodeTable serialises the tensor table (see FORMAT.md).
func encodeTable(stored []storedTensor) []byte {
	var b []byte
	var offset uint64
	for _, st := range stored {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(st.src.Name)))
		b = append(b, st.src.Name...)
		b = append(b, dtypeCodes[st.dtype], byte(len(st.dims)))
		for _, d := range st.dims {
			b = binary.LittleEndian.AppendUint64(b, d)
		}
		b = binary.LittleEndian.AppendUint64(b, offset)
		b = binary.LittleEndian.AppendUint64(b, st.nbytes)
		offset += st.nbytes
	}
	return b
}

// newEncoder returns a zstd encoder with the fixed settings of the format:
// single-threaded (so output never depends on scheduling), 8 MiB window,
// frame checksum on, content size recorded, empty input still a frame.
func newEncoder(w io.Writer, level int) (*zstd.Encoder, error) {
	return zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(MaxWindowSize),
		zstd.WithEncoderCRC(true),
		zstd.WithZeroFrames(true),
		zstd.WithLowerEncoderMem(false),
	)
}

// compressPayload concatenates the stored tensor bytes (converting to float16
// where requested) and compresses them as one zstd frame.
func compressPayload(stored []storedTensor, rawLen uint64, level int) ([]byte, error) {
	var buf bytes.Buffer
	enc, err := newEncoder(&buf, level)
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	enc.ResetContentSize(&buf, int64(rawLen))
	var half []byte
	for _, st := range stored {
		data := st.src.Data
		if st.dtype == st.src.DType {
			if _, err := enc.Write(data); err != nil {
				enc.Close()
				return nil, fmt.Errorf("zstd: %w", err)
			}
			continue
		}
		// float32 -> float16, in bounded chunks.
		const chunk = 1 << 16 // elements
		if half == nil {
			half = make([]byte, 2*chunk)
		}
		for len(data) > 0 {
			n := min(len(data)/4, chunk)
			for i := range n {
				v := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
				binary.LittleEndian.PutUint16(half[2*i:], float32ToFloat16(v))
			}
			if _, err := enc.Write(half[:2*n]); err != nil {
				enc.Close()
				return nil, fmt.Errorf("zstd: %w", err)
			}
			data = data[4*n:]
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	return buf.Bytes(), nil
}
