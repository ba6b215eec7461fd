package gemm

import (
	"fmt"
	"unsafe"
)

// ConvKernelGrad computes the gradient of a 2-D channels-last convolution with
// respect to its kernel. p describes the forward convolution (input
// [Batch, H, W, InChannels], kernel [KH, KW, InChannels, OutChannels], output
// [Batch, OH, OW, OutChannels]; no input dilation); outGrad has the output's
// shape and kgrad, overwritten, the kernel's:
//
//	kgrad[ky, kx, ci, co] = Σ_{n, y, x} input[n, y·sy + ky·dy − padY, x·sx + kx·dx − padX, ci] · outGrad[n, y, x, co]
//
// (terms outside the input are zero). 3×3 stride-1 convolutions with at
// least 32 input channels run by Winograd F(4×4, 3×3) where the assembly
// does (convgrad_winograd.go). Other stride-1 convolutions whose output
// has the input's spatial size read the input in place as the product's
// first operand (convgrad_inplace.go). Otherwise it is one product of the transposed
// output gradient (Co × P, P = Batch·OH·OW pixels, read in place) by the
// im2col matrix of the input (P × KH·KW·Ci), whose 16-column panels are
// gathered straight from the input, so neither operand is transposed into
// scratch and the reduction over pixels runs in deep K blocks. Workers split
// the columns (the result is the same for any number of workers), or, where
// the input is large against the result, ranges of pixels summed in a fixed
// order (the result depends on the number of workers only).
func (e *Engine) ConvKernelGrad(p ConvParams, input, outGrad, kgrad []float32) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if len(p.InSpatial) != 2 {
		return fmt.Errorf("%w: ConvKernelGrad takes 2 spatial axes, got %d", ErrInvalidArgument, len(p.InSpatial))
	}
	for _, d := range p.InputDilations {
		if d != 1 {
			return fmt.Errorf("%w: ConvKernelGrad does not take input dilations %v", ErrInvalidArgument, p.InputDilations)
		}
	}
	g := kgGeometryOf(&p)
	pixels := g.n * g.oh * g.ow
	cols := g.kh * g.kw * g.ci
	if len(input) < g.n*g.h*g.w*g.ci || len(outGrad) < pixels*g.co || len(kgrad) < cols*g.co {
		return fmt.Errorf("%w: ConvKernelGrad buffers too short: input %d (need %d), output gradient %d (need %d), kernel gradient %d (need %d)",
			ErrInvalidArgument, len(input), g.n*g.h*g.w*g.ci, len(outGrad), pixels*g.co, len(kgrad), cols*g.co)
	}
	if cols == 0 || g.co == 0 {
		return nil
	}
	kg := kgrad[:cols*g.co]
	if pixels == 0 {
		clear(kg)
		return nil
	}
	if !e.kgGather && e.kgWinogradOK(&p) {
		e.kgWinograd(&g, input, outGrad, kg)
		if allFinite(kg) {
			return nil
		}
		// Some element is ±Inf or NaN: the transforms mix every value of a
		// tile, so recompute it in the general form (below).
	} else if !e.kgGather && g.kgInPlaceOK() {
		e.kgInPlace(&g, input, outGrad, kg)
		if allFinite(kg) {
			return nil
		}
		// Some element is ±Inf or NaN: recompute it in the general form,
		// which never multiplies a value the definition leaves out
		// (convgrad_inplace.go).
	}
	flops := 2 * float64(pixels) * float64(cols) * float64(g.co)
	nPanels := (cols + NR - 1) / NR
	w := e.workersFor(flops, nPanels)
	// acc is the product's natural Co × cols layout.
	acc := make([]float32, g.co*cols)
	// The output gradient, transposed into 6-row panels per K block: each k
	// step of the micro-kernel then reads six contiguous floats instead of
	// one cache line of a strided row.
	mPanels := (g.co + MR - 1) / MR
	packed := make([]float32, mPanels*MR*pixels)
	if w > 1 && !e.kgUnits && kgSplitPixels(len(acc), g.n*g.h*g.w*g.ci, pixels, w) {
		e.kgGatherSplitPixels(&g, input, outGrad, packed, acc, w)
	} else {
		// Workers take ranges of 16-column panels in turn, each reducing over
		// all pixels in the same order, so the result does not depend on the
		// number of workers or on who ran what. The output gradient is packed
		// once for all of them.
		nb := (pixels + KC - 1) / KC
		kBlock := (pixels + nb - 1) / nb
		parallel(e.workersFor(float64(len(packed))*64, nb), nb, 2*w, func(lo, hi int) {
			for b := lo; b < hi; b++ {
				pc := b * kBlock
				packGradA(packed[pc*mPanels*MR:], outGrad, g.co, pc, min(kBlock, pixels-pc))
			}
		})
		parallel(w, nPanels, 4*w, func(lo, hi int) {
			e.kgRange(&g, input, packed, acc, kBlock, lo*NR, min(hi*NR, cols), 0, pixels)
		})
	}
	// kgrad[c, co] = acc[co, c]: transposed in blocks that stay in cache.
	const tb = 32
	for c0 := 0; c0 < cols; c0 += tb {
		for o0 := 0; o0 < g.co; o0 += tb {
			for c := c0; c < min(c0+tb, cols); c++ {
				row := kg[c*g.co:]
				for o := o0; o < min(o0+tb, g.co); o++ {
					row[o] = acc[o*cols+c]
				}
			}
		}
	}
	return nil
}

// kgGeometry is a 2-D forward convolution's shape, as ConvKernelGrad reads it.
type kgGeometry struct {
	n, h, w, ci, co int
	kh, kw, oh, ow  int
	sy, sx, dy, dx  int
	padY, padX      int
}

// kgGeometryOf reads the geometry of a validated 2-D convolution without
// input dilation.
func kgGeometryOf(p *ConvParams) kgGeometry {
	g := kgGeometry{
		n: p.Batch, h: p.InSpatial[0], w: p.InSpatial[1], ci: p.InChannels, co: p.OutChannels,
		kh: p.KernelSpatial[0], kw: p.KernelSpatial[1], oh: p.OutSpatial[0], ow: p.OutSpatial[1],
		sy: axisOr(p.Strides, 0, 1), sx: axisOr(p.Strides, 1, 1),
		dy: axisOr(p.KernelDilations, 0, 1), dx: axisOr(p.KernelDilations, 1, 1),
	}
	if len(p.Paddings) > 0 {
		g.padY, g.padX = p.Paddings[0][0], p.Paddings[1][0]
	}
	return g
}

// kgGatherSplitPixels is the general form split by pixel ranges over w
// workers, as kgInPlaceSplitPixels: each range packs its own pixels of the
// output gradient into packed and reduces them into its own copy of the
// result (the first into acc, overwritten), and the copies are summed in
// range order.
func (e *Engine) kgGatherSplitPixels(g *kgGeometry, input, outGrad, packed, acc []float32, w int) {
	cols := g.kh * g.kw * g.ci
	mPanels := (g.co + MR - 1) / MR
	e.splitPixels(g.n*g.oh*g.ow, w, acc, func(dst []float32, kBlock, q0, q1 int) {
		for pc := q0; pc < q1; pc += kBlock {
			packGradA(packed[pc*mPanels*MR:], outGrad, g.co, pc, min(kBlock, q1-pc))
		}
		e.kgRange(g, input, packed, dst, kBlock, 0, cols, q0, q1)
	})
}

// splitPixels runs reduce over w contiguous ranges [q0, q1) of pixels, each a
// whole number of balanced K blocks of kBlock pixels, in parallel: range 0
// writes acc itself, the others a private accumulator of acc's size; reduce
// must overwrite its dst. The private results are then added to acc in range
// order, so the result depends on w only, not on who ran what.
func (e *Engine) splitPixels(pixels, w int, acc []float32, reduce func(dst []float32, kBlock, q0, q1 int)) {
	nb := max((pixels+KC-1)/KC, w)
	kBlock := (pixels + nb - 1) / nb
	nb = (pixels + kBlock - 1) / kBlock
	accs := make([]*scratch, w)
	parallel(w, w, w, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			dst := acc
			if r > 0 {
				accs[r] = e.getScratch()
				accs[r].kgAcc = grow(accs[r].kgAcc, len(acc))
				dst = accs[r].kgAcc
			}
			reduce(dst, kBlock, min(pixels, nb*r/w*kBlock), min(pixels, nb*(r+1)/w*kBlock))
		}
	})
	e.sumRanges(acc, accs[1:])
	for _, s := range accs[1:] {
		e.putScratch(s)
	}
}

// sumRanges adds to dst the private accumulators of the other pixel ranges,
// in range order (element by element, so the split of this sum between
// workers does not change it).
func (e *Engine) sumRanges(dst []float32, others []*scratch) {
	if len(others) == 0 {
		return
	}
	w := e.workersFor(float64(len(dst)*len(others))*32, len(dst)/(4*NR))
	parallel(w, len(dst), w, func(lo, hi int) {
		d := dst[lo:hi]
		for _, s := range others {
			e.vadd(d, d, s.kgAcc[lo:hi])
		}
	})
}

// kgRange computes columns [j0, j1) (a whole number of 16-column panels, or
// up to the end) of acc (Co × KH·KW·Ci, overwritten), reducing over the
// output pixels [lo, hi) in K blocks of kBlock pixels from lo.
func (e *Engine) kgRange(g *kgGeometry, input, packed, acc []float32, kBlock, j0, j1, lo, hi int) {
	if lo >= hi {
		for ir := range g.co {
			clear(acc[ir*g.kh*g.kw*g.ci+j0 : ir*g.kh*g.kw*g.ci+j1])
		}
		return
	}
	s := e.getScratch()
	defer e.putScratch(s)
	cols := g.kh * g.kw * g.ci
	s.bPack = grow(s.bPack, kBlock*NR)
	mPanels := (g.co + MR - 1) / MR
	// Per pixel of the block: its input row and column origin and its image's offset.
	pos := make([]int32, 3*kBlock)
	for pc := lo; pc < hi; pc += kBlock {
		kc := min(kBlock, hi-pc)
		for q := range kc {
			pix := pc + q
			x := pix % g.ow
			y := (pix / g.ow) % g.oh
			n := pix / (g.ow * g.oh)
			pos[3*q] = int32(y*g.sy - g.padY)
			pos[3*q+1] = int32(x*g.sx - g.padX)
			pos[3*q+2] = int32(n * g.h * g.w)
		}
		beta := float32(1)
		if pc == lo {
			beta = 0
		}
		aBlock := packed[pc*mPanels*MR:]
		for jp := j0; jp < j1; jp += NR {
			nw := min(NR, cols-jp)
			g.gatherPanel(s.bPack, input, pos[:3*kc], jp, nw)
			bp := &s.bPack[0]
			for ir := 0; ir < g.co; ir += MR {
				mh := min(MR, g.co-ir)
				cOff := ir*cols + jp
				ap := &aBlock[(ir/MR)*kc*MR]
				if mh == MR && nw == NR {
					e.kernel(kc, ap, 1, MR, bp, &acc[cOff], cols, 1, beta)
					continue
				}
				e.kernel(kc, ap, 1, MR, bp, &s.tile[0], NR, 1, 0)
				mergeTile(&s.tile, acc[cOff:], cols, mh, nw, beta)
			}
		}
	}
}

// gatherPanel writes the im2col columns [j0, j0+nw) of the pixels described by
// pos (row origin, column origin, image offset per pixel) into panel, one row of
// NR floats per pixel, zero outside the input and beyond nw. Column j is tap
// j / Ci (row-major over KH×KW), channel j % Ci.
func (g *kgGeometry) gatherPanel(panel, input []float32, pos []int32, j0, nw int) {
	kc := len(pos) / 3
	t, c0 := j0/g.ci, j0%g.ci
	if nw == NR && c0+NR <= g.ci {
		// One tap, 16 consecutive channels: one 64-byte copy per pixel.
		ky, kx := t/g.kw, t%g.kw
		oy, ox := ky*g.dy, kx*g.dx
		for q := range kc {
			row := panel[q*NR : q*NR+NR]
			iy, ix := int(pos[3*q])+oy, int(pos[3*q+1])+ox
			if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
				clear(row)
				continue
			}
			src := (int(pos[3*q+2])+iy*g.w+ix)*g.ci + c0
			d := (*[NR / 2]uint64)(unsafe.Pointer(&row[0]))
			v := (*[NR / 2]uint64)(unsafe.Pointer(&input[src : src+NR][0]))
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
		}
		return
	}
	// Per column: its tap's row and column offsets and its channel, computed
	// once for the panel instead of per element.
	var oy, ox, ch [NR]int
	for j := range nw {
		tap := (j0 + j) / g.ci
		oy[j], ox[j], ch[j] = (tap/g.kw)*g.dy, (tap%g.kw)*g.dx, (j0+j)%g.ci
	}
	for q := range kc {
		row := panel[q*NR : q*NR+NR]
		clear(row)
		py, px, base := int(pos[3*q]), int(pos[3*q+1]), int(pos[3*q+2])
		for j := range nw {
			iy, ix := py+oy[j], px+ox[j]
			if uint(iy) >= uint(g.h) || uint(ix) >= uint(g.w) {
				continue
			}
			row[j] = input[(base+iy*g.w+ix)*g.ci+ch[j]]
		}
	}
}

// packGradA writes pixels [p0, p0+kc) of the output gradient (pixels × co,
// row-major) as A = its transpose in zero-padded panels of MR rows:
// dst[panel][p][0:MR] = outGrad[(p0+p)·co + panel·MR + 0:MR].
func packGradA(dst, outGrad []float32, co, p0, kc int) {
	full := co / MR
	for p := range kc {
		src := outGrad[(p0+p)*co : (p0+p+1)*co]
		// Row p of the block goes to row p of every panel: the source is read
		// once, sequentially.
		for ip := range full {
			d := dst[ip*kc*MR+p*MR : ip*kc*MR+p*MR+MR]
			sv := src[ip*MR : ip*MR+MR]
			d[0], d[1], d[2], d[3], d[4], d[5] = sv[0], sv[1], sv[2], sv[3], sv[4], sv[5]
		}
		if h := co - full*MR; h > 0 {
			d := dst[full*kc*MR+p*MR : full*kc*MR+p*MR+MR]
			copy(d, src[full*MR:])
			clear(d[h:])
		}
	}
}
