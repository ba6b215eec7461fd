package torchimport

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

// Pickles of
//
//	{'a': [1, -2, 300, -70000, 3.5, None, True, False, 2**70, -2**70, b'xy', 'é',
//	       (1,), (1, 2), (1, 2, 3), (), 'é'], 's': {1}, 'f': frozenset([2])}
//
// written by Python 3.11's pickle.dumps with protocols 2, 3 and 4.
var pickleVectors = map[int]string{
	2: "80027d71002858010000006171015d7102284b014afeffffff4d2c014a90eefeff47400c0000000000004e88898a090000000000000000408a090000000000000000c0635f636f646563730a656e636f64650a710358020000007879710458060000006c6174696e3171058671065271075802000000c3a971084b018571094b014b0286710a4b014b024b0387710b29680865580100000073710c635f5f6275696c74696e5f5f0a7365740a710d5d710e4b016185710f5271105801000000667111635f5f6275696c74696e5f5f0a66726f7a656e7365740a71125d71134b0261857114527115752e",
	3: "80037d71002858010000006171015d7102284b014afeffffff4d2c014a90eefeff47400c0000000000004e88898a090000000000000000408a090000000000000000c04302787971035802000000c3a971044b018571054b014b028671064b014b024b03877107296804655801000000737108636275696c74696e730a7365740a71095d710a4b016185710b52710c580100000066710d636275696c74696e730a66726f7a656e7365740a710e5d710f4b0261857110527111752e",
	4: "80049570000000000000007d94288c0161945d94284b014afeffffff4d2c014a90eefeff47400c0000000000004e88898a090000000000000000408a090000000000000000c043027879948c02c3a9944b0185944b014b0286944b014b024b038794296804658c0173948f94284b01908c016694284b029194752e",
}

func TestUnpicklerVectors(t *testing.T) {
	two70 := new(big.Int).Lsh(big.NewInt(1), 70)
	for proto, h := range pickleVectors {
		data, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		u := &unpickler{r: bufio.NewReader(bytes.NewReader(data))}
		v, err := u.load()
		if err != nil {
			t.Fatalf("protocol %d: %v", proto, err)
		}
		d, ok := v.(*pyDict)
		if !ok || len(d.keys) != 3 {
			t.Fatalf("protocol %d: %s", proto, typeName(v))
		}
		a, _ := d.get("a")
		l, ok := a.(*pyList)
		if !ok || len(l.items) != 17 {
			t.Fatalf("protocol %d: a is %s", proto, typeName(a))
		}
		want := []any{int64(1), int64(-2), int64(300), int64(-70000), 3.5, nil, true, false}
		if !reflect.DeepEqual(l.items[:8], want) {
			t.Errorf("protocol %d: %#v", proto, l.items[:8])
		}
		if b, ok := l.items[8].(*big.Int); !ok || b.Cmp(two70) != 0 {
			t.Errorf("protocol %d: 2**70 is %v", proto, l.items[8])
		}
		if b, ok := l.items[9].(*big.Int); !ok || b.Cmp(new(big.Int).Neg(two70)) != 0 {
			t.Errorf("protocol %d: -2**70 is %v", proto, l.items[9])
		}
		if proto >= 3 && !reflect.DeepEqual(l.items[10], []byte("xy")) {
			t.Errorf("protocol %d: bytes are %#v", proto, l.items[10])
		}
		if proto == 2 { // _codecs.encode('xy', 'latin1'), left uncalled
			if o, ok := l.items[10].(*pyObject); !ok || o.class.String() != "_codecs.encode" {
				t.Errorf("protocol 2: bytes are %#v", l.items[10])
			}
		}
		tail := []any{"é", pyTuple{int64(1)}, pyTuple{int64(1), int64(2)}, pyTuple{int64(1), int64(2), int64(3)}, pyTuple{}, "é"}
		if !reflect.DeepEqual(l.items[11:], tail) {
			t.Errorf("protocol %d: %#v", proto, l.items[11:])
		}
		s, _ := d.get("s")
		f, _ := d.get("f")
		if proto == 4 {
			if !reflect.DeepEqual(s, &pyList{items: []any{int64(1)}}) || !reflect.DeepEqual(f, &pyList{items: []any{int64(2)}}) {
				t.Errorf("protocol 4: sets %#v %#v", s, f)
			}
		} else if o, ok := s.(*pyObject); !ok || !strings.HasSuffix(o.class.String(), ".set") {
			t.Errorf("protocol %d: set is %s", proto, typeName(s))
		}
	}
}

// TestUnpicklerOpcodes covers the text and rarely used opcodes.
func TestUnpicklerOpcodes(t *testing.T) {
	for _, tc := range []struct {
		name, pickle string
		want         any
		err          string
	}{
		{"text int and memo", "I42\np0\n0g0\n.", int64(42), ""},
		{"text bools", "(I01\nI00\nt.", pyTuple{true, false}, ""},
		{"list", "(K\x01K\x02l.", &pyList{items: []any{int64(1), int64(2)}}, ""},
		{"dict", "(X\x01\x00\x00\x00aK\x01d.", &pyDict{keys: []any{"a"}, values: []any{int64(1)}, index: map[any]int{"a": 0}}, ""},
		{"replace key", "}(K\x01K\x02K\x01K\x03u.", &pyDict{keys: []any{int64(1)}, values: []any{int64(3)}, index: map[any]int{int64(1): 0}}, ""},
		{"dup and pop mark", "K\x01(K\x02K\x03K\x04" + "1" + "2" + "\x86.", pyTuple{int64(1), int64(1)}, ""},
		{"long get", "K\x07r\x05\x00\x00\x000j\x05\x00\x00\x00.", int64(7), ""},
		{"binstring", "U\x02hi.", "hi", ""},
		{"short binbytes", "C\x02hi.", []byte("hi"), ""},
		{"newobj", "cm\nC\n)\x81}b.", &pyObject{class: &pyGlobal{"m", "C"}, args: pyTuple{}, state: &pyDict{}}, ""},
		{"negative long1", "\x8a\x01\xff.", int64(-1), ""},
		{"empty long1", "\x8a\x00.", int64(0), ""},
		{"pop from empty", "0.", nil, "empty stack"},
		{"stop with two values", "K1K2.", nil, "STOP with 2 values"},
		{"unterminated", "K1", nil, "ends early"},
		{"protocol 6", "\x80\x06.", nil, "protocol 6"},
		{"odd setitems", "}(K1u.", nil, "odd number"},
		{"setitem on a list", "]K1K2s.", nil, "SETITEM on a list"},
		{"append to a dict", "}K1a.", nil, "APPEND to a dict"},
		{"call of an int", "K1)R.", nil, "cannot call a Python int"},
		{"persistent id", "K1Q.", nil, "persistent id outside"},
		{"long line", "c" + strings.Repeat("x", maxPickleLine+1), nil, "longer than"},
		{"ordered dict args", "ccollections\nOrderedDict\n(K1tR.", nil, "OrderedDict built from arguments"},
		{"bad memo index", "K1p-5\n.", nil, "out of range"},
		{"bad text int", "Ixyz\n.", nil, "INT"},
	} {
		u := &unpickler{r: bufio.NewReader(strings.NewReader(tc.pickle))}
		v, err := u.load()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(v, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, v, tc.want)
		}
	}
}
