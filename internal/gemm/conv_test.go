package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// refConv is a direct float64 implementation of ConvParams' definition.
func refConv(p ConvParams, input, kernel []float32) (want, scale []float64) {
	d := len(p.InSpatial)
	m := p.Batch * prod(p.OutSpatial)
	taps := prod(p.KernelSpatial)
	want = make([]float64, m*p.OutChannels)
	scale = make([]float64, m*p.OutChannels)
	o := make([]int, d)
	kk := make([]int, d)
	for r := 0; r < m; r++ {
		rest := r
		for a := d - 1; a >= 0; a-- {
			o[a] = rest % p.OutSpatial[a]
			rest /= p.OutSpatial[a]
		}
		n := rest
		for t := 0; t < taps; t++ {
			tr := t
			for a := d - 1; a >= 0; a-- {
				kk[a] = tr % p.KernelSpatial[a]
				tr /= p.KernelSpatial[a]
			}
			pix, ok := n, true
			for a := 0; a < d; a++ {
				var pad int
				if len(p.Paddings) > 0 {
					pad = p.Paddings[a][0]
				}
				q := o[a]*axisOr(p.Strides, a, 1) - pad + kk[a]*axisOr(p.KernelDilations, a, 1)
				dil := axisOr(p.InputDilations, a, 1)
				if q < 0 || q%dil != 0 || q/dil >= p.InSpatial[a] {
					ok = false
					break
				}
				pix = pix*p.InSpatial[a] + q/dil
			}
			if !ok {
				continue
			}
			for c := 0; c < p.InChannels; c++ {
				x := float64(input[pix*p.InChannels+c])
				for j := 0; j < p.OutChannels; j++ {
					v := x * float64(kernel[(t*p.InChannels+c)*p.OutChannels+j])
					want[r*p.OutChannels+j] += v
					scale[r*p.OutChannels+j] += math.Abs(v)
				}
			}
		}
	}
	return want, scale
}

func outSize(in, k, stride, pad0, pad1, kdil, idil int) int {
	din := (in-1)*idil + 1
	ek := (k-1)*kdil + 1
	if din+pad0+pad1 < ek {
		return 0
	}
	return (din+pad0+pad1-ek)/stride + 1
}

func checkConv(t *testing.T, e *Engine, r *rand.Rand, p ConvParams) {
	t.Helper()
	in := randSlice(r, p.Batch*prod(p.InSpatial)*p.InChannels)
	ker := randSlice(r, prod(p.KernelSpatial)*p.InChannels*p.OutChannels)
	out := make([]float32, p.Batch*prod(p.OutSpatial)*p.OutChannels)
	for i := range out {
		out[i] = float32(math.NaN())
	}
	if err := e.Conv(p, in, ker, out); err != nil {
		t.Fatalf("%+v: %v", p, err)
	}
	want, scale := refConv(p, in, ker)
	for i, w := range want {
		if diff := math.Abs(float64(out[i]) - w); !(diff <= 1e-5*scale[i]+1e-6) {
			t.Fatalf("%+v: out[%d] = %g, want %g", p, i, out[i], w)
		}
	}
}

func TestConvResNetShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	type cs struct{ b, h, ci, co, k, s, pad int }
	cases := []cs{
		{2, 28, 1, 32, 3, 1, 1}, // stem on 1-channel input.
		{2, 14, 32, 32, 3, 1, 1},
		{2, 14, 32, 64, 3, 2, 1},
		{2, 14, 32, 64, 1, 2, 0}, // downsample.
		{1, 7, 64, 128, 1, 1, 0},
		{1, 16, 3, 24, 7, 2, 3}, // ImageNet stem.
		{3, 9, 20, 21, 3, 1, 1}, // channels not multiple of anything.
	}
	for name, e := range engines(2) {
		for _, c := range cases {
			o := outSize(c.h, c.k, c.s, c.pad, c.pad, 1, 1)
			p := ConvParams{Batch: c.b, InChannels: c.ci, OutChannels: c.co,
				InSpatial: []int{c.h, c.h}, KernelSpatial: []int{c.k, c.k}, OutSpatial: []int{o, o},
				Strides: []int{c.s, c.s}, Paddings: [][2]int{{c.pad, c.pad}, {c.pad, c.pad}}}
			t.Run(fmt.Sprintf("%s/%+v", name, c), func(t *testing.T) { checkConv(t, e, r, p) })
		}
	}
}

// TestConvRandomized covers strides, asymmetric/negative-free paddings,
// kernel and input dilations (as used by gradients) and 1-3 spatial axes.
func TestConvRandomized(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	iters := 120
	if testing.Short() {
		iters = 30
	}
	for it := 0; it < iters; it++ {
		d := 1 + r.IntN(3)
		p := ConvParams{Batch: 1 + r.IntN(3), InChannels: 1 + r.IntN(40), OutChannels: 1 + r.IntN(40)}
		if d == 3 {
			p.InChannels, p.OutChannels = 1+r.IntN(8), 1+r.IntN(20)
		}
		for a := 0; a < d; a++ {
			in := 1 + r.IntN(12)
			k := 1 + r.IntN(4)
			s := 1 + r.IntN(3)
			kd := 1 + r.IntN(2)
			id := 1 + r.IntN(2)
			pad := [2]int{r.IntN(3), r.IntN(3)}
			o := outSize(in, k, s, pad[0], pad[1], kd, id)
			p.InSpatial = append(p.InSpatial, in)
			p.KernelSpatial = append(p.KernelSpatial, k)
			p.OutSpatial = append(p.OutSpatial, o)
			p.Strides = append(p.Strides, s)
			p.Paddings = append(p.Paddings, pad)
			p.KernelDilations = append(p.KernelDilations, kd)
			p.InputDilations = append(p.InputDilations, id)
		}
		for name, e := range engines(1 + r.IntN(2)) {
			t.Run(fmt.Sprintf("%d/%s", it, name), func(t *testing.T) { checkConv(t, e, r, p) })
		}
	}
}

func TestConvValidate(t *testing.T) {
	p := ConvParams{Batch: 1, InChannels: 1, OutChannels: 1, InSpatial: []int{5}, KernelSpatial: []int{3}, OutSpatial: []int{4}}
	if err := p.Validate(); err == nil {
		t.Fatal("wrong output size accepted")
	}
	p.OutSpatial = []int{3}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestConvInputDilatedPhases covers the phase decomposition of input-dilated
// convolutions (unit strides), as produced by gradients of strided convolutions.
func TestConvInputDilatedPhases(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	type axis struct{ in, k, id, kd, pad0, pad1 int }
	cases := [][]axis{
		{{14, 3, 2, 1, 1, 2}, {14, 3, 2, 1, 1, 2}}, // 3×3/2 gradient, 28×28 output.
		{{7, 1, 2, 1, 0, 1}, {7, 1, 2, 1, 0, 1}},   // 1×1/2 gradient.
		{{5, 3, 3, 1, 2, 2}, {6, 2, 2, 1, 0, 0}},
		{{9, 5, 2, 1, 0, 3}, {4, 3, 1, 2, 1, 1}}, // Dilated kernel on the undilated axis.
		{{6, 4, 4, 1, 3, 0}},
		{{3, 3, 2, 1, 1, 1}, {3, 3, 2, 1, 1, 1}, {2, 2, 2, 1, 0, 1}},
	}
	for ci, c := range cases {
		p := ConvParams{Batch: 2, InChannels: 5, OutChannels: 19}
		if ci == 0 {
			p.InChannels, p.OutChannels = 64, 32
		}
		for _, a := range c {
			p.InSpatial = append(p.InSpatial, a.in)
			p.KernelSpatial = append(p.KernelSpatial, a.k)
			p.InputDilations = append(p.InputDilations, a.id)
			p.KernelDilations = append(p.KernelDilations, a.kd)
			p.Paddings = append(p.Paddings, [2]int{a.pad0, a.pad1})
			p.OutSpatial = append(p.OutSpatial, outSize(a.in, a.k, 1, a.pad0, a.pad1, a.kd, a.id))
		}
		if inputDilationPhases(&p) == nil {
			t.Fatalf("case %d: phase decomposition not used", ci)
		}
		for name, e := range engines(2) {
			t.Run(fmt.Sprintf("%d/%s", ci, name), func(t *testing.T) { checkConv(t, e, r, p) })
		}
	}
}

// TestConvEpilogueInputDilated checks that an input-dilated convolution (run
// as phases, then interleaved image by image between workers) hands every
// output row to the epilogue exactly once, after all of its channels are
// final, with one and two workers.
func TestConvEpilogueInputDilated(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, c := range []struct{ in, k, pad0, pad1, ci, co int }{
		{14, 3, 1, 2, 8, 32}, // 3×3/2 gradient, 28×28 output (large enough for two workers).
		{5, 1, 0, 1, 8, 5},   // 1×1/2 gradient, 10×10 output.
	} {
		p := ConvParams{Batch: 12, InChannels: c.ci, OutChannels: c.co, InSpatial: []int{c.in, c.in},
			KernelSpatial: []int{c.k, c.k}, InputDilations: []int{2, 2}, Paddings: [][2]int{{c.pad0, c.pad1}, {c.pad0, c.pad1}}}
		o := outSize(c.in, c.k, 1, c.pad0, c.pad1, 1, 2)
		p.OutSpatial = []int{o, o}
		in := randSlice(r, p.Batch*c.in*c.in*c.ci)
		ker := randSlice(r, c.k*c.k*c.ci*c.co)
		want, scale := refConv(p, in, ker)
		m := p.Batch * o * o
		for _, workers := range []int{1, 2} {
			out := make([]float32, m*c.co)
			for i := range out {
				out[i] = float32(math.NaN())
			}
			seen := make([]int, m)
			var mu sync.Mutex
			epi := func(r0, r1 int) {
				mu.Lock()
				defer mu.Unlock()
				for row := r0; row < r1; row++ {
					seen[row]++
					for j := row * c.co; j < (row+1)*c.co; j++ {
						if !(math.Abs(float64(out[j])-want[j]) <= 1e-5*scale[j]+1e-6) {
							t.Errorf("%+v workers %d: epilogue saw row %d before element %d was final", c, workers, row, j)
							return
						}
					}
				}
			}
			if err := New(Options{Workers: workers}).ConvEpilogue(p, in, ker, out, epi); err != nil {
				t.Fatal(err)
			}
			for i := range out {
				if !(math.Abs(float64(out[i])-want[i]) <= 1e-5*scale[i]+1e-6) {
					t.Fatalf("%+v workers %d: [%d] = %g, want %g", c, workers, i, out[i], want[i])
				}
			}
			for row, n := range seen {
				if n != 1 {
					t.Fatalf("%+v workers %d: epilogue saw row %d %d times", c, workers, row, n)
				}
			}
		}
	}
}
