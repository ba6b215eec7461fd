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
