// Package panics converts panics to errors at API boundaries: GoMLX graph-building and
// context functions report errors by panicking.
package panics

import "fmt"

// Catch runs fn and returns a panic it raised as an error (the value itself when it is
// an error), or nil.
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
