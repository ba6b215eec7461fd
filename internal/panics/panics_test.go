package panics

import (
	"errors"
	"testing"
)

func TestCatch(t *testing.T) {
	sentinel := errors.New("boom")
	if err := Catch(func() { panic(sentinel) }); !errors.Is(err, sentinel) {
		t.Errorf("error value: %v", err)
	}
	if err := Catch(func() { panic("text") }); err == nil || err.Error() != "text" {
		t.Errorf("string value: %v", err)
	}
	if err := Catch(func() {}); err != nil {
		t.Errorf("no panic: %v", err)
	}
}

func TestCall(t *testing.T) {
	sentinel := errors.New("boom")
	v, err := Call(func() (int, error) { panic(sentinel) })
	var p *Error
	if v != 0 || !errors.As(err, &p) || !errors.Is(err, sentinel) || err.Error() != "panic: boom" {
		t.Errorf("error panic: v %d, err %v", v, err)
	}
	v, err = Call(func() (int, error) { panic(7) })
	if v != 0 || !errors.As(err, &p) || p.Value != 7 || errors.Unwrap(err) != nil || err.Error() != "panic: 7" {
		t.Errorf("non-error panic: v %d, err %v", v, err)
	}
	v, err = Call(func() (int, error) { return 3, sentinel })
	if v != 3 || err != sentinel {
		t.Errorf("plain error must pass through unchanged: v %d, err %v", v, err)
	}
	v, err = Call(func() (int, error) { return 4, nil })
	if v != 4 || err != nil {
		t.Errorf("no panic: v %d, err %v", v, err)
	}
}
