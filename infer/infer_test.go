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
	got := golden{Features: fv[0], Projection: pv[0]}
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

// TestBadFiles: each bad input gives an error naming its file, and the good ones are
// still embedded.
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
	vecs, err := m.EmbedFiles(gocontext.Background(), paths)
	if err == nil {
		t.Fatal("no error for bad files")
	}
	if vecs[0] == nil || vecs[len(vecs)-1] == nil {
		t.Error("good files were not embedded")
	}
	for i, p := range paths {
		want, isBad := bad[p]
		if !isBad {
			continue
		}
		if vecs[i] != nil {
			t.Errorf("%s: got a vector for a bad file", p)
		}
		found := false
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			var fe *FileError
			if errors.As(e, &fe) && fe.Path == p {
				found = true
				if !errors.Is(fe, want) {
					t.Errorf("%s: error %v, want %v", p, fe, want)
				}
			}
		}
		if !found {
			t.Errorf("%s: no error reported", p)
		}
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
