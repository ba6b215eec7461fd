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
// MaxTensors, MaxPayloadSize, MaxCompressionRatio, ...) before anything is
// allocated, the whole file is covered by a SHA-256 checksum, and
// decompression is bounded by the declared payload size, so hostile input
// yields an error (never a panic or an unbounded allocation). Every decoding
// error wraps exactly one of the sentinel errors ErrBadMagic, ErrVersion,
// ErrTruncated, ErrChecksum, ErrCorrupt or ErrTooLarge and can be tested with
// errors.Is.
//
// Save replaces files atomically: a crash or error while saving leaves the
// previous file at the destination path untouched.
package checkpoint
