// Package embedio writes embedding outputs (one vector per input image) as
// they are produced, in one of three formats: NumPy .npy, JSON Lines and CSV,
// and reads them back with [Read].
//
// # Crash safety
//
// Every writer streams its output to a hidden temporary file created with
// os.CreateTemp in the directory of the final path (for example
// ".emb.npy.tmp-123456" next to "emb.npy"). Nothing appears under the final
// name until [Writer.Close] succeeds: Close flushes the data, fsyncs the
// temporary file, closes it and renames it over the final name, then makes a
// best-effort fsync of the directory. [Writer.Abort] removes the temporary
// files. A process that crashes before Close therefore leaves at most a
// hidden ".*.tmp-*" file, never a truncated file under the final name.
// Committed files get mode 0644. Calling Abort after a successful Close is a
// no-op, so
//
//	w, err := embedio.Create(path, format, dim)
//	if err != nil { ... }
//	defer w.Abort()
//	... w.Write(p, vec) ...
//	return w.Close()
//
// is the intended usage. Writers buffer at most one fixed-size I/O buffer, so
// memory stays flat whatever the number of rows. A Writer is not safe for
// concurrent use.
//
// # NPY
//
// The .npy file holds a float32 little-endian ('<f4') array of shape (N, D)
// in C order, in NPY format version 1.0: the magic string "\x93NUMPY", the
// version bytes 1 and 0, a little-endian uint16 header length, and an ASCII
// header that is a Python dict literal
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }
//
// padded with spaces and terminated by '\n' so that the magic, version,
// length and header together are a multiple of 64 bytes, as numpy requires.
// The rows follow, each D float32 values.
//
// codeberg.org/sbinet/npyio can only write an array that is complete in
// memory, which would defeat streaming, so this package writes the header
// itself. N is unknown until Close, so Create writes a header sized for the
// largest possible N (math.MaxInt) and Close rewrites it in place with the
// real N; the shorter number is made up with extra padding spaces, so the
// header keeps exactly the same byte length and the rows never move.
//
// Next to "x.npy" the NPY writer also commits "x.npy.paths.txt" (see
// [SidecarPath]), the input paths one per line in row order, through its own
// temporary file. The sidecar is renamed first and the .npy last, so an
// existing .npy always has a complete sidecar. Because the sidecar is
// line-oriented, the NPY writer rejects paths that contain '\n' or '\r'.
//
// # JSON Lines
//
// Each row is one line {"path":"...","embedding":[...]} with the numbers
// formatted by strconv with format 'g', precision -1 and bit size 32: the
// shortest decimal that parses back to exactly the same float32. JSON has no
// NaN or infinities and no way to carry a path that is not valid UTF-8, so
// the JSONL writer rejects such rows rather than alter them.
//
// # CSV
//
// The first line is the header "path,v0,v1,...,v{D-1}"; every further line
// is one image: its path, quoted by encoding/csv when needed, and its D
// values formatted as for JSON Lines (non-finite values are written as NaN,
// +Inf and -Inf, which strconv.ParseFloat and Python's float accept).
//
// # Reading
//
// [Read] reads any of the three formats, and also .npy files written by numpy
// itself (format 1.0 to 3.0, float32 or float64, C or Fortran order). It is
// strict: files are opened through internal/userfile (regular files only,
// size-capped before reading), the .npy header is parsed as the exact dict
// numpy writes, the data must fill the file exactly, the sidecar must hold
// one non-empty path per row, and a NaN or infinite value is refused naming
// its row. Its errors name the file and wrap [ErrMalformed].
package embedio
