package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swav-go/swav/backend/fast"
	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/model"
)

// tinyModel is a network small enough for a unit test.
func tinyModel() model.Config {
	cfg := model.Small(1)
	cfg.Layers, cfg.Widths = []int{1, 1}, []int{8, 16}
	cfg.HiddenDim, cfg.OutDim, cfg.Prototypes = 32, 16, 20
	return cfg
}

// trainingFile writes a training checkpoint of the tiny network at path, as a
// pretraining run would (kind, training state, an optimiser tensor and a queue beside
// the network), without training; extra is the header's Extra.
func trainingFile(t *testing.T, path string, step int) {
	t.Helper()
	trainingFileWith(t, path, step, nil)
}

func trainingFileWith(t *testing.T, path string, step int, extra map[string][]byte) {
	t.Helper()
	be, err := fast.New("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := tinyModel()
	ctx, err := model.Initialize(be, cfg, 28, 1)
	if err != nil {
		t.Fatal(err)
	}
	pre := checkpoint.Preprocess{InputSize: 28, ResizeSize: 28, Channels: 1, Mean: []float64{0.5}, Std: []float64{0.25}, Interpolation: "bilinear"}
	f, err := model.File(ctx, cfg, pre, &checkpoint.Training{Epoch: step / 4, Step: int64(step), Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	f.Header.Kind = KindTraining
	for k, v := range extra {
		if f.Header.Extra == nil {
			f.Header.Extra = map[string]json.RawMessage{}
		}
		f.Header.Extra[k] = v
	}
	f.Tensors = append(f.Tensors,
		checkpoint.Float32Tensor("optimizer/momentum/backbone", []int{3}, []float32{1, 2, 3}),
		checkpoint.Float32Tensor("swav_queue/embeddings", []int{2}, []float32{4, 5}))
	if err := checkpoint.Save(path, f, checkpoint.EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
}

// dirEntries lists the names in dir, sorted.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// mustContain fails unless err's message contains every want.
func mustContain(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// tensorNames lists the tensors of the checkpoint at path.
func tensorNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range f.Tensors {
		names = append(names, x.Name)
	}
	return names
}

// TestExportKeepsNetworkScopes: an export keeps the network and drops the optimiser
// and method state; with a method entry naming its network scopes it keeps exactly
// those (here no prototypes), and a scope inference would not load is refused.
func TestExportKeepsNetworkScopes(t *testing.T) {
	dir := t.TempDir()
	legacy := filepath.Join(dir, "legacy.swav")
	trainingFile(t, legacy, 4)
	out := filepath.Join(dir, "legacy-model.swav")
	if err := File(legacy, out, Options{}); err != nil {
		t.Fatal(err)
	}
	sawPrototypes := false
	for _, n := range tensorNames(t, out) {
		if strings.HasPrefix(n, "optimizer/") || strings.HasPrefix(n, "swav_queue/") {
			t.Errorf("export kept %s", n)
		}
		sawPrototypes = sawPrototypes || strings.HasPrefix(n, "prototypes/")
	}
	if !sawPrototypes {
		t.Error("the export of a checkpoint without method entry dropped the prototypes")
	}

	scoped := filepath.Join(dir, "scoped.swav")
	trainingFileWith(t, scoped, 4, map[string][]byte{"method": []byte(`{"name":"simclr","network_scopes":["backbone","projection"]}`)})
	out = filepath.Join(dir, "scoped-model.swav")
	if err := File(scoped, out, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range tensorNames(t, out) {
		if !strings.HasPrefix(n, "backbone/") && !strings.HasPrefix(n, "projection/") {
			t.Errorf("export with network scopes backbone, projection kept %s", n)
		}
	}

	bad := filepath.Join(dir, "bad.swav")
	trainingFileWith(t, bad, 4, map[string][]byte{"method": []byte(`{"name":"moco","network_scopes":["backbone","moco_key"]}`)})
	mustContain(t, File(bad, filepath.Join(dir, "bad-model.swav"), Options{}), bad, `"moco_key"`, "inference does not load")
}

func kindOf(t *testing.T, path string) string {
	t.Helper()
	f, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f.Header.Kind
}

// TestExportRefusesToReplaceTraining: an export onto its own training checkpoint, or
// onto another one, is refused with the file named and nothing written; Force allows
// it; models and new paths are written as before.
func TestExportRefusesToReplaceTraining(t *testing.T) {
	dir := t.TempDir()
	train := filepath.Join(dir, "train.swav")
	other := filepath.Join(dir, "other.swav")
	trainingFile(t, train, 12)
	trainingFile(t, other, 8)
	orig, _ := os.ReadFile(train)
	origOther, _ := os.ReadFile(other)

	start := time.Now()
	err := File(train, train, Options{})
	if !errors.Is(err, ErrReplacesTraining) {
		t.Fatalf("export onto itself: %v, want ErrReplacesTraining", err)
	}
	mustContain(t, err, train, "training checkpoint", "step 12", "optimiser state")
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("the refusal took %v", elapsed)
	}
	if b, _ := os.ReadFile(train); !bytes.Equal(b, orig) {
		t.Error("the refused export changed the training checkpoint")
	}

	model1 := filepath.Join(dir, "model.swav")
	if err := File(train, model1, Options{}); err != nil {
		t.Fatalf("export to a new path: %v", err)
	}
	err = File(model1, other, Options{})
	if !errors.Is(err, ErrReplacesTraining) {
		t.Fatalf("export onto another training checkpoint: %v, want ErrReplacesTraining", err)
	}
	mustContain(t, err, other, "step 8")
	if b, _ := os.ReadFile(other); !bytes.Equal(b, origOther) {
		t.Error("the refused export changed the other training checkpoint")
	}
	if err := File(train, model1, Options{}); err != nil {
		t.Errorf("export over an existing model: %v", err)
	}
	if err := File(model1, model1, Options{}); err != nil {
		t.Errorf("export of a model onto itself: %v", err)
	}
	mustContain(t, File(train, dir, Options{}), dir, "directory")

	f, err := checkpoint.Load(train)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, train, train, Options{Force: true}); err != nil {
		t.Fatalf("forced export: %v", err)
	}
	if k := kindOf(t, train); k != KindModel {
		t.Errorf("after the forced export the file's kind is %q, want %q", k, KindModel)
	}
	for _, name := range dirEntries(t, dir) {
		if strings.HasSuffix(name, ".tmp") {
			t.Errorf("temporary file %s left behind", name)
		}
	}
}
