package infer

import (
	"bytes"
	gocontext "context"
	"encoding/json"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/model"
)

// loadTinyFile returns the decoded test checkpoint.
func loadTinyFile(t *testing.T) *checkpoint.File {
	t.Helper()
	f, err := checkpoint.Load(tinyPath)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// withModel returns f's header with the given fields of its model section replaced by
// raw JSON values.
func withModel(t *testing.T, h checkpoint.Header, fields map[string]string) checkpoint.Header {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(h.Model, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		m[k] = json.RawMessage(v)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h.Model = b
	return h
}

// encode returns f as checkpoint bytes; Encode recomputes the checksum, so the file is
// valid as a container and only its contents are hostile.
func encode(t *testing.T, f *checkpoint.File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := checkpoint.Encode(&buf, f, checkpoint.EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// measure runs fn and returns the bytes it allocated and its duration.
func measure(fn func()) (alloc uint64, elapsed time.Duration) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	fn()
	elapsed = time.Since(start)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, elapsed
}

const (
	hostileAllocLimit = 64 << 20
	hostileTimeLimit  = 5 * time.Second
)

// TestHostileHeaders alters one value of the test checkpoint's header at a time (the
// checksum recomputed) and loads it from memory and from disk: each load fails with an
// error naming the file and the field, within bounded time and allocation (the first
// cases used to end in a fatal out-of-memory or a panic message).
func TestHostileHeaders(t *testing.T) {
	base := loadTinyFile(t)
	pre := func(edit func(p *checkpoint.Preprocess)) func(h checkpoint.Header) checkpoint.Header {
		return func(h checkpoint.Header) checkpoint.Header {
			p := *h.Preprocess
			p.Mean, p.Std = slices.Clone(p.Mean), slices.Clone(p.Std)
			edit(&p)
			h.Preprocess = &p
			return h
		}
	}
	mdl := func(fields map[string]string) func(h checkpoint.Header) checkpoint.Header {
		return func(h checkpoint.Header) checkpoint.Header { return withModel(t, h, fields) }
	}
	for _, tc := range []struct {
		name, field, want string
		edit              func(h checkpoint.Header) checkpoint.Header
	}{
		{"out_dim = prototypes = 2^40", "model.out_dim", "1099511627776 is above the limit 65536",
			mdl(map[string]string{"out_dim": "1099511627776", "prototypes": "1099511627776"})},
		{"prototypes 2^40", "model.prototypes", "above the limit 65536", mdl(map[string]string{"prototypes": "1099511627776"})},
		{"hidden_dim 2^40", "model.hidden_dim", "above the limit 65536", mdl(map[string]string{"hidden_dim": "1099511627776"})},
		{"width_multiplier 2^62", "model.width_multiplier", "4611686018427387904 is above the limit 16",
			mdl(map[string]string{"width_multiplier": "4611686018427387904"})},
		{"width 2^62", "model.widths[1]", "above the limit 4096", mdl(map[string]string{"widths": "[4, 4611686018427387904]"})},
		{"width × multiplier", "model.widths[1]", "channels, above the limit 32768", mdl(map[string]string{"widths": "[4, 4096]", "width_multiplier": "16"})},
		{"blocks 2^40", "model.layers[0]", "above the limit 64", mdl(map[string]string{"layers": "[1099511627776, 1]"})},
		{"stages", "model.layers", "has 9 stages", mdl(map[string]string{"layers": "[1,1,1,1,1,1,1,1,1]", "widths": "[1,1,1,1,1,1,1,1,1]"})},
		{"in_channels 2^40", "model.in_channels", "above the limit 4", mdl(map[string]string{"in_channels": "1099511627776"})},
		{"negative out_dim", "model.out_dim", "below the minimum 0", mdl(map[string]string{"out_dim": "-1"})},
		{"bn momentum 0", "model.bn_momentum", "must be in (0, 1]", mdl(map[string]string{"bn_momentum": "0"})},
		{"bn epsilon 1e300", "model.bn_epsilon", "must be in (0, 1]", mdl(map[string]string{"bn_epsilon": "1e300"})},
		{"block", "model.block", `"resnext" is not valid`, mdl(map[string]string{"block": `"resnext"`})},
		{"input_size 1e6", "preprocess.input_size", "1000000 is above the limit 1024",
			pre(func(p *checkpoint.Preprocess) { p.InputSize, p.ResizeSize = 1_000_000, 1_000_000 })},
		{"input_size 20000", "preprocess.input_size", "20000 is above the limit 1024",
			pre(func(p *checkpoint.Preprocess) { p.InputSize, p.ResizeSize = 20000, 20000 })},
		{"resize_size 2^62", "preprocess.resize_size", "4611686018427387904 is above the limit 2048",
			pre(func(p *checkpoint.Preprocess) { p.ResizeSize = 1 << 62 })},
		{"resize below input", "preprocess.resize_size", "is below preprocess.input_size = 28", pre(func(p *checkpoint.Preprocess) { p.ResizeSize = 27 })},
		{"channels 3", "preprocess.channels", "differs from model.in_channels = 1", pre(func(p *checkpoint.Preprocess) { p.Channels = 3 })},
		{"channels 2", "preprocess.channels", "channels are 1 (grayscale) and 3 (RGB)", pre(func(p *checkpoint.Preprocess) { p.Channels = 2 })},
		{"mean length", "preprocess.mean", "has 2 values", pre(func(p *checkpoint.Preprocess) { p.Mean = []float64{0.1, 0.2} })},
		{"std 0", "preprocess.std[0]", "0 is outside", pre(func(p *checkpoint.Preprocess) { p.Std = []float64{0} })},
		{"std negative", "preprocess.std[0]", "-0.3 is outside", pre(func(p *checkpoint.Preprocess) { p.Std = []float64{-0.3} })},
		{"mean beyond float32", "preprocess.mean[0]", "1e+300 is outside", pre(func(p *checkpoint.Preprocess) { p.Mean = []float64{1e300} })},
		{"interpolation", "preprocess.interpolation", `"lanczos" is not supported, interpolations are: "bilinear"`,
			pre(func(p *checkpoint.Preprocess) { p.Interpolation = "lanczos" })},
		{"no preprocessing", "preprocess", "section is missing", func(h checkpoint.Header) checkpoint.Header { h.Preprocess = nil; return h }},
		{"no model", "model", "section is missing", func(h checkpoint.Header) checkpoint.Header { h.Model = nil; return h }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &checkpoint.File{Header: tc.edit(base.Header), Tensors: base.Tensors}
			data := encode(t, f)
			path := filepath.Join(t.TempDir(), "m.swav")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			opts := Options{Backend: testBackend(t)}
			for _, load := range []struct {
				how, name string
				fn        func() (*Model, error)
			}{
				{"LoadBytes", "m.swav", func() (*Model, error) { return LoadBytes(data, "m.swav", opts) }},
				{"Load", path, func() (*Model, error) { return Load(path, opts) }},
				{"FromFile", "m.swav", func() (*Model, error) { return FromFile(f, "m.swav", opts) }},
			} {
				var m *Model
				var err error
				alloc, elapsed := measure(func() { m, err = load.fn() })
				if m != nil || err == nil {
					t.Fatalf("%s: loaded a model from a hostile header", load.how)
				}
				want := "checkpoint " + load.name + ": header " + tc.field + " "
				if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: error %q, want %q … %q", load.how, err, want, tc.want)
				}
				var fe *model.FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Errorf("%s: error %v does not wrap a *model.FieldError for %s", load.how, err, tc.field)
				}
				if alloc > hostileAllocLimit || elapsed > hostileTimeLimit {
					t.Errorf("%s: allocated %d bytes in %s, want < %d bytes and < %s", load.how, alloc, elapsed, hostileAllocLimit, hostileTimeLimit)
				}
			}
		})
	}
}

// TestHostileTensorTables alters the tensor table against the header (or the header
// against the table): a missing, mis-shaped, mistyped or foreign tensor is an error
// naming the file, the tensor and what the header's model needs.
func TestHostileTensorTables(t *testing.T) {
	base := loadTinyFile(t)
	without := func(name string) []checkpoint.Tensor {
		return slices.DeleteFunc(slices.Clone(base.Tensors), func(x checkpoint.Tensor) bool { return x.Name == name })
	}
	replaced := func(tt checkpoint.Tensor) []checkpoint.Tensor {
		ts := slices.Clone(base.Tensors)
		for i := range ts {
			if ts[i].Name == tt.Name {
				ts[i] = tt
			}
		}
		return ts
	}
	for _, tc := range []struct {
		name, tensor, want string
		header             checkpoint.Header
		tensors            []checkpoint.Tensor
	}{
		{"missing backbone tensor", "backbone/layer2/0/conv1/kernel", "is missing: the header's model needs it as float32 [3 3 4 8]",
			base.Header, without("backbone/layer2/0/conv1/kernel")},
		{"missing prototypes", "prototypes/kernel", "is missing: the header's model needs it as float32 [8 10]",
			base.Header, without("prototypes/kernel")},
		{"mis-shaped", "backbone/conv1/kernel", "has shape [3 3 1 2 2], the header's model needs [3 3 1 4]",
			base.Header, replaced(checkpoint.Float32Tensor("backbone/conv1/kernel", []int{3, 3, 1, 2, 2}, make([]float32, 36)))},
		{"int64 statistics", "backbone/bn1/running_var", "is int64 [4], the header's model needs float32 (or float16) [4]",
			base.Header, replaced(checkpoint.Int64Tensor("backbone/bn1/running_var", []int{4}, []int64{1, 1, 1, 1}))},
		{"foreign tensor", "backbone/layer3/0/conv1/kernel", "is not a variable of the network the header describes",
			base.Header, append(slices.Clone(base.Tensors), checkpoint.Float32Tensor("backbone/layer3/0/conv1/kernel", []int{1}, []float32{1}))},
		{"header hidden_dim disagrees", "projection/0/bias", "has shape [16], the header's model needs [17]",
			withModel(t, base.Header, map[string]string{"hidden_dim": "17"}), base.Tensors},
		{"header with a block more", "backbone/layer1/1/bn1/bias", "is missing",
			withModel(t, base.Header, map[string]string{"layers": "[2, 1]"}), base.Tensors},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &checkpoint.File{Header: tc.header, Tensors: tc.tensors}
			data := encode(t, f)
			opts := Options{Backend: testBackend(t)}
			for how, fn := range map[string]func() (*Model, error){
				"LoadBytes": func() (*Model, error) { return LoadBytes(data, "m.swav", opts) },
				"FromFile":  func() (*Model, error) { return FromFile(f, "m.swav", opts) },
			} {
				m, err := fn()
				if m != nil || err == nil {
					t.Fatalf("%s: loaded a model from a hostile table", how)
				}
				want := "checkpoint m.swav: tensor " + tc.tensor + " "
				if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: error %q, want %q … %q", how, err, want, tc.want)
				}
				var te *model.TensorError
				if !errors.As(err, &te) || te.Name != tc.tensor {
					t.Errorf("%s: error %v does not wrap a *model.TensorError for %s", how, err, tc.tensor)
				}
			}
		})
	}
}

// TestFloat16AndHooks: a float16 export passes validation and embeds like the float32
// file (within float16's precision); Options.Read's own hook runs after infer's checks
// and its error stops the load; asking for the projection of a headless model is an
// error naming the file.
func TestFloat16AndHooks(t *testing.T) {
	base := loadTinyFile(t)
	var buf bytes.Buffer
	if err := checkpoint.Encode(&buf, base, checkpoint.EncodeOptions{Float16: true}); err != nil {
		t.Fatal(err)
	}
	half, err := LoadBytes(buf.Bytes(), "half.swav", Options{Backend: testBackend(t)})
	if err != nil {
		t.Fatal(err)
	}
	full := loadTiny(t, Options{})
	img := []image.Image{gradient(40, 30, 1)}
	hv, err := half.Embed(gocontext.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	fv, err := full.Embed(gocontext.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fv[0] {
		if math.Abs(float64(hv[0][i]-fv[0][i])) > 2e-2 {
			t.Fatalf("float16 vector %v differs from float32 %v", hv[0], fv[0])
		}
	}

	called := 0
	hookErr := errors.New("refused by the caller")
	_, err = LoadBytes(encode(t, base), "m.swav", Options{Backend: testBackend(t), Read: checkpoint.ReadOptions{
		Validate: func(info *checkpoint.Info) error { called++; return hookErr }}})
	if !errors.Is(err, hookErr) || called != 1 || !strings.Contains(err.Error(), "m.swav") {
		t.Errorf("caller's hook: error %v after %d calls, want the hook's error once", err, called)
	}
	called = 0
	hostile := &checkpoint.File{Header: withModel(t, base.Header, map[string]string{"out_dim": "1099511627776"}), Tensors: base.Tensors}
	_, err = LoadBytes(encode(t, hostile), "m.swav", Options{Backend: testBackend(t), Read: checkpoint.ReadOptions{
		Validate: func(info *checkpoint.Info) error { called++; return nil }}})
	if err == nil || called != 0 {
		t.Errorf("hostile header: error %v with the caller's hook called %d times, want infer's error first", err, called)
	}

	headless := withModel(t, base.Header, map[string]string{"out_dim": "0", "hidden_dim": "0", "prototypes": "0"})
	var ts []checkpoint.Tensor
	for _, tt := range base.Tensors {
		if strings.HasPrefix(tt.Name, model.BackboneScope+"/") {
			ts = append(ts, tt)
		}
	}
	data := encode(t, &checkpoint.File{Header: headless, Tensors: ts})
	if _, err := LoadBytes(data, "headless.swav", Options{Backend: testBackend(t), Output: Projection}); err == nil ||
		!strings.Contains(err.Error(), "checkpoint headless.swav: the model has no projection head") {
		t.Errorf("projection of a headless model: %v", err)
	}
	m, err := LoadBytes(data, "headless.swav", Options{Backend: testBackend(t)})
	if err != nil || m.Dim() != 8 {
		t.Errorf("features of a headless model: %v", err)
	}
}

// TestElongatedImage: a 1×1048576 image under the 28 px model would be resized to
// 28×29360128 (3.3 GB as float32) before the crop; only the crop is computed. The image
// is constant, so its vector equals that of a constant 28×28 image.
func TestElongatedImage(t *testing.T) {
	m := loadTiny(t, Options{})
	long := image.NewGray(image.Rect(0, 0, 1<<20, 1))
	square := image.NewGray(image.Rect(0, 0, 28, 28))
	for _, img := range []*image.Gray{long, square} {
		for i := range img.Pix {
			img.Pix[i] = 150
		}
	}
	var got [][]float32
	var err error
	alloc, elapsed := measure(func() { got, err = m.Embed(gocontext.Background(), []image.Image{long}) })
	if err != nil {
		t.Fatal(err)
	}
	if alloc > hostileAllocLimit || elapsed > hostileTimeLimit {
		t.Errorf("allocated %d bytes in %s, want < %d bytes and < %s", alloc, elapsed, hostileAllocLimit, hostileTimeLimit)
	}
	want, err := m.Embed(gocontext.Background(), []image.Image{square})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want[0] {
		if math.Abs(float64(got[0][i]-want[0][i])) > 1e-5 {
			t.Fatalf("vector %v, want %v", got[0], want[0])
		}
	}
	// An empty image is an error naming it, not a panic.
	if _, err := m.Embed(gocontext.Background(), []image.Image{square, image.NewGray(image.Rect(0, 0, 0, 0))}); err == nil ||
		!strings.Contains(err.Error(), "image 1") {
		t.Errorf("empty image: %v", err)
	}
}
