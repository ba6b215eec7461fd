package infer

import (
	gocontext "context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/linearprobe"
	"github.com/swav-go/swav/model"
)

// TestKindConstants: infer's names for the kinds are the writers' own.
func TestKindConstants(t *testing.T) {
	if ProbeKind != linearprobe.ProbeKind || ModelKind != model.Kind {
		t.Errorf("ProbeKind %q (linearprobe %q), ModelKind %q (model %q)", ProbeKind, linearprobe.ProbeKind, ModelKind, model.Kind)
	}
}

// TestProbeFileAsModel: a saved linear probe given where a model is expected is refused
// by Load, LoadBytes and FromFile with a message saying what it is and what to do (not
// the JSON parser's "EOF").
func TestProbeFileAsModel(t *testing.T) {
	probe := &linearprobe.Probe{D: 2, C: 2, W: []float32{1, 0, 0, 1}, B: []float32{0, 0}, Classes: []string{"a", "b"}, NamedClasses: true}
	path := filepath.Join(t.TempDir(), "p.swav")
	if err := linearprobe.SaveProbe(path, probe); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	be := testBackend(t)
	loads := map[string]func() (*Model, error){
		"Load":      func() (*Model, error) { return Load(path, Options{Backend: be}) },
		"LoadBytes": func() (*Model, error) { return LoadBytes(data, path, Options{Backend: be}) },
		"FromFile":  func() (*Model, error) { return FromFile(f, path, Options{Backend: be}) },
	}
	for name, load := range loads {
		m, err := load()
		var nm *NotModelError
		if m != nil || !errors.As(err, &nm) || nm.Kind != ProbeKind || nm.Name != path {
			t.Errorf("%s: model %v, error %v (%#v), want a *NotModelError of kind %q named %s", name, m, err, nm, ProbeKind, path)
			continue
		}
		msg := err.Error()
		for _, want := range []string{"checkpoint " + path + ": ", "linear probe", "swav-embed probe --save-probe",
			"swav-embed predict --probe " + path, "give --model", "pretrain, export or convert"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: %q lacks %q", name, msg, want)
			}
		}
		if strings.Contains(msg, "EOF") {
			t.Errorf("%s: %q still reads as a parse failure", name, msg)
		}
	}
	if _, err := Validate(f.Header, model.TensorSpecs(f.Tensors)); !strings.Contains(err.Error(), "--probe FILE") {
		t.Errorf("Validate without a name: %v", err)
	}
}

// TestOtherKinds: a training checkpoint (network plus optimiser state) loads and embeds
// as its network; a file of an unknown kind, or with neither kind nor model section, is
// a *NotModelError naming the kind.
func TestOtherKinds(t *testing.T) {
	base := loadTinyFile(t)
	be := testBackend(t)
	ctx := gocontext.Background()
	img := []image.Image{gradient(28, 28, 3)}
	ref, err := FromFile(base, "tiny", Options{Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Embed(ctx, img)
	if err != nil {
		t.Fatal(err)
	}

	training := *base
	training.Header.Kind = TrainingKind
	training.Tensors = append(append([]checkpoint.Tensor(nil), base.Tensors...),
		checkpoint.Float32Tensor("optimizers/sgd/momentum/backbone/conv1/kernel", []int{3}, []float32{1, 2, 3}),
		checkpoint.Float32Tensor("queue/embeddings", []int{2, 2}, []float32{1, 0, 0, 1}))
	m, err := LoadBytes(encode(t, &training), "train.swav", Options{Backend: be})
	if err != nil {
		t.Fatalf("training checkpoint: %v", err)
	}
	got, err := m.Embed(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	for j := range want[0] {
		if got[0][j] != want[0][j] {
			t.Fatalf("training checkpoint embeds %v, the model %v", got[0], want[0])
		}
	}

	for _, tt := range []struct {
		kind    string
		noModel bool
		want    string
	}{
		{kind: "imagenet-labels", want: `kind "imagenet-labels", not a SwAV model`},
		{kind: "", noModel: true, want: "no kind and no model section"},
	} {
		g := *base
		g.Header.Kind = tt.kind
		if tt.noModel {
			g.Header.Model = nil
		}
		_, err := LoadBytes(encode(t, &g), "x.swav", Options{Backend: be})
		var nm *NotModelError
		if !errors.As(err, &nm) || nm.Kind != tt.kind || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "checkpoint x.swav: ") {
			t.Errorf("kind %q: %v, want a *NotModelError saying %q", tt.kind, err, tt.want)
		}
	}
	// No kind but a model section (a file from before kinds were checked) loads.
	g := *base
	g.Header.Kind = ""
	if _, err := LoadBytes(encode(t, &g), "old.swav", Options{Backend: be}); err != nil {
		t.Errorf("a model without a kind: %v", err)
	}
}
