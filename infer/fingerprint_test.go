package infer_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/swav-go/swav/infer"
)

// TestFingerprint: FingerprintInputs unit vectors of the model's dimension, the same on
// every call and for every batch size, and far apart for two different models.
func TestFingerprint(t *testing.T) {
	ctx := context.Background()
	a, err := infer.Load("../models/default.swav", infer.Options{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	fa, err := a.Fingerprint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fa) != infer.FingerprintInputs*a.Dim() {
		t.Fatalf("fingerprint of %d values, want %d×%d", len(fa), infer.FingerprintInputs, a.Dim())
	}
	for i := range infer.FingerprintInputs {
		var n float64
		for _, x := range fa[i*a.Dim() : (i+1)*a.Dim()] {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-5 {
			t.Errorf("vector %d has squared norm %v", i, n)
		}
	}
	b, err := infer.Load("../models/default.swav", infer.Options{BatchSize: 1, Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fb, err := b.Fingerprint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fa {
		if math.Abs(float64(fa[i]-fb[i])) > 1e-5 {
			t.Fatalf("value %d: %v with batch 3, %v with batch 1 and raw vectors", i, fa[i], fb[i])
		}
	}
	if slices.Equal(fa[:a.Dim()], fa[a.Dim():2*a.Dim()]) {
		t.Error("two fixed inputs give the same vector")
	}
}
