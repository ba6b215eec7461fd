package swav_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestFacadeDependencies keeps the facade embed-only: a program that imports package
// swav to embed images must not inherit plotting, progress-bar or network packages
// (they belong to the CLI and the training package).
func TestFacadeDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps printed %d packages; expected the facade's whole graph", len(deps))
	}
	forbidden := []string{"net/http", "crypto/tls", "gonum.org/v1/plot", "github.com/schollz/progressbar/v3",
		"github.com/swav-go/swav/pretrain", "github.com/spf13/cobra"}
	for _, dep := range deps {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("package swav depends on %s", dep)
			}
		}
	}
	t.Logf("package swav: %d dependencies", len(deps))
}
