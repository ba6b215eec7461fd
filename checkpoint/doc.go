// Package checkpoint reads and writes swav-go checkpoint files: a single,
// self-describing, checksummed container holding a JSON header (model
// architecture, preprocessing, training state) and a set of named tensors.
//
// The byte layout is specified in FORMAT.md next to this file. In short, a
// file is
//
//	magic "SWAVCKPT" | fixed prefix (version, section sizes) | JSON header |
//	binary tensor table | zstd-compressed tensor payload | SHA-256
//
// Encoding is deterministic: the same File and EncodeOptions always produce
// the same bytes (for a given version of the zstd library, see FORMAT.md).
//
// Decoding is strict and defensive. Every size is validated against the
// length of the input and against documented limits (MaxHeaderSize,
// MaxTensors, MaxPayloadSize, MaxCompressionRatio, ...) and the reader's
// caps (ReadOptions: MaxFileBytes, and MaxTensorBytes, by default
// DefaultMaxTensorBytes, sized for the largest released SwAV model) before
// anything is allocated, the whole file is covered by a SHA-256 checksum,
// and decompression goes straight into buffers of exactly the declared
// tensor sizes and stops there, so hostile input yields an error (never a
// panic or an unbounded allocation). Every decoding error wraps exactly one
// of the sentinel errors ErrBadMagic, ErrVersion, ErrTruncated, ErrChecksum,
// ErrCorrupt or ErrTooLarge and can be tested with errors.Is.
//
// Reading a path (Load, LoadWith, ReadInfo) accepts regular files only
// (ErrNotRegular for a named pipe, device or directory, without blocking),
// checks the size before reading, and streams: peak memory is the tensors'
// size plus a constant, never a multiple of the file. ReadInfo and
// DecodeInfo read only the header and tensor table (an Info), streaming the
// payload through the checksum without inflating it, for tools such as
// "swav-embed inspect" and for validating a file before loading it.
//
// Save replaces files atomically: a crash or error while saving leaves the
// previous file at the destination path untouched.
package checkpoint
