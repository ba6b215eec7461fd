package swavloss

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
)

// TestGoldenIsTheReferenceOutput: the committed golden file is byte for byte the
// reference implementation's output whose digest testdata/README.md records, so an
// edit by hand (say, to make a failing test pass) is caught.
func TestGoldenIsTheReferenceOutput(t *testing.T) {
	data, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != goldenSHA256 {
		t.Fatalf("%s has SHA-256 %s, want %s (the reference's output, see testdata/README.md)", goldenPath, got, goldenSHA256)
	}
	g := loadGolden(t)
	if g.Epsilon != 0.05 || g.SinkhornIterations != 3 || g.Temperature != 0.1 {
		t.Errorf("golden parameters ε %g, iterations %d, τ %g; want 0.05, 3, 0.1", g.Epsilon, g.SinkhornIterations, g.Temperature)
	}
}
