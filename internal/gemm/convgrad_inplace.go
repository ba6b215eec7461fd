package gemm

import "unsafe"

// The in-place form of ConvKernelGrad, for stride-1 convolutions whose output
// has the input's spatial size ("same" padding: 3×3 with padding 1, 1×1
// without, the head's 1×1 "linear" layers).
//
// There, output pixel p (its index in the batch, n·H·W + y·W + x) reads, for
// tap t = (ky, kx), the input pixel p + off_t with off_t = (ky·dy − padY)·W +
// kx·dx − padX, whenever that tap of p falls inside the image. So the kernel
// gradient is the product
//
//	kgrad[(t, ci), co] = Σ_p input[(p + off_t)·Ci + ci] · outGrad[p·Co + co]
//
// of a matrix A whose rows (t, ci) are the input itself, shifted by off_t and
// read in place with a stride of Ci floats per pixel (six consecutive
// channels form one tile of the micro-kernel: no gather), by B = the output
// gradient packed into 16-column panels per K block of pixels. The result
// comes out in kgrad's own layout. Pixels whose tap falls outside the image
// (a border row or column; the address then points at a neighbouring row or
// image) are excluded by zeroing their rows of B while that tap runs and
// packing them again afterwards: a few rows per block. Runs are clamped so
// that nothing outside the input is read.
//
// A zeroed row multiplies a value of the input that the definition does not
// use; if that value is ±Inf or NaN the product is NaN where the definition
// has no term. ConvKernelGrad therefore checks the result and recomputes it
// in the general form when any element is not finite (which the exact result
// then usually is too: it costs a second pass only on non-finite data).

// kgInPlaceOK reports whether the in-place form applies to g.
func (g *kgGeometry) kgInPlaceOK() bool {
	return g.sy == 1 && g.sx == 1 && g.oh == g.h && g.ow == g.w
}

// kgInPlace computes kg (KH·KW·Ci × Co, overwritten) by the in-place form.
//
// Several workers split the pixels (the reduction) when the input is large
// against the result: worker ranges of whole K blocks, each accumulated into
// its own copy of the result (the first into kg), then summed in range order.
// Each range packs only its own pixels of the output gradient and every
// worker streams only its part of the input, where a split by tiles of the
// result has every worker stream the whole input. The result depends on the
// number of ranges (the number of workers), never on which worker ran which.
// Otherwise (few pixels, a large result: the 128-channel layers) workers
// split the tiles (16-column panel, tap, 6-channel group) of the result,
// panel by panel, each reducing over all pixels in the same order, so the
// result does not depend on their number; a worker packs only the panels of
// the output gradient its tiles read.
func (e *Engine) kgInPlace(g *kgGeometry, input, outGrad, kg []float32) {
	pixels := g.n * g.h * g.w
	taps := g.kh * g.kw
	groups := (g.ci + MR - 1) / MR
	nPan := (g.co + NR - 1) / NR
	units := nPan * taps * groups
	nb := (pixels + KC - 1) / KC
	kBlock := (pixels + nb - 1) / nb
	flops := 2 * float64(pixels) * float64(taps*g.ci) * float64(g.co)
	w := e.workersFor(flops, units)
	if w > 1 && !e.kgUnits && kgSplitPixels(len(kg), pixels*g.ci, pixels, w) {
		e.kgInPlaceSplitPixels(g, input, outGrad, kg, w)
		return
	}
	clear(kg)
	parallel(w, units, 2*w, func(lo, hi int) {
		e.kgInPlaceRange(g, input, outGrad, kg, kBlock, lo, hi, 0, pixels)
	})
}

// kgSplitPixels reports whether w workers split a kernel gradient of
// kgLen elements over pixels pixels (an input of inLen elements) by pixel
// ranges: when each range has at least half a K block of pixels and the
// result is no larger than the input (each range's private copy of the
// result is read and written once per K block; a split by tiles has every
// worker stream the whole input instead). Measured at two threads
// (BenchmarkConvKernelGrad, CPU time): 28×28×32→32 1.47× and 14×14×64→64
// 1.24× less CPU split by pixels; 7×7×128→128 (result 0.37× the input)
// 1.01–1.09×, 4×4×128→128 (1.1×) 0.79–0.90×.
func kgSplitPixels(kgLen, inLen, pixels, w int) bool {
	return pixels >= w*KC/2 && kgLen <= inLen
}

// kgInPlaceSplitPixels is kgInPlace's split by pixel ranges over w workers
// (kg overwritten).
func (e *Engine) kgInPlaceSplitPixels(g *kgGeometry, input, outGrad, kg []float32, w int) {
	units := (g.co + NR - 1) / NR * g.kh * g.kw * ((g.ci + MR - 1) / MR)
	e.splitPixels(g.n*g.h*g.w, w, kg, func(acc []float32, kBlock, q0, q1 int) {
		clear(acc)
		e.kgInPlaceRange(g, input, outGrad, acc, kBlock, 0, units, q0, q1)
	})
}

// kgInPlaceRange adds to kg the tiles of units [lo, hi) over the pixels
// [q0, q1) (whole K blocks of kBlock pixels from q0): unit u is panel
// u / (taps·groups) (columns 16·j to 16·j + 15), tap (u / groups) % taps,
// channels 6·(u % groups) to 6·(u % groups) + 5. Inside a K block it runs
// tap by tap, each row group against the range's panels in turn (the
// order of one worker; panel by panel, every tap re-reading the input from
// L2, measured 4–14 % slower).
func (e *Engine) kgInPlaceRange(g *kgGeometry, input, outGrad, kg []float32, kBlock, lo, hi, q0, q1 int) {
	s := e.getScratch()
	defer e.putScratch(s)
	pixels := g.n * g.h * g.w
	taps := g.kh * g.kw
	groups := (g.ci + MR - 1) / MR
	perPanel := taps * groups
	j0, j1 := lo/perPanel, (hi-1)/perPanel+1
	// Taps any unit of the range has (all of them unless the range is
	// within one panel).
	t0, t1 := 0, taps
	if j1-j0 == 1 {
		t0, t1 = (lo%perPanel)/groups, ((hi-1)%perPanel)/groups+1
	}
	s.bPack = grow(s.bPack, kBlock*(j1-j0)*NR)
	var runs []int
	for pc := q0; pc < q1; pc += kBlock {
		kc := min(kBlock, q1-pc)
		packGradB(s.bPack, outGrad, g.co, pc, kc, pc, pc+kc, j0, j1)
		for t := t0; t < t1; t++ {
			ky, kx := t/g.kw, t%g.kw
			off := (ky*g.dy-g.padY)*g.w + kx*g.dx - g.padX
			// The tap of output pixel (y, x) is inside the image for y in
			// [ylo, yhi) and x in [xlo, xhi).
			ylo, yhi := max(0, g.padY-ky*g.dy), min(g.h, g.h+g.padY-ky*g.dy)
			xlo, xhi := max(0, g.padX-kx*g.dx), min(g.w, g.w+g.padX-kx*g.dx)
			// Pixels whose input index p + off falls outside the batch are
			// outside their image too: the run skips them.
			p0, p1 := max(pc, -off), min(pc+kc, pixels-off)
			if p0 >= p1 || ylo >= yhi || xlo >= xhi {
				continue
			}
			// The runs of the block's pixels the tap excludes: their rows
			// of every panel are zero while it runs.
			runs = g.appendExcluded(runs[:0], p0, p1, ylo, yhi, xlo, xhi)
			for r := 0; r < len(runs); r += 2 {
				for j := j0; j < j1; j++ {
					clear(s.bPack[(j-j0)*kc*NR+(runs[r]-pc)*NR : (j-j0)*kc*NR+(runs[r+1]-pc)*NR])
				}
			}
			for gi := range groups {
				for j := j0; j < j1; j++ {
					if u := j*perPanel + t*groups + gi; u >= lo && u < hi {
						e.kgTile(g, s, input, s.bPack[(j-j0)*kc*NR:(j-j0+1)*kc*NR], kg, t, gi, j, off, p0, p1, pc)
					}
				}
			}
			for r := 0; r < len(runs); r += 2 {
				restoreGradB(s.bPack, outGrad, g.co, pc, kc, runs[r], runs[r+1], j0, j1)
			}
		}
	}
}

// restoreGradB is packGradB for short runs (most are one pixel: a border
// column), with the full panels' 64-byte copies inline.
func restoreGradB(dst, outGrad []float32, co, pc, kc, q0, q1, j0, j1 int) {
	full := min(j1, co/NR)
	for p := q0; p < q1; p++ {
		row := (p - pc) * NR
		for j := j0; j < full; j++ {
			d := (*[NR / 2]uint64)(unsafe.Pointer(&dst[(j-j0)*kc*NR+row : (j-j0)*kc*NR+row+NR][0]))
			v := (*[NR / 2]uint64)(unsafe.Pointer(&outGrad[p*co+j*NR : p*co+j*NR+NR][0]))
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
		}
	}
	if full < j1 {
		packGradB(dst[(full-j0)*kc*NR:], outGrad, co, pc, kc, q0, q1, full, j1)
	}
}

// kgTile adds to kg the product of tap t, channels 6·gi to 6·gi + 5 of the
// input (read in place for pixels [p0, p1)) by panel, the output gradient's
// columns 16·j to 16·j + 15 of the K block starting at pixel pc.
func (e *Engine) kgTile(g *kgGeometry, s *scratch, input, panel, kg []float32, t, gi, j, off, p0, p1, pc int) {
	n := p1 - p0
	c0 := gi * MR
	mh := min(MR, g.ci-c0)
	nw := min(NR, g.co-j*NR)
	aOff := (p0+off)*g.ci + c0
	ap, csA := &input[aOff], g.ci
	if (p1-1+off)*g.ci+c0+MR > len(input) {
		// The last rows of a partial group would read past the input:
		// pack them (zero-padded) instead.
		s.aTail = grow(s.aTail, n*MR)
		for q := range n {
			d := s.aTail[q*MR : q*MR+MR]
			copy(d, input[aOff+q*g.ci:aOff+q*g.ci+mh])
			clear(d[mh:])
		}
		ap, csA = &s.aTail[0], MR
	}
	bp := &panel[(p0-pc)*NR]
	cOff := (t*g.ci+c0)*g.co + j*NR
	if mh == MR && nw == NR {
		e.kernel(n, ap, 1, csA, bp, &kg[cOff], g.co, 1, 1)
		return
	}
	e.kernel(n, ap, 1, csA, bp, &s.tile[0], NR, 1, 0)
	mergeTile(&s.tile, kg[cOff:], g.co, mh, nw, 1)
}

// appendExcluded appends to runs the runs [q0, q1) (as pairs, adjacent runs
// merged) of the pixels in [p0, p1) whose row y is outside [ylo, yhi) or
// whose column x is outside [xlo, xhi).
func (g *kgGeometry) appendExcluded(runs []int, p0, p1, ylo, yhi, xlo, xhi int) []int {
	add := func(a, b int) {
		if n := len(runs); n > 0 && runs[n-1] == a {
			runs[n-1] = b
			return
		}
		runs = append(runs, a, b)
	}
	for r := p0 / g.w; r*g.w < p1; r++ {
		rs, re := max(p0, r*g.w), min(p1, (r+1)*g.w)
		if y := r % g.h; y < ylo || y >= yhi {
			add(rs, re)
			continue
		}
		if a, b := rs, min(re, r*g.w+xlo); a < b {
			add(a, b)
		}
		if a, b := max(rs, r*g.w+xhi), re; a < b {
			add(a, b)
		}
	}
	return runs
}

// packGradB writes pixels [q0, q1) of the output gradient's columns
// [16·j0, 16·j1) (pixels × co, row-major) into their rows of a K block
// starting at pixel pc, kc pixels deep, packed as zero-padded panels of NR
// columns: dst[(j−j0)·kc·NR + (p−pc)·NR + 0:NR] = outGrad[p·co + j·NR + 0:NR].
func packGradB(dst, outGrad []float32, co, pc, kc, q0, q1, j0, j1 int) {
	full := min(j1, co/NR)
	for p := q0; p < q1; p++ {
		src := outGrad[p*co : (p+1)*co]
		row := (p - pc) * NR
		for j := j0; j < full; j++ {
			d := (*[NR / 2]uint64)(unsafe.Pointer(&dst[(j-j0)*kc*NR+row : (j-j0)*kc*NR+row+NR][0]))
			v := (*[NR / 2]uint64)(unsafe.Pointer(&src[j*NR : j*NR+NR][0]))
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
		}
		if j := full; j < j1 {
			d := dst[(j-j0)*kc*NR+row : (j-j0)*kc*NR+row+NR]
			copy(d, src[j*NR:])
			clear(d[co-j*NR:])
		}
	}
}

// allFinite reports whether no element of v is ±Inf or NaN.
func allFinite(v []float32) bool {
	for _, x := range v {
		if x-x != 0 {
			return false
		}
	}
	return true
}
