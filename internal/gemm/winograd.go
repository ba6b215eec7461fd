package gemm

import (
	"runtime"
	"unsafe"
)

// Winograd F(2×2, 3×3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016) for 3×3 stride-1 convolutions: each 2×2 block of outputs comes
// from a 4×4 input tile d as Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, so the channel reduction
// becomes 16 independent matrix products [tiles × Cin]·[Cin × Cout], 16 products per
// four outputs instead of 36: 2.25× fewer multiply-adds. The products run on the
// same micro-kernel (A read in place); the transforms are additions only, in
// assembly (winoIn, winoOut: one call per tile, eight channels per step) where
// the CPU has AVX2, else on the vector ops or plain Go. Measured on one core at
// batch 64 (BenchmarkWinograd): 28×28×32 6.9 ms against 9.2 direct, 14×14×64
// 5.2 against 8.7, 7×7×128 6.7 against 8.4. With the transforms built from
// per-row vector-op calls instead, 32 channels were slower than direct (the
// calls cost more than the products saved), hence the assembly.

const (
	// winogradMinChannels is the smallest input channel count sent to Winograd
	// (the smallest measured faster than direct; thinner layers stay direct).
	winogradMinChannels = 32
	// winogradTiles is the target number of tiles per block (the 16 transformed
	// input and output matrices of a block stay in L2).
	winogradTiles = 36
)

// winogradOK reports whether p is a 2-D, 3×3, stride-1, undilated convolution
// with enough channels (and an output channel count the micro-kernel covers
// without edge tiles) for the Winograd path.
func winogradOK(p *ConvParams) bool {
	if len(p.InSpatial) != 2 || p.KernelSpatial[0] != 3 || p.KernelSpatial[1] != 3 {
		return false
	}
	for i := 0; i < 2; i++ {
		if axisOr(p.Strides, i, 1) != 1 || axisOr(p.KernelDilations, i, 1) != 1 || axisOr(p.InputDilations, i, 1) != 1 {
			return false
		}
	}
	return p.InChannels >= winogradMinChannels && p.OutChannels%NR == 0
}

// winogradKernel writes U = G g Gᵀ for every (ci, co) into u (16·ci·co
// floats) as 16 matrices [ci × co], u[e·ci·co:] for e = 4a + b, each packed
// into micro-kernel panels (co a multiple of NR): element (c, o) of matrix e
// at u[e·ci·co + (o/NR)·ci·NR + c·NR + o%NR]. Input channels [c0, c1) only,
// so workers can split them.
func winogradKernel(u, kernel []float32, ci, co, c0, c1 int) {
	for c := c0; c < c1; c++ {
		for o := 0; o < co; o++ {
			var g [3][3]float32
			for i := 0; i < 3; i++ {
				for j := 0; j < 3; j++ {
					g[i][j] = kernel[((i*3+j)*ci+c)*co+o]
				}
			}
			// t = G g (4×3); G rows: [1 0 0], [½ ½ ½], [½ −½ ½], [0 0 1].
			var t [4][3]float32
			for j := 0; j < 3; j++ {
				t[0][j] = g[0][j]
				t[1][j] = 0.5 * (g[0][j] + g[1][j] + g[2][j])
				t[2][j] = 0.5 * (g[0][j] - g[1][j] + g[2][j])
				t[3][j] = g[2][j]
			}
			at := (o/NR)*ci*NR + c*NR + o%NR
			for a := 0; a < 4; a++ {
				r := [4]float32{t[a][0], 0.5 * (t[a][0] + t[a][1] + t[a][2]), 0.5 * (t[a][0] - t[a][1] + t[a][2]), t[a][2]}
				for b := 0; b < 4; b++ {
					u[(4*a+b)*ci*co+at] = r[b]
				}
			}
		}
	}
}

// winoScratch holds one worker's Winograd buffers.
type winoScratch struct {
	v, m, zero, tmp, spare []float32
}

// convWinograd computes the convolution p (winogradOK) into output, calling epi
// (when set) on each block of finished output rows.
func (e *Engine) convWinograd(p *ConvParams, input, kernel, output []float32, epi Epilogue) {
	ci, co := p.InChannels, p.OutChannels
	h, w := p.InSpatial[0], p.InSpatial[1]
	oh, ow := p.OutSpatial[0], p.OutSpatial[1]
	padY, padX := 0, 0
	if len(p.Paddings) > 0 {
		padY, padX = p.Paddings[0][0], p.Paddings[1][0]
	}
	tilesY, tilesX := (oh+1)/2, (ow+1)/2
	tileRows := p.Batch * tilesY
	rowsPerBlock := max(1, winogradTiles/tilesX)
	blocks := (tileRows + rowsPerBlock - 1) / rowsPerBlock
	maxT := rowsPerBlock * tilesX
	tPad := (maxT + MR - 1) / MR * MR
	flops := 2 * float64(p.Batch*oh*ow) * float64(9*ci) * float64(co)
	workers := e.workersFor(flops, blocks)
	// The transformed kernel, shared by the workers; they split its
	// computation by input channels first.
	su := e.getScratch()
	defer e.putScratch(su)
	su.kgAcc = grow(su.kgAcc, 16*ci*co)
	u := su.kgAcc
	// (About 1 µs per 1000 (ci, co) pairs: 1.5 ms for 128×128, worth
	// splitting from 64×64 on.)
	kw := e.workersFor(float64(ci*co)*1000, ci)
	parallel(kw, ci, kw, func(c0, c1 int) {
		winogradKernel(u, kernel, ci, co, c0, c1)
	})
	parallel(workers, blocks, 4*workers, func(lo, hi int) {
		// Buffers from the pool: a piece allocating its own would zero
		// (and first-touch) them again for every piece of every call.
		ws := e.getScratch()
		defer e.putScratch(ws)
		b := &ws.wino
		b.v = grow(b.v, 16*tPad*ci) // v[e][t][c]
		b.m = grow(b.m, 16*tPad*co) // m[e][t][o]
		b.zero = grow(b.zero, ci)
		clear(b.zero)
		b.tmp = grow(b.tmp, 16*max(ci, co))
		b.spare = grow(b.spare, co)
		v, m, zero, tmp, spare := b.v, b.m, b.zero, b.tmp, b.spare
		vec := func(k, n int) []float32 { return tmp[k*n : (k+1)*n] }
		// The assembly transforms take 8 channels per step; spare receives the
		// outputs of a tile that fall outside the image.
		asmTransforms := e.useAsm && ci%8 == 0 && co%8 == 0
		var ptrs [16]uintptr
		for blk := lo; blk < hi; blk++ {
			tr0 := blk * rowsPerBlock
			tr1 := min(tr0+rowsPerBlock, tileRows)
			nt := (tr1 - tr0) * tilesX
			// Input transform Bᵀ d B, on whole channel vectors.
			// Bᵀ rows: [1 0 −1 0], [0 1 1 0], [0 −1 1 0], [0 1 0 −1].
			for t := 0; t < nt; t++ {
				tr, tx := tr0+t/tilesX, t%tilesX
				n, ty := tr/tilesY, tr%tilesY
				var d [4][4][]float32
				for i := 0; i < 4; i++ {
					iy := 2*ty - padY + i
					for j := 0; j < 4; j++ {
						ix := 2*tx - padX + j
						d[i][j] = zero
						if uint(iy) < uint(h) && uint(ix) < uint(w) {
							off := ((n*h+iy)*w + ix) * ci
							d[i][j] = input[off : off+ci]
						}
					}
				}
				if asmTransforms {
					for i := 0; i < 4; i++ {
						for j := 0; j < 4; j++ {
							ptrs[4*i+j] = uintptr(unsafe.Pointer(unsafe.SliceData(d[i][j])))
						}
					}
					asmWinoIn(&v[t*ci], tPad*ci, &ptrs[0], ci)
					// ptrs hides these from the garbage collector during the call.
					runtime.KeepAlive(input)
					runtime.KeepAlive(zero)
					continue
				}
				for j := 0; j < 4; j++ { // s = Bᵀ d, row i of s in tmp vector 4i+j.
					e.vsub(vec(j, ci), d[0][j], d[2][j])
					e.vadd(vec(4+j, ci), d[1][j], d[2][j])
					e.vsub(vec(8+j, ci), d[2][j], d[1][j])
					e.vsub(vec(12+j, ci), d[1][j], d[3][j])
				}
				for i := 0; i < 4; i++ { // v = s B.
					at := func(j int) []float32 { return v[((4*i+j)*tPad+t)*ci : ((4*i+j)*tPad+t+1)*ci] }
					s0, s1, s2, s3 := vec(4*i, ci), vec(4*i+1, ci), vec(4*i+2, ci), vec(4*i+3, ci)
					e.vsub(at(0), s0, s2)
					e.vadd(at(1), s1, s2)
					e.vsub(at(2), s2, s1)
					e.vsub(at(3), s1, s3)
				}
			}
			for ee := 0; ee < 16; ee++ {
				clear(v[(ee*tPad+nt)*ci : (ee+1)*tPad*ci]) // Rows past the block's tiles.
			}
			// The 16 products m[e] = v[e]·u[e].
			for ee := 0; ee < 16; ee++ {
				for jr := 0; jr < co; jr += NR {
					bp := &u[ee*ci*co+(jr/NR)*ci*NR]
					for t0 := 0; t0 < nt; t0 += MR {
						e.kernel(ci, &v[(ee*tPad+t0)*ci], ci, 1, bp, &m[(ee*tPad+t0)*co+jr], co, 1, 0)
					}
				}
			}
			// Output transform Aᵀ m A, on whole channel vectors; Aᵀ rows: [1 1 1 0], [0 1 −1 −1].
			for t := 0; t < nt; t++ {
				tr, tx := tr0+t/tilesX, t%tilesX
				n, ty := tr/tilesY, tr%tilesY
				oy, ox := 2*ty, 2*tx
				if asmTransforms {
					row := ((n*oh+oy)*ow + ox) * co
					outs := [4]uintptr{}
					for k := range outs {
						outs[k] = uintptr(unsafe.Pointer(&spare[0]))
					}
					outs[0] = uintptr(unsafe.Pointer(&output[row]))
					if ox+1 < ow {
						outs[1] = uintptr(unsafe.Pointer(&output[row+co]))
					}
					if oy+1 < oh {
						outs[2] = uintptr(unsafe.Pointer(&output[row+ow*co]))
						if ox+1 < ow {
							outs[3] = uintptr(unsafe.Pointer(&output[row+(ow+1)*co]))
						}
					}
					asmWinoOut(&outs[0], &m[t*co], tPad*co, co)
					runtime.KeepAlive(output) // outs hides them from the garbage collector.
					runtime.KeepAlive(spare)
					continue
				}
				q := func(ee int) []float32 { return m[(ee*tPad+t)*co : (ee*tPad+t+1)*co] }
				for j := 0; j < 4; j++ { // Rows of Aᵀ m: s0 in tmp vectors 0–3, s1 in 4–7.
					s0, s1 := vec(j, co), vec(4+j, co)
					e.vadd(s0, q(j), q(4+j))
					e.vadd(s0, s0, q(8+j))
					e.vsub(s1, q(4+j), q(8+j))
					e.vsub(s1, s1, q(12+j))
				}
				for dy := 0; dy < 2 && oy+dy < oh; dy++ {
					s := 4 * dy
					row := ((n*oh+oy+dy)*ow + ox) * co
					y0 := output[row : row+co]
					e.vadd(y0, vec(s, co), vec(s+1, co))
					e.vadd(y0, y0, vec(s+2, co))
					if ox+1 < ow {
						y1 := output[row+co : row+2*co]
						e.vsub(y1, vec(s+1, co), vec(s+2, co))
						e.vsub(y1, y1, vec(s+3, co))
					}
				}
			}
			if epi != nil {
				n0, ty0 := tr0/tilesY, tr0%tilesY
				n1, ty1 := (tr1-1)/tilesY, (tr1-1)%tilesY
				epi((n0*oh+2*ty0)*ow, (n1*oh+min(2*ty1+2, oh))*ow)
			}
		}
	})
}

// vadd sets d = x + y elementwise (AVX2 when available).
func (e *Engine) vadd(d, x, y []float32) { e.vbin(VecAdd, d, x, y) }

// vsub sets d = x − y elementwise (AVX2 when available).
func (e *Engine) vsub(d, x, y []float32) { e.vbin(VecSub, d, x, y) }

// vbin applies op (VecAdd or VecSub) elementwise. The portable transforms call
// it on channel vectors many times per tile: for lengths that are multiples of
// 16 it calls the assembly directly, without VecBinary's checks and tail loop.
func (e *Engine) vbin(op VecOp, d, x, y []float32) {
	if e.useAsm && len(d)%16 == 0 && len(d) > 0 {
		_, _ = x[len(d)-1], y[len(d)-1]
		asmVecBinary(op, &d[0], &x[0], &y[0], len(d))
		return
	}
	if e.VecBinary(op, d, x, y) {
		return
	}
	for i := range d {
		if op == VecAdd {
			d[i] = x[i] + y[i]
		} else {
			d[i] = x[i] - y[i]
		}
	}
}
