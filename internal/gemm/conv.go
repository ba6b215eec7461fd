package gemm

import (
	"fmt"
	"unsafe"
)

// ConvParams describes an N-dimensional convolution in canonical
// channels-last layout, all tensors dense and row-major:
//
//	input  [Batch, InSpatial..., InChannels]
//	kernel [KernelSpatial..., InChannels, OutChannels]
//	output [Batch, OutSpatial..., OutChannels]
//
// output[n, o, co] = Σ_{k, ci} input[n, q(o, k), ci] · kernel[k, ci, co], where
// in every spatial axis q = (o·stride − padLow + k·kernelDilation) / inputDilation,
// and terms whose q falls outside the input, or between input-dilation
// holes, are zero.
type ConvParams struct {
	Batch, InChannels, OutChannels int
	InSpatial, KernelSpatial       []int
	OutSpatial                     []int
	// Strides, Paddings, KernelDilations and InputDilations are per spatial
	// axis; nil means 1 (or no padding).
	Strides         []int
	Paddings        [][2]int
	KernelDilations []int
	InputDilations  []int
}

func axisOr(v []int, i, def int) int {
	if len(v) == 0 {
		return def
	}
	return v[i]
}

func prod(v []int) int {
	p := 1
	for _, x := range v {
		p *= x
	}
	return p
}

// Validate checks the parameters and the output spatial sizes they imply.
func (p *ConvParams) Validate() error {
	d := len(p.InSpatial)
	if len(p.KernelSpatial) != d || len(p.OutSpatial) != d {
		return fmt.Errorf("%w: conv spatial ranks differ: input %d, kernel %d, output %d",
			ErrInvalidArgument, d, len(p.KernelSpatial), len(p.OutSpatial))
	}
	for name, v := range map[string][]int{"strides": p.Strides, "kernel dilations": p.KernelDilations, "input dilations": p.InputDilations} {
		if len(v) != 0 && len(v) != d {
			return fmt.Errorf("%w: conv %s has %d values for %d spatial axes", ErrInvalidArgument, name, len(v), d)
		}
		for _, x := range v {
			if x < 1 {
				return fmt.Errorf("%w: conv %s must be ≥ 1, got %v", ErrInvalidArgument, name, v)
			}
		}
	}
	if len(p.Paddings) != 0 && len(p.Paddings) != d {
		return fmt.Errorf("%w: conv paddings has %d values for %d spatial axes", ErrInvalidArgument, len(p.Paddings), d)
	}
	if p.Batch < 0 || p.InChannels < 0 || p.OutChannels < 0 {
		return fmt.Errorf("%w: negative conv dimension", ErrInvalidArgument)
	}
	for i := 0; i < d; i++ {
		var pad [2]int
		if len(p.Paddings) > 0 {
			pad = p.Paddings[i]
		}
		in := (p.InSpatial[i]-1)*axisOr(p.InputDilations, i, 1) + 1
		if p.InSpatial[i] == 0 {
			in = 0
		}
		k := (p.KernelSpatial[i]-1)*axisOr(p.KernelDilations, i, 1) + 1
		want := (in+pad[0]+pad[1]-k)/axisOr(p.Strides, i, 1) + 1
		if in+pad[0]+pad[1]-k < 0 {
			want = 0
		}
		if want != p.OutSpatial[i] {
			return fmt.Errorf("%w: conv output spatial axis %d is %d, parameters imply %d",
				ErrInvalidArgument, i, p.OutSpatial[i], want)
		}
	}
	return nil
}

// smallChannels is the input-channel count below which a convolution gathers
// its (short) patches into packed panels instead of running the indirect
// kernel, whose per-tap pointer loads would dominate.
const smallChannels = 8

// Conv computes the convolution described by p, overwriting output.
func (e *Engine) Conv(p ConvParams, input, kernel, output []float32) error {
	return e.ConvEpilogue(p, input, kernel, output, nil)
}

// An Epilogue post-processes output rows [r0, r1) of a convolution (row r is
// output pixel r: OutChannels consecutive floats) as soon as they are final,
// while they are still in cache: the backend runs the batch norm, residual
// addition and ReLU that follow a convolution there instead of in separate
// passes over memory. It is called from the convolution's worker goroutines,
// concurrently for disjoint row ranges, each row exactly once.
type Epilogue func(r0, r1 int)

// ConvEpilogue is Conv followed by epi over every output row (nil: none).
func (e *Engine) ConvEpilogue(p ConvParams, input, kernel, output []float32, epi Epilogue) error {
	if err := p.Validate(); err != nil {
		return err
	}
	ci, co := p.InChannels, p.OutChannels
	taps := prod(p.KernelSpatial)
	inPixels := prod(p.InSpatial)
	m := p.Batch * prod(p.OutSpatial)
	k := taps * ci
	if len(input) < p.Batch*inPixels*ci || len(kernel) < k*co || len(output) < m*co {
		return fmt.Errorf("%w: conv buffers too short: input %d (need %d), kernel %d (need %d), output %d (need %d)",
			ErrInvalidArgument, len(input), p.Batch*inPixels*ci, len(kernel), k*co, len(output), m*co)
	}
	if m == 0 || co == 0 {
		return nil
	}
	if k == 0 {
		clear(output[:m*co])
		if epi != nil {
			epi(0, m)
		}
		return nil
	}
	if winogradOK(&p) && !e.noWinograd {
		e.convWinograd(&p, input, kernel, output, epi)
		return nil
	}
	if phases := inputDilationPhases(&p); phases != nil {
		if err := e.convPhases(&p, phases, input, kernel, output); err != nil {
			return err
		}
		if epi != nil {
			// The rows are final only once every phase is in: the epilogue
			// runs after them, image by image, split between workers.
			images, rows := p.Batch, m/p.Batch
			w := e.workersFor(float64(m*co)*16, images)
			parallel(w, images, 2*w, func(n0, n1 int) { epi(n0*rows, n1*rows) })
		}
		return nil
	}
	g := newConvGeometry(&p)

	// Pack the whole kernel (a k×co matrix) once into NR-column panels.
	s := e.getScratch()
	defer e.putScratch(s)
	nPanels := (co + NR - 1) / NR
	s.bPack = grow(s.bPack, k*nPanels*NR)
	packed := s.bPack
	kmat := matrix{data: kernel, rs: co, cs: 1}
	pw := 1
	if k*co >= 1<<16 {
		pw = min(e.Workers(), nPanels) // Kernel-gradient convolutions pack megabytes.
	}
	parallel(pw, nPanels, pw, func(lo, hi int) {
		packB(packed[lo*k*NR:], kmat, 0, k, lo*NR, min(hi*NR, co)-lo*NR)
	})
	s.zeros = grow(s.zeros, max(ci, 1))
	clear(s.zeros)
	zero := unsafe.Pointer(&s.zeros[0])

	// Taps per K block, balanced so every block has about the same depth.
	tpb := max(1, KC/max(ci, 1))
	nb := (taps + tpb - 1) / tpb
	tpb = (taps + nb - 1) / nb

	mTiles := (m + MR - 1) / MR
	flops := 2 * float64(m) * float64(k) * float64(co)
	w := e.workersFor(flops, mTiles)
	// Eight pieces per worker (pieces only share the packed kernel).
	parallel(w, mTiles, 8*w, func(lo, hi int) {
		ws := s
		if w > 1 {
			ws = e.getScratch()
			defer e.putScratch(ws)
		}
		e.convRange(g, input, packed, output, zero, tpb, lo*MR, min(hi*MR, m), ws, epi)
	})
	return nil
}

// convGeometry holds the per-axis index arithmetic of a convolution.
type convGeometry struct {
	p          *ConvParams
	d          int
	ci, co     int
	taps       int
	inPixels   int
	outSpatial []int
	inSpatial  []int
	stride     []int
	padLow     []int
	inDil      []int
	tapOffsets [][]int // tapOffsets[t][axis] = k_axis · kernelDilation_axis
	tapDY      []int   // For 2-D: tapOffsets[t][0] and [1] as flat slices.
	tapDX      []int
	inStrides  []int // row-major pixel strides of the input spatial axes.
	dilated    bool
}

func newConvGeometry(p *ConvParams) *convGeometry {
	d := len(p.InSpatial)
	g := &convGeometry{
		p: p, d: d, ci: p.InChannels, co: p.OutChannels,
		taps: prod(p.KernelSpatial), inPixels: prod(p.InSpatial),
		outSpatial: p.OutSpatial, inSpatial: p.InSpatial,
		stride: make([]int, d), padLow: make([]int, d), inDil: make([]int, d),
		inStrides: make([]int, d),
	}
	st := 1
	for i := d - 1; i >= 0; i-- {
		g.inStrides[i] = st
		st *= p.InSpatial[i]
		g.stride[i] = axisOr(p.Strides, i, 1)
		g.inDil[i] = axisOr(p.InputDilations, i, 1)
		if g.inDil[i] != 1 {
			g.dilated = true
		}
		if len(p.Paddings) > 0 {
			g.padLow[i] = p.Paddings[i][0]
		}
	}
	g.tapOffsets = make([][]int, g.taps)
	kidx := make([]int, d)
	for t := 0; t < g.taps; t++ {
		off := make([]int, d)
		for i := 0; i < d; i++ {
			off[i] = kidx[i] * axisOr(p.KernelDilations, i, 1)
		}
		g.tapOffsets[t] = off
		if d == 2 {
			g.tapDY = append(g.tapDY, off[0])
			g.tapDX = append(g.tapDX, off[1])
		}
		for i := d - 1; i >= 0; i-- {
			kidx[i]++
			if kidx[i] < p.KernelSpatial[i] {
				break
			}
			kidx[i] = 0
		}
	}
	return g
}

// rowPointers fills dst[t*MR+i] (t < nt) with the input channel vectors that
// output row r0+i reads at tap t0+t, or zero for padding and rows ≥ m.
func (g *convGeometry) rowPointers(dst []unsafe.Pointer, input []float32, zero unsafe.Pointer,
	r0, m, t0, nt int, base []int) {
	if g.d == 2 && !g.dilated {
		g.rowPointers2D(dst, input, zero, r0, m, t0, nt)
		return
	}
	for i := 0; i < MR; i++ {
		r := r0 + i
		if r >= m {
			for t := 0; t < nt; t++ {
				dst[t*MR+i] = zero
			}
			continue
		}
		// Decode r into (n, o...) and the window origin of each axis.
		rest := r
		for a := g.d - 1; a >= 0; a-- {
			o := rest % g.outSpatial[a]
			rest /= g.outSpatial[a]
			base[a] = o*g.stride[a] - g.padLow[a]
		}
		pixel0 := rest * g.inPixels
		for t := 0; t < nt; t++ {
			off := g.tapOffsets[t0+t]
			pix := pixel0
			ok := true
			for a := 0; a < g.d; a++ {
				q := base[a] + off[a]
				if g.dilated {
					if q < 0 || q%g.inDil[a] != 0 {
						ok = false
						break
					}
					q /= g.inDil[a]
				}
				if q < 0 || q >= g.inSpatial[a] {
					ok = false
					break
				}
				pix += q * g.inStrides[a]
			}
			if ok {
				dst[t*MR+i] = unsafe.Pointer(&input[pix*g.ci])
			} else {
				dst[t*MR+i] = zero
			}
		}
	}
}

// rowPointers2D is rowPointers for the common 2-D case without input dilation.
func (g *convGeometry) rowPointers2D(dst []unsafe.Pointer, input []float32, zero unsafe.Pointer, r0, m, t0, nt int) {
	h, w := g.inSpatial[0], g.inSpatial[1]
	oh, ow := g.outSpatial[0], g.outSpatial[1]
	rowBytes := uintptr(g.ci) * 4
	in := unsafe.Pointer(unsafe.SliceData(input))
	taps := g.tapOffsets[t0 : t0+nt]
	// Decode r0 once, then step through the tile's pixels.
	ox := r0 % ow
	oy := (r0 / ow) % oh
	pix0 := (r0 / (ow * oh)) * h * w
	for i := 0; i < MR; i++ {
		if r0+i >= m {
			for t := 0; t < nt; t++ {
				dst[t*MR+i] = zero
			}
			continue
		}
		iy0 := oy*g.stride[0] - g.padLow[0]
		ix0 := ox*g.stride[1] - g.padLow[1]
		for t, off := range taps {
			iy, ix := iy0+off[0], ix0+off[1]
			if uint(iy) < uint(h) && uint(ix) < uint(w) {
				dst[t*MR+i] = unsafe.Add(in, uintptr(pix0+iy*w+ix)*rowBytes)
			} else {
				dst[t*MR+i] = zero
			}
		}
		if ox++; ox == ow {
			ox = 0
			if oy++; oy == oh {
				oy = 0
				pix0 += h * w
			}
		}
	}
}

// gather2D packs the A panel of a tile directly (panel[(t·ci+c)·MR+i] is
// channel c of the input pixel that row r0+i reads at tap t0+t, or 0) for the
// 2-D undilated case with few channels, where building pointers first would
// cost more than the multiply-adds (the 1-channel stem has 9 per pixel).
func (g *convGeometry) gather2D(panel, input []float32, r0, m, t0, nt int) {
	h, w := g.inSpatial[0], g.inSpatial[1]
	oh, ow := g.outSpatial[0], g.outSpatial[1]
	ci := g.ci
	taps := g.tapOffsets[t0 : t0+nt]
	ox := r0 % ow
	oy := (r0 / ow) % oh
	pix0 := (r0 / (ow * oh)) * h * w
	for i := 0; i < MR; i++ {
		if r0+i >= m {
			for k := 0; k < nt*ci; k++ {
				panel[k*MR+i] = 0
			}
			continue
		}
		iy0 := oy*g.stride[0] - g.padLow[0]
		ix0 := ox*g.stride[1] - g.padLow[1]
		if ci == 1 {
			dy, dx := g.tapDY[t0:t0+nt], g.tapDX[t0:t0+nt]
			p := panel[i:]
			for t := range dy {
				iy, ix := iy0+dy[t], ix0+dx[t]
				var v float32
				if uint(iy) < uint(h) && uint(ix) < uint(w) {
					v = input[pix0+iy*w+ix]
				}
				p[t*MR] = v
			}
		} else {
			g.gatherRow(panel, input, i, iy0, ix0, pix0, taps)
		}
		if ox++; ox == ow {
			ox = 0
			if oy++; oy == oh {
				oy = 0
				pix0 += h * w
			}
		}
	}
}

// gatherRow packs row i of a tile for gather2D when ci > 1.
func (g *convGeometry) gatherRow(panel, input []float32, i, iy0, ix0, pix0 int, taps [][]int) {
	h, w, ci := g.inSpatial[0], g.inSpatial[1], g.ci
	{
		for t, off := range taps {
			iy, ix := iy0+off[0], ix0+off[1]
			base := t*ci*MR + i
			if uint(iy) < uint(h) && uint(ix) < uint(w) {
				src := input[(pix0+iy*w+ix)*ci:][:ci]
				for c, v := range src {
					panel[base+c*MR] = v
				}
			} else {
				for c := 0; c < ci; c++ {
					panel[base+c*MR] = 0
				}
			}
		}
	}
}

// convRange computes output rows [r0, r1) (r0 a multiple of MR), running epi
// (when set) over each block of MC rows once it is final.
func (e *Engine) convRange(g *convGeometry, input, packed, output []float32, zero unsafe.Pointer,
	tpb, r0, r1 int, s *scratch, epi Epilogue) {
	ci, co, k := g.ci, g.co, g.taps*g.ci
	m := r1 // rows ≥ r1 belong to other workers: treat them as absent.
	base := make([]int, g.d)
	gather := ci < smallChannels
	maxTiles := (MC + MR - 1) / MR
	if cap(s.ptrs) < maxTiles*tpb*MR {
		s.ptrs = make([]unsafe.Pointer, maxTiles*tpb*MR)
	}
	ptrs := s.ptrs[:maxTiles*tpb*MR]
	if gather {
		s.aPack = grow(s.aPack, maxTiles*MR*tpb*ci)
	}
	for ic := r0; ic < r1; ic += MC {
		mc := min(MC, r1-ic)
		tiles := (mc + MR - 1) / MR
		for t0 := 0; t0 < g.taps; t0 += tpb {
			nt := min(tpb, g.taps-t0)
			kc := nt * ci
			beta := float32(0)
			if t0 > 0 {
				beta = 1
			}
			for ti := 0; ti < tiles; ti++ {
				if gather && g.d == 2 && !g.dilated {
					g.gather2D(s.aPack[ti*kc*MR:(ti+1)*kc*MR], input, ic+ti*MR, m, t0, nt)
					continue
				}
				tp := ptrs[ti*nt*MR : (ti+1)*nt*MR]
				g.rowPointers(tp, input, zero, ic+ti*MR, m, t0, nt, base)
				if gather {
					panel := s.aPack[ti*kc*MR : (ti+1)*kc*MR]
					for t := 0; t < nt; t++ {
						for i := 0; i < MR; i++ {
							src := tp[t*MR+i]
							for c := 0; c < ci; c++ {
								panel[(t*ci+c)*MR+i] = *(*float32)(unsafe.Add(src, 4*c))
							}
						}
					}
				}
			}
			for jr := 0; jr < co; jr += NR {
				nw := min(NR, co-jr)
				bp := &packed[(jr/NR)*k*NR+t0*ci*NR]
				for ti := 0; ti < tiles; ti++ {
					rr := ic + ti*MR
					mh := min(MR, m-rr)
					cOff := rr*co + jr
					full := mh == MR && nw == NR
					c, ldc, b := &s.tile[0], NR, float32(0)
					if full {
						c, ldc, b = &output[cOff], co, beta
					}
					if gather {
						e.kernel(kc, &s.aPack[ti*kc*MR], 1, MR, bp, c, ldc, 1, b)
					} else {
						e.kernelIndirect(nt, ptrs[ti*nt*MR:(ti+1)*nt*MR], ci, bp, c, ldc, 1, b)
					}
					if !full {
						mergeTile(&s.tile, output[cOff:], co, mh, nw, beta)
					}
				}
			}
		}
		if epi != nil {
			epi(ic, ic+mc)
		}
	}
}

// Input-dilated convolutions (GoMLX's gradient with respect to the input of
// a strided convolution) read the input at every d-th position of the
// dilated grid: in a tile of consecutive output pixels, 1 − 1/d of the taps
// of each pixel hit a hole. Split by the output position modulo d on each
// dilated axis (a "phase"), every phase is an ordinary convolution with a
// sub-kernel (the taps that hit input pixels for that phase) and no holes;
// the phases are computed separately and interleaved into the output. This
// does the useful multiply-adds only: 4× fewer for a 3×3 stride-2 gradient.

// convPhase is one phase: output positions o = first + d·t, t < count, per
// axis, computed as an undilated convolution with kernel taps
// k = firstTap + d·j, j < taps.
type convPhase struct {
	first, count []int // Output positions per axis.
	firstTap     []int // Kernel taps per axis.
	taps         []int
	padLow       []int // Padding of the phase convolution.
}

// inputDilationPhases returns the phases of an input-dilated convolution
// with unit strides and no kernel dilation on the dilated axes, or nil when
// the convolution has no input dilation or does not fit that form.
func inputDilationPhases(p *ConvParams) [][]convPhase {
	if len(p.InputDilations) == 0 {
		return nil
	}
	dilated := false
	d := len(p.InSpatial)
	perAxis := make([][]convPhase, d)
	for a := 0; a < d; a++ {
		dil := p.InputDilations[a]
		if dil > 1 {
			dilated = true
		}
		if axisOr(p.Strides, a, 1) != 1 || (dil > 1 && axisOr(p.KernelDilations, a, 1) != 1) {
			return nil
		}
		var padLow int
		if len(p.Paddings) > 0 {
			padLow = p.Paddings[a][0]
		}
		kd := axisOr(p.KernelDilations, a, 1)
		out, ks := p.OutSpatial[a], p.KernelSpatial[a]
		for r := 0; r < dil && r < out; r++ { // Phase: outputs o ≡ r (mod dil).
			ph := convPhase{first: []int{r}, count: []int{(out - r + dil - 1) / dil}}
			// Taps k with (r − padLow + k·kd) ≡ 0 (mod dil); kd is 1 when dil > 1.
			k0 := -1
			for k := 0; k < ks && k < dil; k++ {
				if q := r - padLow + k*kd; ((q%dil)+dil)%dil == 0 {
					k0 = k
					break
				}
			}
			if k0 < 0 {
				ph.firstTap, ph.taps = []int{0}, []int{0}
			} else {
				ph.firstTap = []int{k0}
				ph.taps = []int{(ks - k0 + dil - 1) / dil}
				if dil == 1 {
					ph.taps = []int{ks}
				}
			}
			// Input index for t and tap j: (r − padLow + k0·kd)/dil + t + j·(kd or 1).
			base := r - padLow + max(k0, 0)*kd
			ph.padLow = []int{-floorDiv(base, dil)}
			perAxis[a] = append(perAxis[a], ph)
		}
	}
	if !dilated {
		return nil
	}
	// Cartesian product of the per-axis phases.
	phases := [][]convPhase{{}}
	for a := 0; a < d; a++ {
		var next [][]convPhase
		for _, prefix := range phases {
			for _, ph := range perAxis[a] {
				next = append(next, append(append([]convPhase(nil), prefix...), ph))
			}
		}
		phases = next
	}
	return phases
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// convPhases computes an input-dilated convolution phase by phase.
func (e *Engine) convPhases(p *ConvParams, phases [][]convPhase, input, kernel, output []float32) error {
	d := len(p.InSpatial)
	ci, co := p.InChannels, p.OutChannels
	outStrides := make([]int, d) // Pixel strides of the output's spatial axes.
	st := 1
	for a := d - 1; a >= 0; a-- {
		outStrides[a] = st
		st *= p.OutSpatial[a]
	}
	outPixels := st
	kStrides := make([]int, d)
	st = 1
	for a := d - 1; a >= 0; a-- {
		kStrides[a] = st
		st *= p.KernelSpatial[a]
	}
	for _, ph := range phases {
		sub := ConvParams{Batch: p.Batch, InChannels: ci, OutChannels: co, InSpatial: p.InSpatial,
			KernelSpatial: make([]int, d), OutSpatial: make([]int, d), Paddings: make([][2]int, d),
			KernelDilations: p.KernelDilations}
		empty := false
		for a := 0; a < d; a++ {
			sub.KernelSpatial[a] = ph[a].taps[0]
			sub.OutSpatial[a] = ph[a].count[0]
			lo := ph[a].padLow[0]
			kEff := (ph[a].taps[0]-1)*axisOr(p.KernelDilations, a, 1) + 1
			// High padding so that the phase's output count comes out exactly.
			sub.Paddings[a] = [2]int{lo, ph[a].count[0] - 1 + kEff - p.InSpatial[a] - lo}
			if ph[a].taps[0] == 0 || ph[a].count[0] == 0 {
				empty = true
			}
		}
		subPixels := prod(sub.OutSpatial)
		if subPixels == 0 {
			continue
		}
		s := e.getScratch()
		s.aTail = grow(s.aTail, p.Batch*subPixels*co) // Phase output.
		phaseOut := s.aTail
		if empty {
			clear(phaseOut)
		} else {
			// Gather the phase's sub-kernel [taps…, ci, co].
			subTaps := prod(sub.KernelSpatial)
			s.aPack = grow(s.aPack, subTaps*ci*co)
			subKernel := s.aPack
			idx := make([]int, d)
			for t := 0; t < subTaps; t++ {
				src := 0
				for a := 0; a < d; a++ {
					dil := axisOr(p.InputDilations, a, 1)
					src += (ph[a].firstTap[0] + idx[a]*dil) * kStrides[a]
				}
				copy(subKernel[t*ci*co:(t+1)*ci*co], kernel[src*ci*co:(src+1)*ci*co])
				for a := d - 1; a >= 0; a-- {
					idx[a]++
					if idx[a] < sub.KernelSpatial[a] {
						break
					}
					idx[a] = 0
				}
			}
			if err := e.Conv(sub, input, subKernel, phaseOut); err != nil {
				e.putScratch(s)
				return fmt.Errorf("input-dilated conv phase: %w", err)
			}
		}
		// Interleave: phase pixel (n, t…) goes to output pixel (n, first + dil·t …).
		idx := make([]int, d)
		for n := 0; n < p.Batch; n++ {
			for q := 0; q < subPixels; q++ {
				dst := n * outPixels
				for a := 0; a < d; a++ {
					dst += (ph[a].first[0] + idx[a]*axisOr(p.InputDilations, a, 1)) * outStrides[a]
				}
				src := (n*subPixels + q) * co
				copy(output[dst*co:(dst+1)*co], phaseOut[src:src+co])
				for a := d - 1; a >= 0; a-- {
					idx[a]++
					if idx[a] < sub.OutSpatial[a] {
						break
					}
					idx[a] = 0
				}
			}
		}
		e.putScratch(s)
	}
	return nil
}
