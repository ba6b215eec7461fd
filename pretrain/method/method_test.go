package method

import (
	"errors"
	"flag"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/augment"
	"github.com/swav-go/swav/model"
)

// fake is the smallest Method, to fill registry entries.
type fake struct{ name string }

func (f fake) Name() string                      { return f.name }
func (fake) Setup(r Run) (model.Config, error)   { return r.Model, nil }
func (fake) Config() any                         { return nil }
func (fake) Views() Views                        { return nil }
func (fake) Optimizer() Optimizer                { return Optimizer{} }
func (fake) Scopes() Scopes                      { return Scopes{} }
func (fake) Metrics() []string                   { return nil }
func (fake) Hooks() []Hook                       { return nil }
func (fake) StepInputs(StepInfo) []any           { return nil }
func (fake) Step(*context.Context, Batch) Output { return Output{} }

func entry(name string) Entry {
	return Entry{Name: name, Summary: "a test method", New: func() Method { return fake{name} },
		Flags: func(*flag.FlagSet) func() (Method, error) { return func() (Method, error) { return fake{name}, nil } }}
}

func TestRegistry(t *testing.T) {
	r, err := NewRegistry(entry("swav"), entry("simclr"), entry("moco-v2"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Names(), []string{"moco-v2", "simclr", "swav"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names %v, want %v", got, want)
	}
	m, err := r.New("simclr")
	if err != nil || m.Name() != "simclr" {
		t.Errorf("New(simclr) = %v, %v", m, err)
	}
	_, err = r.Lookup("byol")
	if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), `"byol"`) || !strings.Contains(err.Error(), "moco-v2, simclr, swav") {
		t.Errorf("Lookup(byol): %v; want ErrUnknown naming it and the valid methods", err)
	}
	bad := []struct {
		name    string
		entries []Entry
		want    string
	}{
		{"duplicate", []Entry{entry("swav"), entry("swav")}, "twice"},
		{"upper case", []Entry{entry("SwAV")}, "lower-case"},
		{"empty name", []Entry{entry("")}, "lower-case"},
		{"space", []Entry{entry("moco v2")}, "lower-case"},
		{"no summary", []Entry{{Name: "x", New: entry("x").New, Flags: entry("x").Flags}}, "summary"},
		{"no New", []Entry{{Name: "x", Summary: "s", Flags: entry("x").Flags}}, "New"},
		{"no Flags", []Entry{{Name: "x", Summary: "s", New: entry("x").New}}, "Flags"},
	}
	for _, tc := range bad {
		if _, err := NewRegistry(tc.entries...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	var zero Registry
	if _, err := zero.Lookup("swav"); !errors.Is(err, ErrUnknown) {
		t.Errorf("zero registry: %v", err)
	}
}

func TestEveryNSteps(t *testing.T) {
	var calls []int
	h := EveryNSteps(3, "every3", func(s *StepResult) error { calls = append(calls, s.Step); return nil })
	for step := 1; step <= 10; step++ {
		if err := h.OnStep(&StepResult{Step: step}); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(calls, []int{3, 6, 9}) || h.Name != "every3" {
		t.Errorf("hook %q ran at %v, want every3 at [3 6 9]", h.Name, calls)
	}
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(r.(string), "method: ") {
			t.Errorf("EveryNSteps(0) panic %v, want a method: message", r)
		}
	}()
	EveryNSteps(0, "never", nil)
}

func TestStepResultMetric(t *testing.T) {
	s := &StepResult{Names: []string{"code_entropy", "prototypes_in_use"}, Values: []float64{1.5, 13}}
	if v, ok := s.Metric("prototypes_in_use"); !ok || v != 13 {
		t.Errorf("Metric(prototypes_in_use) = %v, %v", v, ok)
	}
	if _, ok := s.Metric("loss"); ok {
		t.Error("Metric(loss) found a metric the method does not have")
	}
}

func TestMultiCropViews(t *testing.T) {
	m := augment.DefaultSmall(28)
	m.Mean, m.Std = []float32{0.3}, []float32{0.35}
	v := MultiCropViews(m)
	if got, want := v.Groups(), []ViewGroup{{Count: 2, Size: 28}, {Count: 4, Size: 14}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Groups %v, want %v", got, want)
	}
	if mean, std := v.Normalization(); mean[0] != 0.3 || std[0] != 0.35 {
		t.Errorf("Normalization %v %v", mean, std)
	}
	img := augment.Tensor{H: 28, W: 28, C: 1, Pix: make([]float32, 28*28)}
	for i := range img.Pix {
		img.Pix[i] = float32(i%28) / 28
	}
	a := v.Apply(rand.New(rand.NewPCG(1, 2)), img)
	b := m.Apply(rand.New(rand.NewPCG(1, 2)), img)
	if !reflect.DeepEqual(a, b) || len(a) != 6 {
		t.Errorf("Apply differs from MultiCrop.Apply with the same rng (%d views)", len(a))
	}
}

// TestNormalization: the run's normalisation wins over the configured one, which wins
// over the data's statistics (computed only when needed, their error passed on as it
// is); with none the error names the method and wraps ErrNoNormalization.
func TestNormalization(t *testing.T) {
	calls := 0
	statsErr := errors.New("stats failed")
	stats := func(fail bool) func() ([]float32, []float32, error) {
		return func() ([]float32, []float32, error) {
			calls++
			if fail {
				return nil, nil, statsErr
			}
			return []float32{0.3}, []float32{0.4}, nil
		}
	}
	user, cfg := []float32{0.1}, []float32{0.2}
	for _, tc := range []struct {
		name              string
		run               Run
		mean, std         []float32
		wantMean, wantStd []float32
		wantCalls         int
		wantErr, wantNone bool
	}{
		{"user over config", Run{Mean: user, Std: user, ChannelStats: stats(false)}, cfg, cfg, user, user, 0, false, false},
		{"config over data", Run{ChannelStats: stats(false)}, cfg, cfg, cfg, cfg, 0, false, false},
		{"data", Run{ChannelStats: stats(false)}, nil, nil, []float32{0.3}, []float32{0.4}, 1, false, false},
		{"data fails", Run{ChannelStats: stats(true)}, nil, nil, nil, nil, 1, true, false},
		{"none", Run{}, nil, nil, nil, nil, 0, true, true},
	} {
		calls = 0
		mean, std, err := tc.run.Normalization("m", tc.mean, tc.std)
		if !reflect.DeepEqual(mean, tc.wantMean) || !reflect.DeepEqual(std, tc.wantStd) || calls != tc.wantCalls || (err != nil) != tc.wantErr {
			t.Errorf("%s: mean %v std %v err %v after %d ChannelStats calls; want %v %v, error %v, %d calls",
				tc.name, mean, std, err, calls, tc.wantMean, tc.wantStd, tc.wantErr, tc.wantCalls)
		}
		switch {
		case tc.wantNone && (!errors.Is(err, ErrNoNormalization) || err.Error() != "m: no normalisation given and no data to estimate it from"):
			t.Errorf("%s: error %v, want m: + ErrNoNormalization", tc.name, err)
		case tc.wantErr && !tc.wantNone && err != statsErr:
			t.Errorf("%s: error %v, want ChannelStats's own", tc.name, err)
		}
	}
}
