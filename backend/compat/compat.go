// Package compat is a GoMLX backend that makes the pure-Go "simplego" backend of GoMLX
// v0.26.0 able to train convolutional networks.
//
// simplego cannot take ConvNet gradients as shipped: the convolution gradient uses the
// Reverse op, strided-convolution and Slice gradients use Pad, and the max-pool gradient
// uses SelectAndScatterMax, none of which simplego implements. Its default parallel op
// scheduling can also hang when independent DotGenerals wait on the same worker pool.
//
// This package wraps simplego without forking it: the Backend delegates everything to a
// simplego backend created with "ops_sequential" (which avoids the hang), and its
// Builder composes the missing ops from ops simplego has (Slice, Concatenate, Broadcast,
// Reshape, Equal, Where, ReduceWindow …). Composed ops are exact: they only move values
// or select them, never do arithmetic on them (except the sum in SelectAndScatter, which
// adds each source value into a zero at exactly one place).
//
// The backend registers itself as "swavgo" in GoMLX's backend registry when this package is
// imported; [New] builds one directly. Configuration strings are passed through to
// simplego, with "ops_sequential" always added.
package compat

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

// BackendName is the name under which this backend registers with GoMLX: use it in
// GOMLX_BACKEND ("swavgo") or with backends.NewWithConfig.
const BackendName = "swavgo"

func init() {
	backends.Register(BackendName, New)
}

// Backend wraps a simplego backend and adds the ops listed in [AddedOps].
type Backend struct {
	backends.Backend
	caps backends.Capabilities
}

var _ backends.Backend = (*Backend)(nil)

// AddedOps lists the operations this backend composes on top of simplego.
var AddedOps = []backends.OpType{
	backends.OpTypePad,
	backends.OpTypeReverse,
	backends.OpTypeSelectAndScatterMax,
	backends.OpTypeSelectAndScatterMin,
}

// New returns a compat backend. config is a simplego configuration (comma-separated, e.g.
// "parallelism=2"); "ops_sequential" is always added, since simplego's parallel op
// scheduling can deadlock on training graphs.
func New(config string) (backends.Backend, error) {
	parts := []string{"ops_sequential"}
	for _, p := range strings.Split(config, ",") {
		if p = strings.TrimSpace(p); p != "" && p != "ops_sequential" && p != "ops_parallel" {
			parts = append(parts, p)
		}
	}
	inner, err := simplego.New(strings.Join(parts, ","))
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", BackendName, err)
	}
	return Wrap(inner), nil
}

// Wrap returns a backend that delegates to inner (normally a simplego backend) and
// composes Pad, Reverse and SelectAndScatter{Max,Min} from inner's ops.
func Wrap(inner backends.Backend) *Backend {
	caps := inner.Capabilities().Clone()
	for _, op := range AddedOps {
		caps.Operations[op] = true
	}
	return &Backend{Backend: inner, caps: caps}
}

// Name implements backends.Backend.
func (b *Backend) Name() string { return BackendName }

// String implements backends.Backend.
func (b *Backend) String() string { return BackendName }

// Description implements backends.Backend.
func (b *Backend) Description() string {
	return "swav-go compat backend: " + b.Backend.Description() + " with Pad, Reverse and SelectAndScatter composed"
}

// Capabilities implements backends.Backend: simplego's plus [AddedOps].
func (b *Backend) Capabilities() backends.Capabilities { return b.caps }

// Builder implements backends.Backend.
func (b *Backend) Builder(name string) backends.Builder {
	return &Builder{Builder: b.Backend.Builder(name)}
}

// Inner returns the wrapped backend.
func (b *Backend) Inner() backends.Backend { return b.Backend }
