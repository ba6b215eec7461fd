// Package panics converts panics to errors at API boundaries: GoMLX graph-building and
// context functions report errors by panicking, and some third-party decoders panic on
// hostile input. Every recover() of this module goes through this package, so a caught
// panic always reads the same way and is recognisable with errors.As.
package panics

import "fmt"

// Error is a panic caught by Call: Value is what was passed to panic.
type Error struct {
	// Value is the panic's argument.
	Value any
}

// Error reports the panic's value, prefixed with "panic: ".
func (e *Error) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic's value when it is an error, so errors.Is sees through it.
func (e *Error) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// Catch runs fn and returns a panic it raised as an error (the value itself when it is
// an error, so GoMLX's messages read unchanged), or nil.
func Catch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	fn()
	return nil
}

// Call runs fn and returns its results; if fn panics, Call returns T's zero value and an
// *Error holding the panic's value.
func Call[T any](fn func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			v, err = zero, &Error{Value: r}
		}
	}()
	return fn()
}
