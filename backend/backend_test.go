package backend

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego"
)

func TestDefaultAndEnvironment(t *testing.T) {
	t.Setenv(backends.ConfigEnvVar, "")
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != Default {
		t.Errorf("default backend %q, want %q", b.Name(), Default)
	}
	t.Setenv(backends.ConfigEnvVar, "go")
	if b, err = New(); err != nil || b.String() != "go" {
		t.Errorf("GOMLX_BACKEND=go gave %v, %v", b, err)
	}
	t.Setenv(backends.ConfigEnvVar, "no-such-backend")
	if _, err = New(); err == nil || !strings.Contains(err.Error(), "no-such-backend") {
		t.Errorf("unknown backend: %v", err)
	}
}
