package swav_test

import (
	"bytes"
	"context"
	"errors"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/infer"
	"github.com/swav-go/swav/linearprobe"
)

// goBlocks returns the bodies of the ```go blocks of a Markdown text.
func goBlocks(md string) []string {
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(md, "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```go":
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

// TestREADMEGoBlocks: every ```go block of README.md is a run of whole lines of
// example_readme_test.go (its functions' bodies, one tab of indentation removed), so the
// README shows code that compiles and runs (Example_useFromGo checks its output).
func TestREADMEGoBlocks(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var dedented []string
	for _, line := range strings.Split(string(src), "\n") {
		dedented = append(dedented, strings.TrimPrefix(line, "\t"))
	}
	example := "\n" + strings.Join(dedented, "\n") + "\n"
	blocks := goBlocks(string(readme))
	if len(blocks) < 2 {
		t.Fatalf("README.md has %d ```go blocks; its \"Use it from Go\" section should have the embedding and the probe examples", len(blocks))
	}
	for i, b := range blocks {
		if strings.TrimSpace(b) == "" {
			t.Errorf("README ```go block %d is empty", i+1)
			continue
		}
		if !strings.Contains(example, "\n"+b+"\n") {
			t.Errorf("README ```go block %d is not a run of lines of example_readme_test.go (copy it from there):\n%s", i+1, b)
		}
	}
}

// TestGoBlocksParser: the extraction itself, on a hand-made text.
func TestGoBlocksParser(t *testing.T) {
	md := "x\n```go\na := 1\n\tb()\n```\n```sh\nls\n```\n```go\nc\n```\n"
	got := goBlocks(md)
	if len(got) != 2 || got[0] != "a := 1\n\tb()" || got[1] != "c" {
		t.Errorf("goBlocks = %q", got)
	}
}

// TestModelMethodsInGoDoc: `go doc` of swav.Model lists every method of infer.Model as
// swav.Model's own, documented method.
func TestModelMethodsInGoDoc(t *testing.T) {
	out, err := exec.Command("go", "doc", "-short", ".", "Model").CombinedOutput()
	if err != nil {
		t.Fatalf("go doc: %v\n%s", err, out)
	}
	doc := string(out)
	typ := reflect.TypeFor[*infer.Model]()
	if typ.NumMethod() < 10 {
		t.Fatalf("infer.Model has %d methods", typ.NumMethod())
	}
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		if !strings.Contains(doc, "func (m *Model) "+name+"(") {
			t.Errorf("go doc swav.Model does not list %s:\n%s", name, doc)
		}
	}
	full, err := exec.Command("go", "doc", ".", "Model.EmbedFiles").CombinedOutput()
	if err != nil || !strings.Contains(string(full), "Failed") {
		t.Errorf("go doc swav.Model.EmbedFiles: %v\n%s", err, full)
	}
}

// TestObviousLoopCannotPanic: embedding a list with bad files and comparing everything
// with everything, the loop a user writes first, runs without a panic; each similarity
// is the one computed by hand from the vectors.
func TestObviousLoopCannotPanic(t *testing.T) {
	m, err := swav.LoadDefault(swav.Options{Warn: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	paths := []string{"testdata/fashion/train/bag/00018.png", "imageio/testdata/bad/truncated.png",
		"testdata/fashion/nothing-here.png", "testdata/fashion/train/trouser/00002.png", "testdata/fashion/test/bag/00053.png"}
	res, err := m.EmbedFiles(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Vectors) != 3 || len(res.Failed) != 2 || res.Failed[1].Path != paths[2] || !errors.Is(res.Failed[1], os.ErrNotExist) {
		t.Fatalf("%d vectors, failures %v", len(res.Vectors), res.Failed)
	}
	for i, v := range res.Vectors {
		near, err := swav.Nearest(v, res.Vectors, len(res.Vectors))
		if err != nil {
			t.Fatal(err)
		}
		if near[0].Index != i || math.Abs(near[0].Similarity-1) > 1e-5 {
			t.Errorf("%s: nearest %+v, want itself at 1", res.Paths[i], near[0])
		}
		for _, n := range near {
			sim, err := swav.Cosine(v, res.Vectors[n.Index])
			if err != nil || sim != n.Similarity {
				t.Errorf("Cosine %v (%v), Nearest %v", sim, err, n.Similarity)
			}
		}
	}
	// The two bags are closer to each other than to the trouser.
	bags, _ := swav.Cosine(res.Vectors[0], res.Vectors[2])
	bagTrouser, _ := swav.Cosine(res.Vectors[0], res.Vectors[1])
	if !(bags > bagTrouser) {
		t.Errorf("bag-bag %.3f, bag-trouser %.3f", bags, bagTrouser)
	}
}

func TestCosine(t *testing.T) {
	tests := []struct {
		a, b []float32
		want float64
		err  bool
	}{
		{a: []float32{1, 2, 3}, b: []float32{4, 5, 6}, want: 32 / math.Sqrt(14*77)},
		{a: []float32{1, 0}, b: []float32{-2, 0}, want: -1},
		{a: []float32{0, 0}, b: []float32{1, 1}, want: 0},
		{a: []float32{1, 2}, b: nil, err: true},
		{a: nil, b: nil, err: true},
		{a: []float32{}, b: []float32{}, err: true},
		{a: []float32{1, 2}, b: []float32{1, 2, 3}, err: true},
	}
	for _, tt := range tests {
		got, err := swav.Cosine(tt.a, tt.b)
		if tt.err {
			if err == nil || !strings.Contains(err.Error(), "lengths") {
				t.Errorf("Cosine(%v, %v) = %v, %v; want an error", tt.a, tt.b, got, err)
			}
			continue
		}
		if err != nil || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Cosine(%v, %v) = %v, %v; want %v", tt.a, tt.b, got, err, tt.want)
		}
	}
}

func TestNearest(t *testing.T) {
	nan := float32(math.NaN())
	set := [][]float32{{0, 1}, {nan, 1}, {1, 0}, {1, 1}, {2, 0}}
	near, err := swav.Nearest([]float32{1, 0}, set, 10)
	if err != nil {
		t.Fatal(err)
	}
	// {1,0} and {2,0} tie at 1 (by index), then {1,1}, {0,1}, and NaN last.
	wantIdx := []int{2, 4, 3, 0, 1}
	wantSim := []float64{1, 1, 1 / math.Sqrt2, 0}
	for i, n := range near {
		if n.Index != wantIdx[i] || (i < len(wantSim) && math.Abs(n.Similarity-wantSim[i]) > 1e-12) {
			t.Errorf("rank %d: %+v, want index %d", i, n, wantIdx[i])
		}
	}
	if !math.IsNaN(near[4].Similarity) {
		t.Errorf("last similarity %v, want NaN", near[4].Similarity)
	}
	for _, k := range []int{-1, 0} {
		if got, err := swav.Nearest([]float32{1, 0}, set, k); err != nil || len(got) != 0 {
			t.Errorf("k=%d: %v, %v", k, got, err)
		}
	}
	if got, err := swav.Nearest([]float32{1, 0}, nil, 3); err != nil || len(got) != 0 {
		t.Errorf("empty set: %v, %v", got, err)
	}
	for _, tt := range []struct {
		q    []float32
		set  [][]float32
		want string
	}{
		{nil, set, "empty query"},
		{[]float32{1, 0}, [][]float32{{1, 0}, nil}, "set[1] has 0 values, the query 2"},
		{[]float32{1, 0}, [][]float32{{1, 0, 0}}, "set[0] has 3 values, the query 2"},
	} {
		if got, err := swav.Nearest(tt.q, tt.set, 1); err == nil || got != nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Nearest(%v, %v): %v, %v; want an error %q", tt.q, tt.set, got, err, tt.want)
		}
	}
}

// captureLog redirects the standard logger to a buffer for the test.
func captureLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	out, flags := log.Writer(), log.Flags()
	log.SetOutput(&buf)
	log.SetFlags(0)
	t.Cleanup(func() { log.SetOutput(out); log.SetFlags(flags) })
	return &buf
}

// TestDefaultWarning: the facade logs the mismatch warning once per Model through the
// standard logger unless Options.Warn is set; 28×28 grayscale images never warn.
func TestDefaultWarning(t *testing.T) {
	buf := captureLog(t)
	ctx := context.Background()
	photos := []string{"testdata/images/sunset.jpg", "testdata/images/balloon.png", "testdata/images/mountains.png"}
	m, err := swav.LoadDefault(swav.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for range 2 {
		if _, err := m.EmbedFiles(ctx, photos); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "swav: warning: testdata/images/sunset.jpg is a 96×64 colour image") ||
		!strings.Contains(lines[0], "https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar") ||
		!strings.Contains(lines[0], "swav-embed convert swav_800ep_pretrain.pth.tar --out swav-rn50.swav") {
		t.Errorf("log after two runs over colour photos: %q", buf.String())
	}

	buf.Reset()
	g, err := swav.LoadDefault(swav.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	gray, err := filepath.Glob("testdata/fashion/*/*/*.png")
	if err != nil || len(gray) != 15 {
		t.Fatalf("fixture: %d files, %v", len(gray), err)
	}
	if _, err := g.EmbedFiles(ctx, gray); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("28×28 grayscale images logged %q", buf.String())
	}

	var got []string
	q, err := swav.LoadDefault(swav.Options{Warn: func(msg string) { got = append(got, msg) }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.EmbedFiles(ctx, photos[:1]); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 || len(got) != 1 {
		t.Errorf("with Options.Warn set: logged %q, hook got %q", buf.String(), got)
	}
}

// TestLoadProbeFile: a probe file given to Load says what it is and what to do.
func TestLoadProbeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.swav")
	probe := &linearprobe.Probe{D: 2, C: 2, W: []float32{1, 0, 0, 1}, B: []float32{0, 0}, Classes: []string{"a", "b"}}
	if err := linearprobe.SaveProbe(path, probe); err != nil {
		t.Fatal(err)
	}
	m, err := swav.Load(path, swav.Options{})
	want := "checkpoint " + path + ": this file is a linear probe (saved by swav-embed probe --save-probe), not a model: use it with swav-embed predict --probe " + path
	if m != nil || err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load(probe): %v, want an error starting %q", err, want)
	}
}
