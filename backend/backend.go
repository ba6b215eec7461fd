// Package backend chooses the GoMLX backend swav-go computes with.
//
// GoMLX's own default is XLA, whose plugin is downloaded at first use: that fails on
// machines without network access and needs cgo. swav-go therefore defaults to its own
// pure-Go backends, registered under these names:
//
//   - "swav" (package backend/fast), the default: AVX2/FMA GEMM and convolution kernels
//     in Go assembly (pure-Go fallback elsewhere), fused elementwise ops, and the rest
//     of the graph delegated to "swavgo" stage by stage.
//   - "swavgo" (package backend/compat): GoMLX's simplego with sequential op scheduling and
//     the ops it lacks for ConvNet gradients composed from ops it has.
//
// GOMLX_BACKEND still wins when a user sets it (e.g. GOMLX_BACKEND=go for plain simplego,
// or "xla" in a binary built with -tags xla after installing the XLA plugin).
package backend

import (
	"errors"
	"fmt"
	"os"

	"github.com/gomlx/gomlx/backends"

	"github.com/swav-go/swav/backend/compat"
	"github.com/swav-go/swav/backend/fast"
	"github.com/swav-go/swav/internal/panics"
)

// Default is the backend configuration used when GOMLX_BACKEND is not set.
const Default = fast.BackendName

// Compat names the slower reference backend, for comparisons and tests.
const Compat = compat.BackendName

// New returns the backend named by $GOMLX_BACKEND, or [Default] when it is unset.
func New() (backends.Backend, error) {
	config := os.Getenv(backends.ConfigEnvVar)
	if config == "" {
		config = Default
	}
	// GoMLX panics on an unknown backend name.
	b, err := panics.Call(func() (backends.Backend, error) { return backends.NewWithConfig(config) })
	var p *panics.Error
	if errors.As(err, &p) {
		return nil, fmt.Errorf("backend %q (from %s or the default): %v", config, backends.ConfigEnvVar, p.Value)
	}
	if err != nil {
		return nil, fmt.Errorf("backend %q (from %s or the default): %w", config, backends.ConfigEnvVar, err)
	}
	return b, nil
}
