// Package hostile holds the helpers that the hostile-input tests of several packages
// share: files that are not regular files, a time bound on a call that could block,
// and the heap bytes a call allocates. It is imported by tests only.
package hostile

import (
	"runtime"
	"testing"
	"time"
)

// Special is a path that is not a regular file, with the word a refusal should use
// to describe it ("named pipe", "character device", "directory").
type Special struct {
	Path, Reason string
}

// Within runs f in a goroutine and fails the test if it has not returned after d
// (a blocked open or read of a FIFO never would); it returns f's error.
func Within(t testing.TB, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
		return nil
	}
}

// Allocated runs f and returns the bytes it allocated on the heap (all goroutines:
// callers must not run other tests in parallel).
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
