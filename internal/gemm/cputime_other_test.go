//go:build !linux

package gemm

import "time"

// threadCPUTime is unavailable on this OS; benchmarks then report wall-clock figures only.
func threadCPUTime() time.Duration { return 0 }

// processCPUTime is unavailable on this OS.
func processCPUTime() time.Duration { return 0 }
