package torchimport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
)

// This file is a strict, bounded unpickler for the subset of Python's pickle format that
// torch.save writes (protocols 2 to 4: dicts, OrderedDicts, lists, tuples, numbers,
// strings, globals, persistent ids). It never executes anything: a global is a name, and
// calling one (REDUCE, NEWOBJ) builds a tensor for the few torch rebuild functions it
// knows and an inert pyObject otherwise. Every length read from the input is checked
// before it is used to allocate, nothing recurses, and what the decoded values occupy is
// charged against a memory budget (a pickle of a few bytes per opcode could otherwise
// build objects of a hundred bytes each), so hostile input yields an error.

// Limits of the unpickler.
const (
	maxPickleString = 64 << 20 // longest string or bytes object
	maxPickleStack  = 1 << 22  // deepest value stack
	maxPickleMarks  = 1 << 16  // deepest mark nesting
	maxPickleMemo   = 1 << 24  // largest memo index
	maxPickleLine   = 4096     // longest text line (GLOBAL, INT, PUT, ...)
	maxPickleLong   = 256      // longest LONG1/LONG4 integer, in bytes
	// maxPickleMemory is the default budget for the decoded values, in (approximate)
	// bytes. A state dict's pickle, even a training checkpoint's with its optimizer
	// state, needs a few MiB at most.
	maxPickleMemory = 256 << 20
)

// Approximate sizes, in bytes, charged against the memory budget for what each opcode
// allocates (Go's own sizes rounded up, plus slice growth and map overhead).
const (
	costScalar    = 16  // a boxed int64 or float64
	costString    = 32  // a string or bytes header, beyond its bytes
	costItem      = 32  // one slot of a tuple, list or stack (with growth)
	costContainer = 64  // a tuple, list, global or inert object
	costDict      = 128 // an empty dict
	costDictItem  = 112 // one key and value of a dict, with its index entry
	costMemo      = 64  // one memo entry
)

// Values the unpickler produces. Python None is nil; bool is bool; int is int64 (or
// *big.Int when it does not fit); float is float64; str is string; bytes is []byte.
type (
	// pyTuple is a Python tuple.
	pyTuple []any
	// pyList is a Python list (or set), a pointer because APPEND mutates it.
	pyList struct{ items []any }
	// pyDict is a Python dict or OrderedDict, in insertion order.
	pyDict struct {
		keys   []any
		values []any
		index  map[any]int // for string and int64 keys
		state  any         // set by BUILD (an OrderedDict's __dict__, e.g. _metadata)
	}
	// pyGlobal is a module-level name (a class or function), never resolved.
	pyGlobal struct{ module, name string }
	// pyObject is an inert instance of a class the unpickler does not interpret.
	pyObject struct {
		class *pyGlobal
		args  pyTuple
		state any
	}
)

// set stores value under key, replacing an existing entry with an equal string or int key.
func (d *pyDict) set(key, value any) {
	switch key.(type) {
	case string, int64:
		if i, ok := d.index[key]; ok {
			d.values[i] = value
			return
		}
		if d.index == nil {
			d.index = make(map[any]int)
		}
		d.index[key] = len(d.keys)
	}
	d.keys = append(d.keys, key)
	d.values = append(d.values, value)
}

// get returns the value stored under a string key.
func (d *pyDict) get(key string) (any, bool) {
	i, ok := d.index[key]
	if !ok {
		return nil, false
	}
	return d.values[i], true
}

// String is the global's dotted name, shortened when long (it appears in errors).
func (g *pyGlobal) String() string {
	s := g.module + "." + g.name
	if len(s) > 2*maxShown {
		s = s[:2*maxShown] + "…"
	}
	return s
}

// unpickler decodes one pickle from r. persistentLoad resolves persistent ids (torch's
// storages); call resolves calls of globals (REDUCE and NEWOBJ) and returns handled
// false for the ones it does not interpret, which become pyObjects.
type unpickler struct {
	r              *bufio.Reader
	pos            int64 // bytes consumed, for error messages
	stack          []any
	marks          []int
	memo           map[int64]any
	mem            *budget // nil: a fresh budget of maxPickleMemory per load
	persistentLoad func(pid any) (any, error)
	call           func(fn *pyGlobal, args pyTuple) (result any, handled bool, err error)
}

// errPickle marks a malformed pickle; errTruncatedPickle one that ends early.
var (
	errPickle          = errors.New("malformed pickle")
	errTruncatedPickle = errors.New("pickle ends early")
)

// budget is a memory allowance in bytes, shared by the steps of one read.
type budget struct {
	left, limit int64
	what        string // what it bounds, for the error
}

func newBudget(limit int64, what string) *budget {
	return &budget{left: limit, limit: limit, what: what}
}

// take charges n bytes, failing with ErrTooLarge once the allowance is spent.
func (b *budget) take(n int64) error {
	if n < 0 || n > b.left {
		return fmt.Errorf("%w: %s need more than the %d-byte limit", ErrTooLarge, b.what, b.limit)
	}
	b.left -= n
	return nil
}

// alloc charges n bytes of decoded values to the unpickler's budget.
func (u *unpickler) alloc(n int64) error {
	if err := u.mem.take(n); err != nil {
		return fmt.Errorf("at byte %d: %w", u.pos, err)
	}
	return nil
}

func (u *unpickler) fail(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", errPickle, u.pos, fmt.Sprintf(format, args...))
}

// failWith is fail for an error from a callback, which stays in the chain (so that
// errors.Is still finds ErrUnsupported in it).
func (u *unpickler) failWith(err error, format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s: %w", u.pos, fmt.Sprintf(format, args...), err)
}

func (u *unpickler) readByte() (byte, error) {
	b, err := u.r.ReadByte()
	if err != nil {
		return 0, u.eof(err)
	}
	u.pos++
	return b, nil
}

func (u *unpickler) eof(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w (at byte %d)", errTruncatedPickle, u.pos)
	}
	return err
}

// readN reads n bytes, allocating as the data arrives (never n up front for large n).
func (u *unpickler) readN(n uint64) ([]byte, error) {
	if n > maxPickleString {
		return nil, u.fail("object of %d bytes exceeds the %d-byte limit", n, maxPickleString)
	}
	if n > 8 {
		if err := u.alloc(int64(n)); err != nil {
			return nil, err
		}
	}
	if n <= 1<<16 {
		b := make([]byte, n)
		k, err := io.ReadFull(u.r, b)
		u.pos += int64(k)
		if err != nil {
			return nil, u.eof(err)
		}
		return b, nil
	}
	var buf bytes.Buffer
	k, err := io.CopyN(&buf, u.r, int64(n))
	u.pos += k
	if err != nil {
		return nil, u.eof(err)
	}
	return buf.Bytes(), nil
}

func (u *unpickler) readUint(size int) (uint64, error) {
	b, err := u.readN(uint64(size))
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := size - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// readLine reads a text line without its newline.
func (u *unpickler) readLine() (string, error) {
	var b []byte
	for {
		c, err := u.readByte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			if err := u.alloc(costString + int64(len(b))); err != nil {
				return "", err
			}
			return string(b), nil
		}
		if len(b) >= maxPickleLine {
			return "", u.fail("text line longer than %d bytes", maxPickleLine)
		}
		b = append(b, c)
	}
}

func (u *unpickler) push(v any) error {
	if len(u.stack) >= maxPickleStack {
		return u.fail("stack deeper than %d", maxPickleStack)
	}
	if len(u.stack) == cap(u.stack) { // the stack grows: a new array of about twice the size
		if err := u.alloc(costItem * int64(cap(u.stack)+1)); err != nil {
			return err
		}
	}
	u.stack = append(u.stack, v)
	return nil
}

// pushNew pushes a value just built, charging cost bytes for it.
func (u *unpickler) pushNew(v any, cost int64) error {
	if err := u.alloc(cost); err != nil {
		return err
	}
	return u.push(v)
}

func (u *unpickler) pop() (any, error) {
	n := len(u.stack)
	if n == 0 || n <= u.lastMark() {
		return nil, u.fail("pop from an empty stack")
	}
	v := u.stack[n-1]
	u.stack = u.stack[:n-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	n := len(u.stack)
	if n == 0 || n <= u.lastMark() {
		return nil, u.fail("empty stack")
	}
	return u.stack[n-1], nil
}

// lastMark is the stack length at the innermost MARK, or 0.
func (u *unpickler) lastMark() int {
	if len(u.marks) == 0 {
		return 0
	}
	return u.marks[len(u.marks)-1]
}

// popMark returns the items pushed since the innermost MARK and removes them and it.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.fail("no MARK")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	if err := u.alloc(costItem * int64(len(u.stack)-m)); err != nil {
		return nil, err
	}
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) memoPut(i int64) error {
	if i < 0 || i >= maxPickleMemo {
		return u.fail("memo index %d out of range", i)
	}
	v, err := u.top()
	if err != nil {
		return err
	}
	if _, ok := u.memo[i]; !ok {
		if err := u.alloc(costMemo); err != nil {
			return err
		}
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) memoGet(i int64) error {
	v, ok := u.memo[i]
	if !ok {
		return u.fail("memo index %d was never stored", i)
	}
	return u.push(v)
}

// load decodes one pickle, up to and including its STOP opcode.
func (u *unpickler) load() (result any, err error) {
	u.memo = make(map[int64]any)
	if u.mem == nil {
		u.mem = newBudget(maxPickleMemory, "the pickle's values")
	}
	for {
		op, err := u.readByte()
		if err != nil {
			return nil, err
		}
		if op == '.' { // STOP
			if len(u.marks) != 0 || len(u.stack) != 1 {
				return nil, u.fail("STOP with %d values and %d marks on the stack", len(u.stack), len(u.marks))
			}
			return u.stack[0], nil
		}
		if err := u.step(op); err != nil {
			return nil, err
		}
	}
}

// step executes one opcode other than STOP.
func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		p, err := u.readByte()
		if err != nil {
			return err
		}
		if p > 5 {
			return u.fail("pickle protocol %d is not supported", p)
		}
		return nil
	case 0x95: // FRAME: an 8-byte length; frames need no special handling when reading.
		_, err := u.readUint(8)
		return err
	case '(': // MARK
		if len(u.marks) >= maxPickleMarks {
			return u.fail("marks nested deeper than %d", maxPickleMarks)
		}
		u.marks = append(u.marks, len(u.stack))
		return nil
	case '0': // POP
		if len(u.stack) == u.lastMark() && len(u.marks) > 0 {
			_, err := u.popMark()
			return err
		}
		_, err := u.pop()
		return err
	case '1': // POP_MARK
		_, err := u.popMark()
		return err
	case '2': // DUP
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.push(v)
	case 'N':
		return u.push(nil)
	case 0x88: // NEWTRUE
		return u.push(true)
	case 0x89: // NEWFALSE
		return u.push(false)
	case 'J': // BININT
		v, err := u.readUint(4)
		if err != nil {
			return err
		}
		return u.pushNew(int64(int32(uint32(v))), costScalar)
	case 'K': // BININT1
		v, err := u.readUint(1)
		if err != nil {
			return err
		}
		return u.pushNew(int64(v), costScalar)
	case 'M': // BININT2
		v, err := u.readUint(2)
		if err != nil {
			return err
		}
		return u.pushNew(int64(v), costScalar)
	case 0x8a, 0x8b: // LONG1, LONG4
		size := 1
		if op == 0x8b {
			size = 4
		}
		n, err := u.readUint(size)
		if err != nil {
			return err
		}
		if n > maxPickleLong {
			return u.fail("integer of %d bytes exceeds the %d-byte limit", n, maxPickleLong)
		}
		b, err := u.readN(n)
		if err != nil {
			return err
		}
		return u.pushNew(decodeLong(b), costString+2*int64(n))
	case 'I': // INT (text; "01"/"00" are True/False)
		line, err := u.readLine()
		if err != nil {
			return err
		}
		switch line {
		case "01":
			return u.push(true)
		case "00":
			return u.push(false)
		}
		v, perr := strconv.ParseInt(line, 10, 64)
		if perr != nil {
			return u.fail("INT %q: %v", line, perr)
		}
		return u.pushNew(v, costScalar)
	case 'G': // BINFLOAT, big-endian
		b, err := u.readN(8)
		if err != nil {
			return err
		}
		return u.pushNew(math.Float64frombits(binary.BigEndian.Uint64(b)), costScalar)
	case 'X', 0x8c, 0x8d, 'T', 'U', 'B', 'C', 0x8e: // strings and bytes
		return u.readString(op)
	case ')': // EMPTY_TUPLE
		return u.pushNew(pyTuple{}, costContainer)
	case 't': // TUPLE
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.pushNew(pyTuple(items), costContainer)
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		n := int(op-0x85) + 1
		if len(u.stack)-u.lastMark() < n {
			return u.fail("TUPLE%d with fewer than %d values", n, n)
		}
		if err := u.alloc(costContainer + costItem*int64(n)); err != nil {
			return err
		}
		t := append(pyTuple(nil), u.stack[len(u.stack)-n:]...)
		u.stack = u.stack[:len(u.stack)-n]
		return u.push(t)
	case ']', 0x8f: // EMPTY_LIST, EMPTY_SET
		return u.pushNew(&pyList{}, costContainer)
	case 'l', 0x91: // LIST, FROZENSET
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.pushNew(&pyList{items: items}, costContainer)
	case 'a': // APPEND
		v, err := u.pop()
		if err != nil {
			return err
		}
		return u.appendTo([]any{v})
	case 'e', 0x90: // APPENDS, ADDITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.appendTo(items)
	case '}': // EMPTY_DICT
		return u.pushNew(&pyDict{}, costDict)
	case 'd': // DICT
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d := &pyDict{}
		if err := u.setItems(d, items); err != nil {
			return err
		}
		return u.pushNew(d, costDict)
	case 's': // SETITEM
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		d, err := u.topDict()
		if err != nil {
			return err
		}
		return u.setItems(d, []any{k, v})
	case 'u': // SETITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d, err := u.topDict()
		if err != nil {
			return err
		}
		return u.setItems(d, items)
	case 'c': // GLOBAL
		module, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		return u.pushNew(&pyGlobal{module: module, name: name}, costContainer)
	case 0x93: // STACK_GLOBAL
		name, err := u.pop()
		if err != nil {
			return err
		}
		module, err := u.pop()
		if err != nil {
			return err
		}
		ms, ok1 := module.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return u.fail("STACK_GLOBAL needs two strings")
		}
		return u.pushNew(&pyGlobal{module: ms, name: ns}, costContainer)
	case 'R', 0x81: // REDUCE, NEWOBJ
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		return u.callGlobal(fn, args)
	case 0x92: // NEWOBJ_EX: cls, args, kwargs
		if _, err := u.pop(); err != nil {
			return err
		}
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		return u.callGlobal(fn, args)
	case 'b': // BUILD
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		switch o := obj.(type) {
		case *pyDict:
			o.state = state
		case *pyObject:
			o.state = state
		}
		// BUILD on anything else (a tensor) sets Python attributes we do not need.
		return nil
	case 'q': // BINPUT
		i, err := u.readUint(1)
		if err != nil {
			return err
		}
		return u.memoPut(int64(i))
	case 'r': // LONG_BINPUT
		i, err := u.readUint(4)
		if err != nil {
			return err
		}
		return u.memoPut(int64(i))
	case 0x94: // MEMOIZE
		return u.memoPut(int64(len(u.memo)))
	case 'p': // PUT (text)
		i, err := u.readLineInt()
		if err != nil {
			return err
		}
		return u.memoPut(i)
	case 'h': // BINGET
		i, err := u.readUint(1)
		if err != nil {
			return err
		}
		return u.memoGet(int64(i))
	case 'j': // LONG_BINGET
		i, err := u.readUint(4)
		if err != nil {
			return err
		}
		return u.memoGet(int64(i))
	case 'g': // GET (text)
		i, err := u.readLineInt()
		if err != nil {
			return err
		}
		return u.memoGet(i)
	case 'Q': // BINPERSID
		pid, err := u.pop()
		if err != nil {
			return err
		}
		return u.persistent(pid)
	case 'P': // PERSID (text)
		line, err := u.readLine()
		if err != nil {
			return err
		}
		return u.persistent(line)
	}
	return u.fail("unsupported pickle opcode 0x%02x", op)
}

func (u *unpickler) readLineInt() (int64, error) {
	line, err := u.readLine()
	if err != nil {
		return 0, err
	}
	v, perr := strconv.ParseInt(line, 10, 64)
	if perr != nil {
		return 0, u.fail("memo index %q: %v", line, perr)
	}
	return v, nil
}

// readString handles the length-prefixed string and bytes opcodes.
func (u *unpickler) readString(op byte) error {
	size := 4
	switch op {
	case 0x8c, 'U', 'C': // SHORT_BINUNICODE, SHORT_BINSTRING, SHORT_BINBYTES
		size = 1
	case 0x8d, 0x8e: // BINUNICODE8, BINBYTES8
		size = 8
	}
	n, err := u.readUint(size)
	if err != nil {
		return err
	}
	if op == 'T' && int32(uint32(n)) < 0 {
		return u.fail("negative string length")
	}
	b, err := u.readN(n)
	if err != nil {
		return err
	}
	switch op {
	case 'B', 'C', 0x8e:
		return u.pushNew(b, costString)
	}
	// Unicode (and Python 2 str, which torch decodes as text) become Go strings (a copy).
	return u.pushNew(string(b), costString+int64(len(b)))
}

func (u *unpickler) topDict() (*pyDict, error) {
	v, err := u.top()
	if err != nil {
		return nil, err
	}
	d, ok := v.(*pyDict)
	if !ok {
		return nil, u.fail("SETITEM on a %s", typeName(v))
	}
	return d, nil
}

func (u *unpickler) setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return u.fail("odd number of dict items")
	}
	if err := u.alloc(costDictItem * int64(len(items)/2)); err != nil {
		return err
	}
	for i := 0; i < len(items); i += 2 {
		d.set(items[i], items[i+1])
	}
	return nil
}

func (u *unpickler) appendTo(items []any) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	l, ok := v.(*pyList)
	if !ok {
		return u.fail("APPEND to a %s", typeName(v))
	}
	if err := u.alloc(costItem * int64(len(items))); err != nil {
		return err
	}
	l.items = append(l.items, items...)
	return nil
}

func (u *unpickler) callGlobal(fn, args any) error {
	g, ok := fn.(*pyGlobal)
	if !ok {
		return u.fail("cannot call a Python %s", typeName(fn))
	}
	t, ok := args.(pyTuple)
	if !ok {
		return u.fail("call of %s with %s arguments", g, typeName(args))
	}
	if g.module == "collections" && g.name == "OrderedDict" {
		if len(t) != 0 {
			return u.fail("OrderedDict built from arguments is not supported")
		}
		return u.pushNew(&pyDict{}, costDict)
	}
	if u.call != nil {
		v, handled, err := u.call(g, t)
		if err != nil {
			return u.failWith(err, "%s", g)
		}
		if handled {
			return u.pushNew(v, 2*costContainer+costItem*int64(len(t)))
		}
	}
	return u.pushNew(&pyObject{class: g, args: t}, costContainer)
}

func (u *unpickler) persistent(pid any) error {
	if u.persistentLoad == nil {
		return u.fail("persistent id outside a checkpoint")
	}
	v, err := u.persistentLoad(pid)
	if err != nil {
		return u.failWith(err, "persistent id")
	}
	return u.pushNew(v, 2*costContainer)
}

// decodeLong decodes a little-endian two's complement integer (LONG1, LONG4): an int64
// when it fits, whatever the length of its encoding, else a *big.Int.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		shift := 64 - 8*uint(len(b))
		return int64(v<<shift) >> shift // sign-extend
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if v.IsInt64() { // a needlessly long encoding: the same int as a short one
		return v.Int64()
	}
	return v
}

// typeName names a decoded value's Python type, for error messages.
func typeName(v any) string {
	switch o := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case *pyGlobal:
		return "global " + o.String()
	case *pyObject:
		return o.class.String() + " object"
	case *storageRef:
		return "storage"
	case *rawTensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}
