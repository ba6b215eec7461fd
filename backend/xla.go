//go:build xla

package backend

// Built with -tags xla, the XLA backend (cgo, and a PJRT plugin installed on the machine)
// is registered too: select it with GOMLX_BACKEND=xla.
import _ "github.com/gomlx/gomlx/backends/xla"
