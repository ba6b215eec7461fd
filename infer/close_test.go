package infer

import (
	gocontext "context"
	"errors"
	"image"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/imageio"
)

// TestClose: Close is idempotent, frees the weights, leaves the metadata readable, and
// makes every embedding method return ErrClosed instead of panicking.
func TestClose(t *testing.T) {
	m := loadTiny(t, Options{})
	ctx := gocontext.Background()
	img := gradient(28, 28, 0)
	if _, err := m.Embed(ctx, []image.Image{img}); err != nil {
		t.Fatal(err)
	}
	vars := m.ctx
	if n := countVariables(vars); n == 0 {
		t.Fatal("the loaded model has no variables")
	}
	for range 2 {
		if err := m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if n := countVariables(vars); n != 0 {
		t.Errorf("%d variables still held after Close", n)
	}
	in := m.Prepare(img)
	calls := map[string]func() error{
		"Embed":        func() error { _, err := m.Embed(ctx, []image.Image{img}); return err },
		"EmbedTensors": func() error { _, err := m.EmbedTensors(ctx, []imageio.Tensor{in}); return err },
		"EmbedFiles":   func() error { _, err := m.EmbedFiles(ctx, []string{sampleJPEG}); return err },
		"EachFile": func() error {
			return m.EachFile(ctx, []string{sampleJPEG}, func(int, []float32, error) error {
				t.Error("EachFile called fn on a closed model")
				return nil
			})
		},
		// Even when no file can be read, a closed model says so first.
		"EmbedFiles(missing)": func() error { _, err := m.EmbedFiles(ctx, []string{"testdata/missing.png"}); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if m.Dim() != tinyConfig().FeatureDim() || m.Config().Stem != tinyConfig().Stem || m.Preprocess().InputSize != 28 {
		t.Errorf("metadata after Close: dim %d, config %+v, preprocess %+v", m.Dim(), m.Config(), m.Preprocess())
	}
	if p, err := m.Prototypes(); err != nil || len(p) != tinyConfig().Prototypes {
		t.Errorf("Prototypes after Close: %d rows, %v", len(p), err)
	}
}

// countVariables returns the number of variables c holds.
func countVariables(c *context.Context) int {
	n := 0
	for range c.IterVariables() {
		n++
	}
	return n
}

// TestCloseKeepsSharedBackend: closing one model leaves a backend the caller passed in
// usable by another model.
func TestCloseKeepsSharedBackend(t *testing.T) {
	be := testBackend(t)
	a, err := Load(tinyPath, Options{Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(tinyPath, Options{Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	ctx := gocontext.Background()
	img := []image.Image{gradient(30, 28, 1)}
	want, err := b.Embed(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := b.Embed(ctx, img)
	if err != nil {
		t.Fatalf("the other model after closing one on the same backend: %v", err)
	}
	for j := range want[0] {
		if got[0][j] != want[0][j] {
			t.Fatalf("vector changed after closing another model: %v, was %v", got[0], want[0])
		}
	}
}

// TestCloseDuringUse: Close while goroutines embed waits for the running batch; each
// call then either returns correct vectors or ErrClosed, never a panic or a wrong vector.
func TestCloseDuringUse(t *testing.T) {
	m := loadTiny(t, Options{BatchSize: 2})
	ctx := gocontext.Background()
	imgs := []image.Image{gradient(28, 28, 0), gradient(40, 30, 1), gradient(28, 28, 2)}
	want, err := m.Embed(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	closedSeen, okSeen := 0, 0
	firstOK := make(chan struct{})
	var once sync.Once
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Embed until the model is closed (bounded, should Close never take effect).
			for range 10000 {
				got, err := m.Embed(ctx, imgs)
				if errors.Is(err, ErrClosed) {
					mu.Lock()
					closedSeen++
					mu.Unlock()
					return
				}
				if err != nil {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
				for i := range want {
					for j := range want[i] {
						if got[i][j] != want[i][j] {
							t.Errorf("goroutine %d: image %d differs", g, i)
							return
						}
					}
				}
				mu.Lock()
				okSeen++
				mu.Unlock()
				once.Do(func() { close(firstOK) })
			}
			t.Errorf("goroutine %d: the model never closed", g)
		}()
	}
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); <-firstOK; _ = m.Close() }()
	}
	wg.Wait()
	if okSeen == 0 || closedSeen != 4 {
		t.Errorf("%d calls succeeded and %d goroutines saw ErrClosed, want some and 4", okSeen, closedSeen)
	}
	if _, err := m.Embed(ctx, imgs); !errors.Is(err, ErrClosed) {
		t.Errorf("after the concurrent Close: %v, want ErrClosed", err)
	}
	t.Logf("%d calls succeeded, %d saw ErrClosed", okSeen, closedSeen)
}

// TestCloseOwnBackend: a Model that created its own backend (Options.Backend nil) closes
// it too, and still reports ErrClosed afterwards.
func TestCloseOwnBackend(t *testing.T) {
	m, err := Load(tinyPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.ownBE {
		t.Fatal("a Model loaded without a backend does not own the one it created")
	}
	if _, err := m.Embed(gocontext.Background(), []image.Image{gradient(28, 28, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Embed(gocontext.Background(), []image.Image{gradient(28, 28, 0)}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}
