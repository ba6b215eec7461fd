package linearprobe

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func sourceProbe(src *Source) *Probe {
	return &Probe{D: 2, C: 2, W: []float32{1, 0, 0, 1}, B: []float32{0, 0}, Classes: []string{"a", "b"}, Source: src}
}

func TestCheckSource(t *testing.T) {
	// Two 2-d fingerprint vectors: (1,0) and (0,1).
	fp := []float32{1, 0, 0, 1}
	p := sourceProbe(&Source{Model: "m.swav", Vectors: "features", Fingerprint: fp})
	if err := p.CheckSource("copy.swav", "features", []float32{2, 0, 0, 3}); err != nil {
		t.Errorf("same directions, other norms: %v", err)
	}
	// Second vector rotated by 10°: mean cosine (1 + cos 10°)/2 = 0.99240 ≥ 0.99.
	if err := p.CheckSource("m16.swav", "features", []float32{1, 0, -0.17364818, 0.98480775}); err != nil {
		t.Errorf("mean cosine 0.9924: %v", err)
	}
	// Rotated by 20°: (1 + 0.93969)/2 = 0.96985 < 0.99.
	err := p.CheckSource("other.swav", "features", []float32{1, 0, -0.34202015, 0.93969262})
	if !errors.Is(err, ErrSourceMismatch) || !strings.Contains(err.Error(), "0.970") || !strings.Contains(err.Error(), "m.swav") ||
		!strings.Contains(err.Error(), "other.swav") {
		t.Errorf("mean cosine 0.970: %v", err)
	}
	if err := p.CheckSource("m.swav", "projection", fp); !errors.Is(err, ErrSourceMismatch) || !strings.Contains(err.Error(), "features vectors") {
		t.Errorf("other vectors: %v", err)
	}
	if err := p.CheckSource("m.swav", "features", fp[:2]); !errors.Is(err, ErrSourceMismatch) {
		t.Errorf("fingerprint of another length: %v", err)
	}
	if err := p.CheckSource("m.swav", "features", nil); err != nil {
		t.Errorf("no fingerprint to compare checks the vectors only: %v", err)
	}
	if err := sourceProbe(nil).CheckSource("any", "projection", fp); err != nil {
		t.Errorf("a probe without a source: %v", err)
	}
}

func TestSourcePersists(t *testing.T) {
	dir := t.TempDir()
	src := &Source{Model: "embedded:models/default.swav", Vectors: "features", Fingerprint: []float32{0.6, 0.8, 1, 0}}
	for _, tc := range []struct {
		name string
		src  *Source
	}{{"with", src}, {"without", nil}} {
		path := filepath.Join(dir, tc.name+".swav")
		if err := SaveProbe(path, sourceProbe(tc.src)); err != nil {
			t.Fatal(err)
		}
		got, err := LoadProbe(path)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case tc.src == nil && got.Source != nil:
			t.Errorf("a probe saved without a source loads with %+v", got.Source)
		case tc.src != nil && (got.Source == nil || got.Source.Model != src.Model || got.Source.Vectors != src.Vectors ||
			!slices.Equal(got.Source.Fingerprint, src.Fingerprint)):
			t.Errorf("source round trip: %+v", got.Source)
		}
	}
}
