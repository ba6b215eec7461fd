package torchimport

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// expectedFile is testdata/expected.json, written by testdata/make_fixtures.py.
type expectedFile struct {
	Input struct {
		File  string `json:"file"`
		Shape []int  `json:"shape_nhwc"`
	} `json:"input"`
	Models  map[string]map[string][][]float64 `json:"models"`
	Tensors map[string]struct {
		Shape  []int     `json:"shape"`
		DType  string    `json:"dtype"`
		Values []float64 `json:"values"`
	} `json:"tensors"`
}

func fixture(name string) string { return filepath.Join("testdata", name) }

func loadExpected(t testing.TB) *expectedFile {
	t.Helper()
	b, err := os.ReadFile(fixture("expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expectedFile
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

// loadInput returns the fixture input, NHWC float32, and its shape.
func loadInput(t testing.TB, e *expectedFile) ([]float32, []int) {
	t.Helper()
	b, err := os.ReadFile(fixture(e.Input.File))
	if err != nil {
		t.Fatal(err)
	}
	n := 1
	for _, d := range e.Input.Shape {
		n *= d
	}
	if len(b) != 4*n {
		t.Fatalf("%s: %d bytes for shape %v", e.Input.File, len(b), e.Input.Shape)
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x, e.Input.Shape
}

// maxAbsDiff compares a [B, D] result with the recorded values.
func maxAbsDiff(t testing.TB, what string, got []float32, want [][]float64) float64 {
	t.Helper()
	if len(want) == 0 || len(got) != len(want)*len(want[0]) {
		t.Fatalf("%s: got %d values, want %d×%d", what, len(got), len(want), len(want[0]))
	}
	d := len(want[0])
	worst := 0.0
	for i, row := range want {
		for j, w := range row {
			worst = math.Max(worst, math.Abs(float64(got[i*d+j])-w))
		}
	}
	return worst
}
