package augment

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func randomImage(rng *rand.Rand, h, w, c int) Tensor {
	t := Tensor{H: h, W: w, C: c, Pix: make([]float32, h*w*c)}
	for i := range t.Pix {
		t.Pix[i] = rng.Float32()
	}
	return t
}

func TestApplyShapes(t *testing.T) {
	small := DefaultSmall(28)
	small.Mean, small.Std = []float32{0.1307}, []float32{0.3081}
	cifar := DefaultSmall(32)
	tests := []struct {
		name    string
		m       MultiCrop
		h, w, c int
		want    []int // size of every view, in order
	}{
		{"imagenet 256x256x3", DefaultImageNet(), 256, 256, 3, []int{224, 224, 96, 96, 96, 96, 96, 96}},
		{"imagenet 180x300x3 upsampling", DefaultImageNet(), 180, 300, 3, []int{224, 224, 96, 96, 96, 96, 96, 96}},
		{"small 28x28x1", small, 28, 28, 1, []int{28, 28, 14, 14, 14, 14}},
		{"small 32x32x3", cifar, 32, 32, 3, []int{32, 32, 16, 16, 16, 16}},
		{"custom order", MultiCrop{Crops: []CropSpec{{1, 5, 0.5, 1}, {3, 7, 0.1, 0.2}, {2, 3, 0.2, 0.3}}},
			10, 10, 1, []int{5, 7, 7, 7, 3, 3}},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.m.NumCrops() != len(tc.want) {
				t.Fatalf("NumCrops = %d, want %d", tc.m.NumCrops(), len(tc.want))
			}
			img := randomImage(rng, tc.h, tc.w, tc.c)
			orig := append([]float32(nil), img.Pix...)
			views := tc.m.Apply(rng, img)
			if len(views) != len(tc.want) {
				t.Fatalf("%d views, want %d", len(views), len(tc.want))
			}
			for i, v := range views {
				s := tc.want[i]
				if v.H != s || v.W != s || v.C != tc.c || len(v.Pix) != s*s*tc.c {
					t.Fatalf("view %d: %dx%dx%d (%d values), want %dx%dx%d", i, v.H, v.W, v.C, len(v.Pix), s, s, tc.c)
				}
				for _, x := range v.Pix {
					if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
						t.Fatalf("view %d has non-finite value %v", i, x)
					}
				}
				// Views must not share memory: appending to one must not
				// be able to overwrite the next.
				if cap(v.Pix) != len(v.Pix) {
					t.Errorf("view %d: cap %d > len %d", i, cap(v.Pix), len(v.Pix))
				}
				clear(v.Pix)
			}
			for i := range orig {
				if img.Pix[i] != orig[i] {
					t.Fatal("Apply modified its input or returned memory aliasing it")
				}
			}
		})
	}
}

// With every random step disabled a constant image c maps to
// (c - Mean)/Std in every view, whatever the crop.
func TestApplyNormalisation(t *testing.T) {
	tests := []struct {
		name      string
		channels  []float32 // constant value per channel
		mean, std []float32
	}{
		{"rgb imagenet", []float32{0.5, 0.25, 0.75}, []float32{0.485, 0.456, 0.406}, []float32{0.228, 0.224, 0.225}},
		{"gray mnist", []float32{0.3}, []float32{0.1307}, []float32{0.3081}},
		{"value equals mean", []float32{0.2, 0.4, 0.6}, []float32{0.2, 0.4, 0.6}, []float32{1, 2, 3}},
		{"no normalisation", []float32{0.2, 0.4, 0.6}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := len(tc.channels)
			img := Tensor{H: 20, W: 30, C: c, Pix: make([]float32, 600*c)}
			for i := range img.Pix {
				img.Pix[i] = tc.channels[i%c]
			}
			m := MultiCrop{
				Crops: []CropSpec{{2, 12, 0.14, 1}, {3, 6, 0.05, 0.14}},
				Mean:  tc.mean, Std: tc.std,
			}
			for _, v := range m.Apply(rand.New(rand.NewPCG(4, 2)), img) {
				for i, x := range v.Pix {
					ch := i % c
					want := float64(tc.channels[ch])
					if tc.mean != nil {
						want = (want - float64(tc.mean[ch])) / float64(tc.std[ch])
					}
					if math.Abs(float64(x)-want) > 1e-5 {
						t.Fatalf("channel %d = %v, want %v", ch, x, want)
					}
				}
			}
		})
	}
}

// The normalised views of a random image have per-channel means and
// standard deviations consistent with the affine map: mean_out =
// (mean_in - Mean)/Std and std_out = std_in/Std, measured on the
// unnormalised output of the same draws.
func TestApplyNormalisationStatistics(t *testing.T) {
	img := randomImage(rand.New(rand.NewPCG(8, 8)), 64, 64, 3)
	raw := DefaultImageNet()
	raw.Crops = []CropSpec{{2, 32, 0.14, 1}, {2, 16, 0.05, 0.14}}
	raw.Mean, raw.Std = nil, nil
	norm := raw
	norm.Mean, norm.Std = []float32{0.485, 0.456, 0.406}, []float32{0.228, 0.224, 0.225}
	a := raw.Apply(ImageRNG(1, 2, 3), img)
	b := norm.Apply(ImageRNG(1, 2, 3), img)
	for v := range a {
		for ch := range 3 {
			var ma, mb, sa, sb float64
			n := float64(len(a[v].Pix) / 3)
			for i := ch; i < len(a[v].Pix); i += 3 {
				ma += float64(a[v].Pix[i])
				mb += float64(b[v].Pix[i])
			}
			ma, mb = ma/n, mb/n
			for i := ch; i < len(a[v].Pix); i += 3 {
				sa += math.Pow(float64(a[v].Pix[i])-ma, 2)
				sb += math.Pow(float64(b[v].Pix[i])-mb, 2)
			}
			sa, sb = math.Sqrt(sa/n), math.Sqrt(sb/n)
			mu, sd := float64(norm.Mean[ch]), float64(norm.Std[ch])
			if math.Abs(mb-(ma-mu)/sd) > 1e-4 || math.Abs(sb-sa/sd) > 1e-4 {
				t.Errorf("view %d ch %d: mean %v std %v, want %v %v", v, ch, mb, sb, (ma-mu)/sd, sa/sd)
			}
		}
	}
}

// Probability gates: GrayP 1 makes every RGB view gray; measured
// frequencies of the grayscale step match GrayP.
func TestApplyGrayProbability(t *testing.T) {
	img := randomImage(rand.New(rand.NewPCG(3, 3)), 16, 16, 3)
	isGray := func(v Tensor) bool {
		for i := 0; i < len(v.Pix); i += 3 {
			if v.Pix[i] != v.Pix[i+1] || v.Pix[i] != v.Pix[i+2] {
				return false
			}
		}
		return true
	}
	tests := []struct {
		p      float64
		lo, hi float64
	}{{0, 0, 0}, {1, 1, 1}, {0.2, 0.17, 0.23}}
	for _, tc := range tests {
		m := MultiCrop{Crops: []CropSpec{{8, 8, 0.14, 1}}, GrayP: tc.p}
		gray, total := 0, 0
		for i := range 300 {
			for _, v := range m.Apply(ImageRNG(0, 0, i), img) {
				total++
				if isGray(v) {
					gray++
				}
			}
		}
		if f := float64(gray) / float64(total); f < tc.lo || f > tc.hi {
			t.Errorf("GrayP %v: gray fraction %v, want in [%v, %v]", tc.p, f, tc.lo, tc.hi)
		}
	}
}

func equalViews(a, b []Tensor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].H != b[i].H || a[i].W != b[i].W || a[i].C != b[i].C || len(a[i].Pix) != len(b[i].Pix) {
			return false
		}
		for j := range a[i].Pix {
			if math.Float32bits(a[i].Pix[j]) != math.Float32bits(b[i].Pix[j]) {
				return false
			}
		}
	}
	return true
}

func TestDeterminism(t *testing.T) {
	m := DefaultImageNet()
	m.Crops = []CropSpec{{2, 48, 0.14, 1}, {4, 24, 0.05, 0.14}}
	const n = 12
	imgs := make([]Tensor, n)
	for i := range imgs {
		imgs[i] = randomImage(rand.New(rand.NewPCG(uint64(i), 99)), 40+i, 50, 3)
	}
	seq := make([][]Tensor, n)
	for i := range n {
		seq[i] = m.Apply(ImageRNG(42, 3, i), imgs[i])
	}
	// Same triple, same bits.
	for i := range n {
		if !equalViews(seq[i], m.Apply(ImageRNG(42, 3, i), imgs[i])) {
			t.Fatalf("image %d: repeated Apply differs", i)
		}
	}
	// Concurrent workers in reverse order with a shared MultiCrop give the
	// same bits as the sequential pass.
	par := make([][]Tensor, n)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := n - 1 - w; i >= 0; i -= 4 {
				par[i] = m.Apply(ImageRNG(42, 3, i), imgs[i])
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if !equalViews(seq[i], par[i]) {
			t.Fatalf("image %d: concurrent result differs from sequential", i)
		}
	}
	// Changing any of seed, epoch, index changes the views.
	for _, tc := range []struct {
		seed         uint64
		epoch, index int
	}{{43, 3, 0}, {42, 4, 0}, {42, 3, 1}} {
		if equalViews(seq[0], m.Apply(ImageRNG(tc.seed, tc.epoch, tc.index), imgs[0])) {
			t.Errorf("ImageRNG(%d, %d, %d) gives the same views as (42, 3, 0)", tc.seed, tc.epoch, tc.index)
		}
	}
}

func TestImageRNGDistinct(t *testing.T) {
	seen := map[uint64][3]int{}
	for seed := range 4 {
		for epoch := range 50 {
			for index := range 200 {
				v := ImageRNG(uint64(seed), epoch, index).Uint64()
				if prev, ok := seen[v]; ok {
					t.Fatalf("(%d,%d,%d) and %v share the first output", seed, epoch, index, prev)
				}
				seen[v] = [3]int{seed, epoch, index}
			}
		}
	}
}

func TestValidate(t *testing.T) {
	ok := DefaultImageNet()
	tests := []struct {
		name string
		edit func(m *MultiCrop)
		want string // substring of the error, "" for nil
	}{
		{"imagenet default", func(m *MultiCrop) {}, ""},
		{"small default", func(m *MultiCrop) { *m = DefaultSmall(28) }, ""},
		{"small default size 1", func(m *MultiCrop) { *m = DefaultSmall(1) }, ""},
		{"no crops", func(m *MultiCrop) { m.Crops = nil }, "no crop specs"},
		{"count 0", func(m *MultiCrop) { m.Crops = []CropSpec{{0, 224, 0.14, 1}} }, "Crops[0].Count"},
		{"negative count", func(m *MultiCrop) { m.Crops = []CropSpec{{2, 224, 0.14, 1}, {-1, 96, 0.05, 0.14}} }, "Crops[1].Count"},
		{"size 0", func(m *MultiCrop) { m.Crops = []CropSpec{{2, 0, 0.14, 1}} }, "Crops[0].Size"},
		{"scales out of order", func(m *MultiCrop) { m.Crops = []CropSpec{{2, 224, 1, 0.14}} }, "scale"},
		{"min scale 0", func(m *MultiCrop) { m.Crops = []CropSpec{{2, 224, 0, 1}} }, "scale"},
		{"max scale > 1", func(m *MultiCrop) { m.Crops = []CropSpec{{2, 224, 0.5, 1.5}} }, "scale"},
		{"NaN scale", func(m *MultiCrop) { m.Crops = []CropSpec{{2, 224, math.NaN(), 1}} }, "scale"},
		{"flip p > 1", func(m *MultiCrop) { m.FlipP = 1.5 }, "FlipP"},
		{"jitter p < 0", func(m *MultiCrop) { m.JitterP = -0.1 }, "JitterP"},
		{"gray p NaN", func(m *MultiCrop) { m.GrayP = math.NaN() }, "GrayP"},
		{"blur p > 1", func(m *MultiCrop) { m.BlurP = 2 }, "BlurP"},
		{"negative brightness", func(m *MultiCrop) { m.Jitter.Brightness = -1 }, "Brightness"},
		{"infinite contrast", func(m *MultiCrop) { m.Jitter.Contrast = math.Inf(1) }, "Contrast"},
		{"hue > 0.5", func(m *MultiCrop) { m.Jitter.Hue = 0.6 }, "Hue"},
		{"blur sigma 0", func(m *MultiCrop) { m.BlurSigma = [2]float64{0, 2} }, "BlurSigma"},
		{"blur sigma reversed", func(m *MultiCrop) { m.BlurSigma = [2]float64{2, 1} }, "BlurSigma"},
		{"blur sigma ignored when off", func(m *MultiCrop) { m.BlurP, m.BlurSigma = 0, [2]float64{} }, ""},
		{"mean/std lengths", func(m *MultiCrop) { m.Std = m.Std[:2] }, "len(Mean)"},
		{"std 0", func(m *MultiCrop) { m.Std = []float32{0.2, 0, 0.2} }, "std"},
		{"mean NaN", func(m *MultiCrop) { m.Mean = []float32{0, float32(math.NaN()), 0} }, "mean"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := ok
			m.Crops = append([]CropSpec(nil), ok.Crops...)
			m.Mean = append([]float32(nil), ok.Mean...)
			m.Std = append([]float32(nil), ok.Std...)
			tc.edit(&m)
			err := m.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestApplyPanics(t *testing.T) {
	rgb := Tensor{H: 8, W: 8, C: 3, Pix: make([]float32, 192)}
	tests := []struct {
		name string
		m    MultiCrop
		img  Tensor
	}{
		{"invalid config", MultiCrop{}, rgb},
		{"2 channels", DefaultSmall(8), Tensor{H: 8, W: 8, C: 2, Pix: make([]float32, 128)}},
		{"short Pix", DefaultSmall(8), Tensor{H: 8, W: 8, C: 3, Pix: make([]float32, 100)}},
		{"empty image", DefaultSmall(8), Tensor{C: 3}},
		{"mean for wrong channels", DefaultImageNet(), Tensor{H: 8, W: 8, C: 1, Pix: make([]float32, 64)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("Apply did not panic")
				}
			}()
			tc.m.Apply(rand.New(rand.NewPCG(0, 0)), tc.img)
		})
	}
}

// Defaults returned by the constructors are fresh values: editing one must
// not change the next.
func TestDefaultsAreIndependent(t *testing.T) {
	a := DefaultImageNet()
	a.Mean[0], a.Std[0], a.Crops[0].Size = 9, 9, 9
	b := DefaultImageNet()
	if b.Mean[0] != 0.485 || b.Std[0] != 0.228 || b.Crops[0].Size != 224 {
		t.Fatalf("DefaultImageNet shares state: %+v", b)
	}
}
