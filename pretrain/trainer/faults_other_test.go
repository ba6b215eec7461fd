//go:build !unix

package trainer

import "testing"

// specialFileCases: special files (FIFOs) are made with syscall.Mkfifo, on Unix only.
func specialFileCases() []struct {
	name  string
	setup func(t *testing.T, dir string, o *Options) []string
} {
	return nil
}
