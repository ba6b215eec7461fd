package infer

import (
	gocontext "context"
	"encoding/json"
	"errors"
	"flag"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/swav-go/swav/backend/compat"
	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/model"
)

var update = flag.Bool("update", false, "regenerate testdata/tiny.swav and testdata/golden.json")

const (
	tinyPath   = "testdata/tiny.swav"
	goldenPath = "testdata/golden.json"
	sampleJPEG = "../testdata/images/sunset.jpg"
)

func tinyConfig() model.Config {
	cfg := model.Small(1)
	cfg.Layers, cfg.Widths = []int{1, 1}, []int{4, 8}
	cfg.HiddenDim, cfg.OutDim, cfg.Prototypes = 16, 8, 10
	return cfg
}

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := compat.New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeTiny creates the committed test checkpoint: a randomly initialised tiny model
// (seed 1) taking 28×28 grayscale input, with non-trivial BN running statistics.
func writeTiny(t *testing.T) {
	cfg := tinyConfig()
	ctx, err := model.Initialize(testBackend(t), cfg, 28, 1)
	if err != nil {
		t.Fatal(err)
	}
	pre := checkpoint.Preprocess{InputSize: 28, ResizeSize: 28, Mean: []float64{0.286}, Std: []float64{0.353}, Channels: 1, Interpolation: "bilinear"}
	f, err := model.File(ctx, cfg, pre, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range f.Tensors {
		if base := filepath.Base(tt.Name); base == model.RunningVarVar || base == model.RunningMeanVar {
			v, _ := tt.Float32s()
			for j := range v {
				if base == model.RunningVarVar {
					v[j] = 0.5 + 0.1*float32(j%5)
				} else {
					v[j] = 0.05*float32(j%5) - 0.1
				}
			}
			f.Tensors[i] = checkpoint.Float32Tensor(tt.Name, tt.Shape, v)
		}
	}
	if err := checkpoint.Save(tinyPath, f, checkpoint.EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
}

type golden struct {
	Features   []float32 `json:"features"`
	Projection []float32 `json:"projection"`
}

func loadTiny(t testing.TB, opts Options) *Model {
	t.Helper()
	opts.Backend = testBackend(t)
	m, err := Load(tinyPath, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGoldenEmbedding(t *testing.T) {
	if *update {
		writeTiny(t)
	}
	feat := loadTiny(t, Options{})
	proj := loadTiny(t, Options{Output: Projection})
	ctx := gocontext.Background()
	fv, err := feat.EmbedFiles(ctx, []string{sampleJPEG})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := proj.EmbedFiles(ctx, []string{sampleJPEG})
	if err != nil {
		t.Fatal(err)
	}
	if len(fv.Vectors) != 1 || len(pv.Vectors) != 1 || len(fv.Failed)+len(pv.Failed) != 0 {
		t.Fatalf("features %d vectors %v, projection %d vectors %v", len(fv.Vectors), fv.Failed, len(pv.Vectors), pv.Failed)
	}
	got := golden{Features: fv.Vectors[0], Projection: pv.Vectors[0]}
	if *update {
		b, _ := json.MarshalIndent(got, "", " ")
		if err := os.WriteFile(goldenPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var want golden
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(got.Features) != tinyConfig().FeatureDim() || len(got.Projection) != tinyConfig().OutDim {
		t.Fatalf("dims %d, %d", len(got.Features), len(got.Projection))
	}
	for name, pair := range map[string][2][]float32{"features": {got.Features, want.Features}, "projection": {got.Projection, want.Projection}} {
		g, w := pair[0], pair[1]
		if len(g) != len(w) {
			t.Fatalf("%s: %d values, golden has %d", name, len(g), len(w))
		}
		for i := range w {
			if math.Abs(float64(g[i]-w[i])) > 1e-4 {
				t.Errorf("%s[%d] = %g, golden %g", name, i, g[i], w[i])
			}
		}
		if n := norm(g); math.Abs(n-1) > 1e-5 {
			t.Errorf("%s: norm %g, want 1 (L2-normalised by default)", name, n)
		}
	}
}

func norm(v []float32) float64 {
	s := 0.0
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func gradient(w, h int, phase float64) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(127 + 127*math.Sin(phase+float64(x)/7+float64(y)/11))
			img.Set(x, y, color.RGBA{v, 255 - v, uint8(x * 3), 255})
		}
	}
	return img
}

// TestBatchIndependence: an image's vector does not depend on its batch (padding and
// neighbours), and raw vectors normalise to the default ones.
func TestBatchIndependence(t *testing.T) {
	m := loadTiny(t, Options{BatchSize: 4})
	raw := loadTiny(t, Options{BatchSize: 4, Raw: true})
	imgs := []image.Image{gradient(40, 30, 0), gradient(28, 28, 1), gradient(64, 90, 2), gradient(33, 33, 3), gradient(50, 20, 4)}
	ctx := gocontext.Background()
	all, err := m.Embed(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	rawAll, err := raw.Embed(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		one, err := m.Embed(ctx, []image.Image{img})
		if err != nil {
			t.Fatal(err)
		}
		for j := range one[0] {
			if math.Abs(float64(one[0][j]-all[i][j])) > 1e-5 {
				t.Fatalf("image %d: alone %v, in batch %v", i, one[0], all[i])
			}
			if n := norm(rawAll[i]); math.Abs(float64(rawAll[i][j])/n-float64(all[i][j])) > 1e-5 {
				t.Fatalf("image %d: raw/‖raw‖ %v differs from normalised %v", i, rawAll[i], all[i])
			}
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	m := loadTiny(t, Options{BatchSize: 2})
	ctx := gocontext.Background()
	imgs := []image.Image{gradient(28, 28, 0), gradient(30, 40, 1), gradient(28, 28, 2)}
	want, err := m.Embed(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := m.Embed(ctx, imgs)
			if err != nil {
				errs <- err
				return
			}
			for i := range want {
				for j := range want[i] {
					if got[i][j] != want[i][j] {
						errs <- errors.New("concurrent result differs")
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCancelled(t *testing.T) {
	m := loadTiny(t, Options{})
	ctx, cancel := gocontext.WithCancel(gocontext.Background())
	cancel()
	if _, err := m.Embed(ctx, []image.Image{gradient(28, 28, 0)}); !errors.Is(err, gocontext.Canceled) {
		t.Errorf("Embed with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := m.EmbedFiles(ctx, []string{sampleJPEG}); !errors.Is(err, gocontext.Canceled) {
		t.Errorf("EmbedFiles with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestBadFiles: each bad input is listed in Failed with an error naming its file and
// wrapping its cause, and only the good ones have vectors, with their paths and indices.
func TestBadFiles(t *testing.T) {
	m := loadTiny(t, Options{BatchSize: 2})
	bad := map[string]error{
		"../imageio/testdata/bad/empty.png":     imageio.ErrEmpty,
		"../imageio/testdata/bad/truncated.jpg": imageio.ErrCorrupt,
		"../imageio/testdata/bad/truncated.png": imageio.ErrCorrupt,
		"../imageio/testdata/bad/notimage.jpg":  imageio.ErrUnknownFormat,
		"../imageio/testdata/bad/huge.png":      imageio.ErrTooLarge,
		"testdata/missing.png":                  os.ErrNotExist,
	}
	paths := []string{sampleJPEG}
	for p := range bad {
		paths = append(paths, p)
	}
	paths = append(paths, "../testdata/images/mountains.png")
	res, err := m.EmbedFiles(gocontext.Background(), paths)
	if err != nil {
		t.Fatalf("bad files failed the run: %v", err)
	}
	if !slices.Equal(res.Paths, []string{sampleJPEG, "../testdata/images/mountains.png"}) ||
		!slices.Equal(res.Index, []int{0, len(paths) - 1}) || len(res.Vectors) != 2 {
		t.Fatalf("embedded %v at %v (%d vectors), want the two good files at 0 and %d", res.Paths, res.Index, len(res.Vectors), len(paths)-1)
	}
	for i, v := range res.Vectors {
		if len(v) != m.Dim() {
			t.Errorf("%s: vector of %d values, want %d", res.Paths[i], len(v), m.Dim())
		}
	}
	if len(res.Failed) != len(bad) {
		t.Fatalf("%d failures, want %d: %v", len(res.Failed), len(bad), res.Failed)
	}
	for k, fe := range res.Failed {
		if k > 0 && fe.Index <= res.Failed[k-1].Index {
			t.Errorf("failures out of input order: %d after %d", fe.Index, res.Failed[k-1].Index)
		}
		if paths[fe.Index] != fe.Path || !strings.Contains(fe.Error(), fe.Path) {
			t.Errorf("failure %d: path %s, index %d (%s), message %q", k, fe.Path, fe.Index, paths[fe.Index], fe)
		}
		if want := bad[fe.Path]; !errors.Is(fe, want) {
			t.Errorf("%s: error %v, want %v", fe.Path, fe, want)
		}
	}
	joined := res.Err()
	for _, fe := range res.Failed {
		var got *FileError
		if !errors.Is(joined, bad[fe.Path]) || !errors.As(joined, &got) || !strings.Contains(joined.Error(), fe.Path) {
			t.Errorf("Err() %v does not carry %s", joined, fe.Path)
		}
	}
	good, err := m.EmbedFiles(gocontext.Background(), []string{sampleJPEG})
	if err != nil || good.Err() != nil || len(good.Failed) != 0 {
		t.Errorf("good file: err %v, Err() %v", err, good.Err())
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load("testdata/does-not-exist.swav", Options{Backend: testBackend(t)}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	b, err := os.ReadFile(tinyPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadBytes(b[:len(b)/2], "half.swav", Options{Backend: testBackend(t)}); !errors.Is(err, checkpoint.ErrTruncated) {
		t.Errorf("truncated checkpoint: %v", err)
	}
}
