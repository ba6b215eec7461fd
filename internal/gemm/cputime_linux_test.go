//go:build linux

package gemm

import (
	"syscall"
	"time"
)

// threadCPUTime returns the CPU time consumed by the calling OS thread
// (callers lock the goroutine to its thread). On a shared machine, flops per
// CPU-second measures kernel efficiency independently of time slicing.
func threadCPUTime() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPUTime returns the CPU time consumed by the whole process (all
// threads): flops per process CPU-second measures the work a multi-worker
// call does, whatever share of the cores the machine gives it.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
