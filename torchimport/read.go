package torchimport

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/swav-go/swav/internal/panics"
	"github.com/swav-go/swav/internal/userfile"
)

// Sentinel errors. An error of ReadStateDict, Convert or ConvertFile about what a file
// or state dict holds wraps one of them; ReadStateDict's and ConvertFile's errors name
// the file.
var (
	// ErrNotCheckpoint means the file is not a PyTorch checkpoint at all: neither a
	// torch.save zip archive nor a legacy torch.save pickle stream.
	ErrNotCheckpoint = errors.New("not a PyTorch checkpoint")
	// ErrCorrupt means the file looks like a PyTorch checkpoint but is truncated or
	// malformed.
	ErrCorrupt = errors.New("corrupt or truncated PyTorch checkpoint")
	// ErrUnsupported means a well-formed PyTorch file this package does not read:
	// TorchScript archives, the tar format of PyTorch < 0.4, whole pickled modules,
	// big-endian files, complex or quantized tensors.
	ErrUnsupported = errors.New("unsupported PyTorch checkpoint")
	// ErrArchitecture means the state dict is not one of the networks swav-go
	// implements (a torchvision-layout ResNet, optionally with SwAV's head), or a
	// parameter it needs is not stored as floating point.
	ErrArchitecture = errors.New("state dict does not match a supported network")
	// ErrTooLarge means reading the file would exceed a limit of ReadOptions (its size,
	// or the memory its tensors need) or of the pickle reader (the memory its decoded
	// values need, the size of the zip directory).
	ErrTooLarge = errors.New("PyTorch checkpoint exceeds the reader's limits")
	// ErrInvalidValues means a parameter the network uses holds NaN or infinite values,
	// or a batch norm's running variance is negative: a diverged or damaged model, which
	// would compute NaN embeddings.
	ErrInvalidValues = errors.New("state dict holds invalid values")
)

// Tensor is one array of a PyTorch state dict, converted to float32.
type Tensor struct {
	// DType is the element type the file stores it with: "float32", "float16",
	// "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8" or "bool".
	// Integers convert exactly up to 2^24 in magnitude. Convert takes "" (a tensor
	// built in Go) as "float32".
	DType string
	// Shape is the PyTorch size, outermost first (empty for a scalar).
	Shape []int
	// Data holds the elements in row-major (C) order, whatever the strides in the file.
	Data []float32
}

// Limits of the reader.
const (
	maxDataPickle = 256 << 20 // largest data.pkl in a zip archive
	maxRank       = 32        // largest tensor rank
	// maxBroadcast is how many elements a tensor may have beyond its storage's (saved
	// expanded views repeat elements through zero strides).
	maxBroadcast = 1 << 20
	// maxDeflateRatio bounds a deflated zip entry's size by its compressed size.
	maxDeflateRatio = 1032
	// maxZipDirectory bounds the bytes archive/zip may read to list the archive: its
	// central directory and end record. Each entry costs archive/zip about five times
	// its directory record; a state dict's archive has one record of about 100 bytes
	// per storage.
	maxZipDirectory = 16 << 20
	// tensorSlack is added to the default tensor budget (three times the file's size),
	// for broadcast tensors and small files.
	tensorSlack = 64 << 20
)

// DefaultMaxFileBytes is the largest PyTorch file ReadStateDict opens by default:
// 4 GiB, above the largest released SwAV model (ResNet-50-w5, about 2.3 GB, 586 million
// float32 parameters).
const DefaultMaxFileBytes = 4 << 30

// ReadOptions bound ReadStateDictWith. The zero value applies the defaults.
type ReadOptions struct {
	// MaxFileBytes caps the file's size, checked before anything is read: a larger file
	// is refused with an error wrapping ErrTooLarge. Zero means DefaultMaxFileBytes,
	// a negative value no cap.
	MaxFileBytes int64
	// MaxTensorBytes caps the memory the tensors need: the bytes of the storages read
	// plus four bytes per element of the float32 tensors decoded from them, as the
	// pickle declares them (checked before any storage is read). Zero means
	// three times the file's size plus 64 MiB, which a float32 file (twice its size) or
	// a float16 one (three times) fits; a file whose tensors share storages many times
	// over, or broadcast a few values to huge shapes, is refused with an error wrapping
	// ErrTooLarge.
	MaxTensorBytes int64
}

// limits are the bounds of one read, resolved from ReadOptions and the file's size.
type limits struct {
	tensorBytes int64 // storages read plus float32 tensors decoded
	pickleBytes int64 // decoded pickle values (all the pickles of a legacy file)
}

func (o ReadOptions) limits(size int64) limits {
	l := limits{tensorBytes: o.MaxTensorBytes, pickleBytes: maxPickleMemory}
	if l.tensorBytes <= 0 {
		l.tensorBytes = tensorSlack
		if size < (math.MaxInt64-tensorSlack)/3 {
			l.tensorBytes += 3 * size
		}
	}
	return l
}

// legacyMagic is the number legacy (pre-1.6) torch.save files start with.
const legacyMagic = "1950a86a20f9469cfc6c"

// ReadStateDict reads the state dict in the PyTorch checkpoint at path, with its tensors
// converted to float32 and its keys as stored (e.g. "module.conv1.weight").
//
// It reads the zip archives torch.save writes since PyTorch 1.6 (<dir>/data.pkl and
// <dir>/data/<key>, whatever the top-level directory is called) and the legacy stream
// format of earlier versions, in which the released SwAV models are saved. The state
// dict is the file's top-level dict, or its "state_dict" (or "model") entry when it has
// one, as training checkpoints do; only the storages it uses are read. Nothing in the
// file is executed: pickled globals are names, not code. Sizes in the file are checked
// against the file's length before they are used, so a truncated or hostile file yields
// an error wrapping ErrCorrupt, ErrNotCheckpoint or ErrUnsupported, never a panic.
//
// ReadStateDict applies the default ReadOptions: files over DefaultMaxFileBytes are
// refused, and only regular files are opened (a directory, FIFO or device is refused
// by name and reason without blocking; the error wraps ErrNotCheckpoint and
// userfile's ErrNotRegular).
func ReadStateDict(path string) (map[string]Tensor, error) {
	return ReadStateDictWith(path, ReadOptions{})
}

// ReadStateDictWith is ReadStateDict with the bounds of opts. Exceeding one of them
// gives an error wrapping ErrTooLarge.
func ReadStateDictWith(path string, opts ReadOptions) (map[string]Tensor, error) {
	maxFile := opts.MaxFileBytes
	if maxFile == 0 {
		maxFile = DefaultMaxFileBytes
	}
	f, err := userfile.Open(path, maxFile)
	switch {
	case errors.Is(err, userfile.ErrNotRegular):
		return nil, fmt.Errorf("torchimport: %w: %w", ErrNotCheckpoint, err)
	case errors.Is(err, userfile.ErrTooLarge):
		return nil, fmt.Errorf("torchimport: %w (ReadOptions.MaxFileBytes): %w", ErrTooLarge, err)
	case err != nil:
		return nil, fmt.Errorf("torchimport: %w", err)
	}
	defer f.Close()
	// The size was checked against the cap; reading stops there even if the file grows.
	sd, err := readStateDict(io.NewSectionReader(f.OS(), 0, f.Size()), f.Size(), opts.limits(f.Size()))
	if err != nil {
		return nil, fmt.Errorf("torchimport: %s: %w", path, err)
	}
	return sd, nil
}

// readStateDict is ReadStateDict on size bytes of r, within lim.
func readStateDict(r io.ReaderAt, size int64, lim limits) (map[string]Tensor, error) {
	sd, err := panics.Call(func() (map[string]Tensor, error) { return readStateDictUnguarded(r, size, lim) })
	var p *panics.Error
	if errors.As(err, &p) {
		return nil, fmt.Errorf("%w: internal error while reading: %v", ErrCorrupt, p.Value)
	}
	return sd, err
}

// readStateDictUnguarded is readStateDict without the panic guard.
func readStateDictUnguarded(r io.ReaderAt, size int64, lim limits) (map[string]Tensor, error) {
	head := make([]byte, 512)
	n, err := r.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	head = head[:n]
	switch {
	case n == 0:
		return nil, fmt.Errorf("%w: the file is empty", ErrNotCheckpoint)
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return readZip(r, size, lim)
	case head[0] == 0x80:
		return readLegacy(io.NewSectionReader(r, 0, size), size, lim)
	case n >= 262 && string(head[257:262]) == "ustar":
		return nil, fmt.Errorf("%w: a tar archive (the format of PyTorch < 0.4); load and re-save it with a current PyTorch", ErrUnsupported)
	case bytes.HasPrefix(head, []byte("SWAVCKPT")):
		return nil, fmt.Errorf("%w: this is already a swav-go checkpoint", ErrNotCheckpoint)
	}
	return nil, fmt.Errorf("%w: neither a zip archive (torch.save since PyTorch 1.6) nor a legacy torch.save stream", ErrNotCheckpoint)
}

// storageType is a torch storage class: its element type and how to decode it.
type storageType struct {
	dtype  string
	size   int
	decode func(b []byte) float32
}

// storageTypeOf returns the storage class called name (e.g. "FloatStorage").
func storageTypeOf(name string) (storageType, bool) {
	switch name {
	case "FloatStorage":
		return storageType{"float32", 4, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }}, true
	case "HalfStorage":
		return storageType{"float16", 2, func(b []byte) float32 { return halfToFloat32(binary.LittleEndian.Uint16(b)) }}, true
	case "BFloat16Storage":
		return storageType{"bfloat16", 2, func(b []byte) float32 { return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16) }}, true
	case "DoubleStorage":
		return storageType{"float64", 8, func(b []byte) float32 { return float32(math.Float64frombits(binary.LittleEndian.Uint64(b))) }}, true
	case "LongStorage":
		return storageType{"int64", 8, func(b []byte) float32 { return float32(int64(binary.LittleEndian.Uint64(b))) }}, true
	case "IntStorage":
		return storageType{"int32", 4, func(b []byte) float32 { return float32(int32(binary.LittleEndian.Uint32(b))) }}, true
	case "ShortStorage":
		return storageType{"int16", 2, func(b []byte) float32 { return float32(int16(binary.LittleEndian.Uint16(b))) }}, true
	case "CharStorage":
		return storageType{"int8", 1, func(b []byte) float32 { return float32(int8(b[0])) }}, true
	case "ByteStorage":
		return storageType{"uint8", 1, func(b []byte) float32 { return float32(b[0]) }}, true
	case "BoolStorage":
		return storageType{"bool", 1, func(b []byte) float32 {
			if b[0] != 0 {
				return 1
			}
			return 0
		}}, true
	}
	return storageType{}, false
}

// halfToFloat32 widens an IEEE 754 binary16 value exactly.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0: // ±0
		return math.Float32frombits(sign)
	}
	// Subnormal: value = mant · 2^-24.
	v := float32(mant) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// storageRoot is one storage of the file.
type storageRoot struct {
	key   string
	typ   storageType
	numel int64
	data  []byte // loaded on demand
}

// storageRef is what a persistent id resolves to: a storage, or (legacy files) a view of
// one starting offset elements in and numel long.
type storageRef struct {
	root   *storageRoot
	offset int64
	numel  int64
}

// rawTensor is a tensor as the pickle describes it.
type rawTensor struct {
	storage *storageRef
	offset  int64
	size    []int64
	stride  []int64
}

// storages collects the storages a pickle refers to.
type storages struct {
	roots map[string]*storageRoot
}

// root returns the storage called key, checking it is declared consistently.
func (s *storages) root(key string, cls any, numel any) (*storageRoot, error) {
	g, ok := cls.(*pyGlobal)
	if !ok || g.module != "torch" {
		return nil, fmt.Errorf("storage %s has type %s", clip(key), typeName(cls))
	}
	typ, ok := storageTypeOf(g.name)
	if !ok {
		return nil, fmt.Errorf("%w: storage type %s", ErrUnsupported, clip(g.String()))
	}
	n, ok := numel.(int64)
	if !ok || n < 0 || n > math.MaxInt64/8 {
		return nil, fmt.Errorf("storage %s has size %s", clip(key), clip(numel))
	}
	if r, ok := s.roots[key]; ok {
		if r.typ.dtype != typ.dtype || r.numel != n {
			return nil, fmt.Errorf("storage %s is declared twice differently", clip(key))
		}
		return r, nil
	}
	r := &storageRoot{key: key, typ: typ, numel: n}
	s.roots[key] = r
	return r, nil
}

// zipStorage resolves a persistent id of a zip archive's pickle:
// ("storage", storage class, key, location, numel).
func (s *storages) zipStorage(pid any) (any, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) < 5 || t[0] != "storage" {
		return nil, fmt.Errorf("%w: persistent id is not a storage", ErrUnsupported)
	}
	key, ok := t[2].(string)
	if !ok || key == "" || strings.ContainsAny(key, "/\\") || key == "." || key == ".." {
		return nil, fmt.Errorf("storage key %s", clip(t[2]))
	}
	root, err := s.root(key, t[1], t[4])
	if err != nil {
		return nil, err
	}
	return &storageRef{root: root, numel: root.numel}, nil
}

// legacyStorage resolves a persistent id of a legacy stream's pickle:
// ("storage", storage class, key, location, numel, view), the view None or
// (view key, offset, numel) in elements.
func (s *storages) legacyStorage(pid any) (any, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) < 1 {
		return nil, fmt.Errorf("%w: persistent id is a %s", ErrUnsupported, typeName(pid))
	}
	if t[0] == "module" {
		return nil, fmt.Errorf("%w: a pickled nn.Module (torch.save(model)); save model.state_dict() instead", ErrUnsupported)
	}
	if t[0] != "storage" || len(t) < 6 {
		return nil, fmt.Errorf("%w: persistent id is not a storage", ErrUnsupported)
	}
	key, ok := t[2].(string)
	if !ok {
		return nil, fmt.Errorf("storage key %s", clip(t[2]))
	}
	root, err := s.root(key, t[1], t[4])
	if err != nil {
		return nil, err
	}
	ref := &storageRef{root: root, numel: root.numel}
	if t[5] != nil { // a view: (view key, offset, size) in elements
		v, ok := t[5].(pyTuple)
		if !ok || len(v) != 3 {
			return nil, fmt.Errorf("storage view metadata %s", typeName(t[5]))
		}
		off, ok1 := v[1].(int64)
		n, ok2 := v[2].(int64)
		if !ok1 || !ok2 || off < 0 || n < 0 || off > root.numel || n > root.numel-off {
			return nil, fmt.Errorf("storage view [%s, +%s) of a storage of %d elements", clip(v[1]), clip(v[2]), root.numel)
		}
		ref.offset, ref.numel = off, n
	}
	return ref, nil
}

// rebuild interprets calls of torch's tensor rebuild functions; other calls are left to
// the unpickler (as inert objects).
func rebuild(fn *pyGlobal, args pyTuple) (any, bool, error) {
	if fn.module != "torch._utils" {
		return nil, false, nil
	}
	switch fn.name {
	case "_rebuild_tensor", "_rebuild_tensor_v2":
		if len(args) < 4 {
			return nil, true, fmt.Errorf("%d arguments", len(args))
		}
		st, ok := args[0].(*storageRef)
		if !ok {
			return nil, true, fmt.Errorf("storage argument is a %s", typeName(args[0]))
		}
		off, ok := args[1].(int64)
		if !ok || off < 0 {
			return nil, true, fmt.Errorf("storage offset %s", clip(args[1]))
		}
		size, err := intTuple(args[2])
		if err != nil {
			return nil, true, fmt.Errorf("size: %v", err)
		}
		stride, err := intTuple(args[3])
		if err != nil {
			return nil, true, fmt.Errorf("stride: %v", err)
		}
		if len(size) != len(stride) {
			return nil, true, fmt.Errorf("size %v and stride %v differ in rank", size, stride)
		}
		return &rawTensor{storage: st, offset: off, size: size, stride: stride}, true, nil
	case "_rebuild_parameter", "_rebuild_parameter_with_state":
		if len(args) < 1 {
			return nil, true, errors.New("no arguments")
		}
		if _, ok := args[0].(*rawTensor); !ok {
			return nil, true, fmt.Errorf("data argument is a %s", typeName(args[0]))
		}
		return args[0], true, nil
	case "_rebuild_qtensor", "_rebuild_sparse_tensor", "_rebuild_sparse_csr_tensor", "_rebuild_meta_tensor_no_storage",
		"_rebuild_wrapper_subclass", "_rebuild_device_tensor_from_numpy", "_rebuild_nested_tensor":
		return nil, true, fmt.Errorf("%w: quantized, sparse, nested and meta tensors are not read", ErrUnsupported)
	}
	return nil, false, nil
}

// intTuple decodes a tuple of non-negative ints (a size or a stride).
func intTuple(v any) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("a %s, not a tuple", typeName(v))
	}
	if len(t) > maxRank {
		return nil, fmt.Errorf("rank %d exceeds %d", len(t), maxRank)
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("element %s", clip(x))
		}
		out[i] = n
	}
	return out, nil
}

// errZipDirectory stops archive/zip from listing an archive whose directory is too large.
var errZipDirectory = fmt.Errorf("%w: the zip archive's directory exceeds %d bytes", ErrTooLarge, maxZipDirectory)

// countedReaderAt fails once more than limit bytes have been read through it (while
// limit is positive), so that archive/zip's directory listing, which allocates in
// proportion to what it reads, stays bounded.
type countedReaderAt struct {
	r     io.ReaderAt
	n     int64
	limit int64
}

func (c *countedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if c.limit > 0 {
		c.n += int64(len(p))
		if c.n > c.limit {
			return 0, errZipDirectory
		}
	}
	return c.r.ReadAt(p, off)
}

// readZip reads a torch.save zip archive.
func readZip(r io.ReaderAt, size int64, lim limits) (map[string]Tensor, error) {
	cr := &countedReaderAt{r: r, limit: maxZipDirectory}
	zr, err := zip.NewReader(cr, size)
	if errors.Is(err, errZipDirectory) {
		return nil, errZipDirectory
	}
	if err != nil {
		return nil, fmt.Errorf("%w: damaged or truncated zip archive: %v", ErrCorrupt, err)
	}
	cr.limit = 0 // the entries are bounded by checkEntry and the tensor budget
	var pkl []*zip.File
	entries := make(map[string]*zip.File, len(zr.File))
	torchScript := false
	for _, e := range zr.File {
		entries[e.Name] = e
		dir, base, ok := strings.Cut(e.Name, "/")
		if !ok || dir == "" {
			continue
		}
		switch base {
		case "data.pkl":
			pkl = append(pkl, e)
		case "constants.pkl":
			torchScript = true
		}
	}
	if torchScript {
		return nil, fmt.Errorf("%w: a TorchScript archive (torch.jit.save); save the model's state_dict() with torch.save instead", ErrUnsupported)
	}
	switch len(pkl) {
	case 0:
		return nil, fmt.Errorf("%w: a zip archive without <dir>/data.pkl", ErrNotCheckpoint)
	case 1:
	default:
		return nil, fmt.Errorf("%w: the zip archive has %d data.pkl records", ErrCorrupt, len(pkl))
	}
	prefix := strings.TrimSuffix(pkl[0].Name, "data.pkl")
	// PyTorch 2 records the byte order of the storages; earlier versions wrote
	// little-endian only.
	if e, ok := entries[prefix+"byteorder"]; ok {
		if err := checkEntry(e, size); err != nil {
			return nil, err
		}
		if e.UncompressedSize64 > 16 {
			return nil, fmt.Errorf("%w: %s is %d bytes long", ErrCorrupt, clip(e.Name), e.UncompressedSize64)
		}
		order, err := readEntry(e, e.UncompressedSize64)
		if err != nil {
			return nil, err
		}
		if string(order) != "little" {
			return nil, fmt.Errorf("%w: storages in %q byte order", ErrUnsupported, order)
		}
	}
	if pkl[0].UncompressedSize64 > maxDataPickle {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than the %d-byte limit", ErrUnsupported, clip(pkl[0].Name), pkl[0].UncompressedSize64, maxDataPickle)
	}
	if err := checkEntry(pkl[0], size); err != nil {
		return nil, err
	}
	rc, err := pkl[0].Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, clip(pkl[0].Name), err)
	}
	defer rc.Close()

	st := &storages{roots: make(map[string]*storageRoot)}
	u := &unpickler{
		r:              bufio.NewReader(io.LimitReader(rc, maxDataPickle+1)),
		mem:            newBudget(lim.pickleBytes, "the pickle's values"),
		call:           rebuild,
		persistentLoad: st.zipStorage,
	}
	obj, err := u.load()
	if err != nil {
		return nil, pickleError(clip(pkl[0].Name), err)
	}
	state, err := selectStateDict(obj)
	if err != nil {
		return nil, err
	}
	// First check every storage record the tensors use against the pickle and the
	// archive, then the memory all of it needs, and only then read.
	type load struct {
		root *storageRoot
		e    *zip.File
	}
	var loads []load
	listed := make(map[*storageRoot]bool)
	for _, name := range sortedKeys(state) {
		root := state[name].storage.root
		if listed[root] || root.numel == 0 {
			continue
		}
		listed[root] = true
		record := prefix + "data/" + root.key
		e, ok := entries[record]
		if !ok {
			return nil, fmt.Errorf("%w: storage record %s is missing", ErrCorrupt, clip(record))
		}
		want := uint64(root.numel) * uint64(root.typ.size)
		if e.UncompressedSize64 != want {
			return nil, fmt.Errorf("%w: storage record %s holds %d bytes, the pickle declares %d %s values (%d bytes)",
				ErrCorrupt, clip(record), e.UncompressedSize64, root.numel, root.typ.dtype, want)
		}
		if err := checkEntry(e, size); err != nil {
			return nil, err
		}
		loads = append(loads, load{root, e})
	}
	if err := checkTensorBytes(state, lim); err != nil {
		return nil, err
	}
	for _, l := range loads {
		if l.root.data, err = readEntry(l.e, l.e.UncompressedSize64); err != nil {
			return nil, err
		}
	}
	return buildTensors(state)
}

// tensorBytes is the memory reading state takes: the bytes of the storages its
// tensors use plus four bytes per element of each tensor (saturating at MaxInt64).
func tensorBytes(state map[string]*rawTensor) int64 {
	var total int64
	add := func(n int64) {
		if n > math.MaxInt64-total {
			total = math.MaxInt64
		} else {
			total += n
		}
	}
	roots := make(map[*storageRoot]bool)
	for _, t := range state {
		if r := t.storage.root; !roots[r] {
			roots[r] = true
			add(r.numel * int64(r.typ.size)) // numel ≤ MaxInt64/8
		}
		n, err := t.check() // fewer than 2^31 when checkTensors passed
		if err != nil {
			n = math.MaxInt64 / 4
		}
		add(4 * n)
	}
	return total
}

// checkTensorBytes checks the tensors' views (checkTensors), then refuses a state
// dict whose tensors need more memory than lim allows, before anything is read or
// decoded.
func checkTensorBytes(state map[string]*rawTensor, lim limits) error {
	if err := checkTensors(state); err != nil {
		return err
	}
	if need := tensorBytes(state); need > lim.tensorBytes {
		return fmt.Errorf("%w: its %d tensors need %d bytes (storages and float32 data), more than the %d-byte limit (ReadOptions.MaxTensorBytes)",
			ErrTooLarge, len(state), need, lim.tensorBytes)
	}
	return nil
}

// sortedKeys returns a map's keys in order, so that reads and their errors are
// deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// maxShown is the longest name or value an error message quotes in full.
const maxShown = 120

// clip formats a value from the file for an error message, quoted when a string and
// shortened when long, so that hostile names cannot make messages huge.
func clip(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		if len(x) > maxShown {
			return strconv.Quote(x[:maxShown]) + fmt.Sprintf("… (%d bytes)", len(x))
		}
		return strconv.Quote(x)
	case pyTuple, *pyList, *pyDict, *pyObject, []byte:
		return "a " + typeName(v)
	default:
		s = fmt.Sprint(v)
	}
	if len(s) > maxShown {
		s = s[:maxShown] + "…"
	}
	return s
}

// checkEntry bounds a zip entry's declared sizes by the archive's size, so that reading
// it cannot allocate more than the file justifies.
func checkEntry(e *zip.File, archive int64) error {
	limit := uint64(archive)
	if e.Method == zip.Deflate {
		limit = e.CompressedSize64 * maxDeflateRatio
	} else if e.Method != zip.Store {
		return fmt.Errorf("%w: record %s uses zip compression method %d", ErrUnsupported, clip(e.Name), e.Method)
	}
	if e.CompressedSize64 > uint64(archive) || e.UncompressedSize64 > limit {
		return fmt.Errorf("%w: record %s declares %d bytes, more than the archive of %d bytes can hold",
			ErrCorrupt, clip(e.Name), e.UncompressedSize64, archive)
	}
	return nil
}

// readEntry reads exactly n bytes of a zip entry, checking its CRC.
func readEntry(e *zip.File, n uint64) ([]byte, error) {
	rc, err := e.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, clip(e.Name), err)
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, clip(e.Name), err)
	}
	// Reading to the end makes archive/zip verify the checksum.
	if _, err := rc.Read(make([]byte, 1)); err != io.EOF {
		if err == nil {
			err = errors.New("longer than declared")
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, clip(e.Name), err)
	}
	return b, nil
}

// pickleError classifies an unpickling error.
func pickleError(what string, err error) error {
	for _, s := range []error{ErrUnsupported, ErrNotCheckpoint, ErrCorrupt, ErrTooLarge} {
		if errors.Is(err, s) {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
}

// readLegacy reads the stream format of torch.save before PyTorch 1.6: five pickles
// (magic number, protocol version, system info, the object, the storage keys) followed
// by each storage as an int64 element count and its raw little-endian bytes.
func readLegacy(r io.Reader, size int64, lim limits) (map[string]Tensor, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var pos int64
	st := &storages{roots: make(map[string]*storageRoot)}
	pickleMem := newBudget(lim.pickleBytes, "the pickles' values")
	next := func(what string, persistent func(any) (any, error)) (any, error) {
		u := &unpickler{r: br, pos: pos, mem: pickleMem, call: rebuild, persistentLoad: persistent}
		v, err := u.load()
		pos = u.pos
		if err != nil {
			return nil, pickleError(what, err)
		}
		return v, nil
	}
	magic, err := next("magic number", nil)
	if err != nil {
		return nil, fmt.Errorf("%w: a pickle stream that does not start with PyTorch's magic number (%v)", ErrNotCheckpoint, err)
	}
	if m, ok := magic.(*big.Int); !ok || m.Text(16) != legacyMagic {
		return nil, fmt.Errorf("%w: a pickle stream that does not start with PyTorch's magic number", ErrNotCheckpoint)
	}
	version, err := next("protocol version", nil)
	if err != nil {
		return nil, err
	}
	if version != int64(1001) {
		return nil, fmt.Errorf("%w: legacy protocol version %s (only 1001 is known)", ErrUnsupported, clip(version))
	}
	info, err := next("system info", nil)
	if err != nil {
		return nil, err
	}
	if d, ok := info.(*pyDict); ok {
		if le, ok := d.get("little_endian"); ok && le != true {
			return nil, fmt.Errorf("%w: written on a big-endian machine", ErrUnsupported)
		}
	}
	obj, err := next("object pickle", st.legacyStorage)
	if err != nil {
		return nil, err
	}
	keysObj, err := next("storage keys", nil)
	if err != nil {
		return nil, err
	}
	keys, ok := keysObj.(*pyList)
	if !ok {
		return nil, fmt.Errorf("%w: storage keys are a %s", ErrCorrupt, typeName(keysObj))
	}
	state, err := selectStateDict(obj)
	if err != nil {
		return nil, err
	}
	needed := make(map[*storageRoot]bool)
	for _, t := range state {
		needed[t.storage.root] = true
	}
	// Every storage follows in the file: one larger than the file is a lie (checked
	// before the memory it would need).
	for _, name := range sortedKeys(state) {
		if r := state[name].storage.root; r.numel > size/int64(r.typ.size) {
			return nil, fmt.Errorf("%w: storage %s declares %d %s values (%d bytes), more than the file of %d bytes holds",
				ErrCorrupt, clip(r.key), r.numel, r.typ.dtype, r.numel*int64(r.typ.size), size)
		}
	}
	if err := checkTensorBytes(state, lim); err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(keys.items))
	for _, k := range keys.items {
		key, ok := k.(string)
		if !ok || seen[key] {
			return nil, fmt.Errorf("%w: storage key %s", ErrCorrupt, clip(k))
		}
		seen[key] = true
		root := st.roots[key]
		if root == nil {
			return nil, fmt.Errorf("%w: storage %s is listed but never used", ErrCorrupt, clip(key))
		}
		var hdr [8]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, fmt.Errorf("%w: storage %s: the file ends at byte %d", ErrCorrupt, clip(key), pos)
		}
		pos += 8
		n := int64(binary.LittleEndian.Uint64(hdr[:]))
		if n != root.numel {
			return nil, fmt.Errorf("%w: storage %s holds %d elements, the pickle declares %d", ErrCorrupt, clip(key), n, root.numel)
		}
		nbytes := n * int64(root.typ.size) // root.numel ≤ MaxInt64/8: no overflow
		if nbytes > size-pos {
			return nil, fmt.Errorf("%w: storage %s needs %d bytes at byte %d, the file has %d", ErrCorrupt, clip(key), nbytes, pos, size)
		}
		if needed[root] {
			root.data = make([]byte, nbytes)
			_, err = io.ReadFull(br, root.data)
		} else {
			_, err = io.CopyN(io.Discard, br, nbytes)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: storage %s: the file ends early", ErrCorrupt, clip(key))
		}
		pos += nbytes
	}
	for root := range needed {
		if !seen[root.key] {
			return nil, fmt.Errorf("%w: storage %s is used but not stored", ErrCorrupt, clip(root.key))
		}
	}
	return buildTensors(state)
}

// selectStateDict finds the state dict in a checkpoint's top-level object: the object
// itself or its "state_dict" or "model" entry.
func selectStateDict(obj any) (map[string]*rawTensor, error) {
	top, ok := obj.(*pyDict)
	if !ok {
		if o, isObj := obj.(*pyObject); isObj {
			return nil, fmt.Errorf("%w: the file holds a %s object, not a state dict; save model.state_dict() instead", ErrUnsupported, o.class)
		}
		return nil, fmt.Errorf("%w: the file holds a Python %s, not a state dict", ErrNotCheckpoint, typeName(obj))
	}
	d := top
	for _, k := range []string{"state_dict", "model"} {
		if v, ok := top.get(k); ok {
			if inner, ok := v.(*pyDict); ok {
				d = inner
				break
			}
		}
	}
	out := make(map[string]*rawTensor, len(d.keys))
	var bad []string
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s (a %s key)", clip(k), typeName(k)))
			continue
		}
		t, ok := d.values[i].(*rawTensor)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s (a %s)", clip(name), typeName(d.values[i])))
			continue
		}
		out[name] = t
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		if len(bad) > 20 {
			bad = append(bad[:20], fmt.Sprintf("and %d more", len(bad)-20))
		}
		return nil, fmt.Errorf("%w: not a state dict: entries that are not tensors: %s", ErrNotCheckpoint, strings.Join(bad, ", "))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the state dict holds no tensors", ErrNotCheckpoint)
	}
	return out, nil
}

// buildTensors decodes every tensor from its (loaded) storage; checkTensorBytes has
// bounded what that allocates.
func buildTensors(state map[string]*rawTensor) (map[string]Tensor, error) {
	out := make(map[string]Tensor, len(state))
	for _, name := range sortedKeys(state) {
		v, err := state[name].decode()
		if err != nil {
			return nil, fmt.Errorf("%w: tensor %s: %v", ErrCorrupt, clip(name), err)
		}
		out[name] = v
	}
	return out, nil
}

// check checks a tensor's view against its storage and returns its number of
// elements: fewer than 2^31, no more than its storage holds (or maxBroadcast, through
// zero strides), every index inside the storage.
func (t *rawTensor) check() (int64, error) {
	ref := t.storage
	numel := int64(1)
	for _, d := range t.size {
		if d != 0 && numel > math.MaxInt32/d {
			return 0, fmt.Errorf("size %v is too large", t.size)
		}
		numel *= d
	}
	if numel == 0 {
		return 0, nil
	}
	if numel > max(ref.numel, maxBroadcast) {
		return 0, fmt.Errorf("%d elements from a storage of %d", numel, ref.numel)
	}
	// The last element's offset, accumulated without overflow: every term is checked
	// against the room left in the storage (whose size the file's length bounds).
	overrun := fmt.Errorf("size %v, stride %v and offset %d overrun its storage of %d elements", t.size, t.stride, t.offset, ref.numel)
	if t.offset >= ref.numel {
		return 0, overrun
	}
	room := ref.numel - 1 - t.offset
	for i, d := range t.size {
		if d > 1 && t.stride[i] > room/(d-1) {
			return 0, overrun
		}
		room -= (d - 1) * t.stride[i]
	}
	return numel, nil
}

// checkTensors checks every tensor's view against its storage (see check), before
// anything is read.
func checkTensors(state map[string]*rawTensor) error {
	for _, name := range sortedKeys(state) {
		if _, err := state[name].check(); err != nil {
			return fmt.Errorf("%w: tensor %s: %v", ErrCorrupt, clip(name), err)
		}
	}
	return nil
}

// decode gathers a tensor's elements through its offset and strides, checking every
// index against its storage.
func (t *rawTensor) decode() (Tensor, error) {
	numel, err := t.check()
	if err != nil {
		return Tensor{}, err
	}
	ref := t.storage
	typ := ref.root.typ
	shape := make([]int, len(t.size))
	for i, d := range t.size {
		shape[i] = int(d)
	}
	res := Tensor{DType: typ.dtype, Shape: shape, Data: make([]float32, 0)}
	if numel == 0 {
		return res, nil
	}
	data := ref.root.data
	if int64(len(data)) != ref.root.numel*int64(typ.size) {
		return Tensor{}, errors.New("storage was not loaded")
	}
	res.Data = make([]float32, numel)
	es := int64(typ.size)
	base := (ref.offset + t.offset) * es
	idx := make([]int64, len(t.size))
	var off int64 // element offset of idx from the tensor's start
	for i := range res.Data {
		p := base + off*es
		res.Data[i] = typ.decode(data[p : p+es])
		// Advance the multi-index, innermost axis first.
		for a := len(idx) - 1; a >= 0; a-- {
			idx[a]++
			off += t.stride[a]
			if idx[a] < t.size[a] {
				break
			}
			off -= idx[a] * t.stride[a]
			idx[a] = 0
		}
	}
	return res, nil
}
