package gemm

import (
	"runtime"
	"unsafe"
)

// Winograd convolution (Lavin and Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2016) for 3×3 stride-1 convolutions: each m×m block of
// outputs comes from an (m+2)×(m+2) input tile d as
// Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, so the channel reduction becomes (m+2)²
// independent matrix products [tiles × Cin]·[Cin × Cout]. F(4×4, 3×3) (m = 4:
// 36 products per 16 outputs instead of 144, 4× fewer multiply-adds) runs
// wherever the assembly transforms do; F(2×2, 3×3) (m = 2: 16 per 4, 2.25×
// fewer) is the portable form. The products run on the same micro-kernel
// (A read in place); the transforms run in assembly (winoIn4/winoOut4 and
// winoIn/winoOut: one call per tile, eight channels per step) where the CPU
// has AVX2, else F(2×2)'s on the vector ops or plain Go. With the transforms
// built from per-row vector-op calls instead, 32 channels were slower than
// direct (the calls cost more than the products saved), hence the assembly.
// Measured on one quiet core at batch 64 (BenchmarkWinograd, 2026-12-03,
// medians of 3): 28×28×32 7.0 ms (F(4×4)) / 10.8 (F(2×2)) / 12.0 (direct),
// 14×14×64 6.0 / 7.1 / 10.4, 7×7×128 5.3 / 7.9 / 10.9.

const (
	// winogradMinChannels is the smallest input channel count sent to Winograd
	// (the smallest measured faster than direct; thinner layers stay direct).
	winogradMinChannels = 32
	// winogradTiles is the target number of tiles per block (the 16 transformed
	// input and output matrices of a block stay in L2).
	winogradTiles = 36
	// winograd4Tiles is winogradTiles for F(4×4) (each tile four times the
	// outputs, 36 instead of 16 matrices): 6 tile rows of a 28-pixel output
	// (7 tiles each), 42 = 7·MR rows of the products, none padded. Chosen,
	// not tuned.
	winograd4Tiles = 42
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

// winoForm is one Winograd algorithm F(m×m, 3×3): tiles of m×m outputs from
// a×a inputs (a = m+2), the kernel transformed by G (a×3).
type winoForm struct {
	m int
	g [][3]float32
	// t is the kernel transform as one matrix, G⊗G: U[e] = Σ_k t[e][k]·g[k]
	// for e = a·i + j and k = 3·r + s (t[e][k] = G[i][r]·G[j][s]), a²×9,
	// its rows padded with zeros to a multiple of MR.
	t []float32
}

// newWinoForm builds F(m×m, 3×3) from its G.
func newWinoForm(m int, g [][3]float32) winoForm {
	al := len(g)
	rows := (al*al + MR - 1) / MR * MR
	t := make([]float32, rows*9)
	for i := 0; i < al; i++ {
		for j := 0; j < al; j++ {
			for r := 0; r < 3; r++ {
				for s := 0; s < 3; s++ {
					t[(al*i+j)*9+3*r+s] = g[i][r] * g[j][s]
				}
			}
		}
	}
	return winoForm{m: m, g: g, t: t}
}

var (
	// winoF2 is F(2×2, 3×3): 16 products per 4 outputs (2.25× fewer than
	// direct); its transforms are additions only. Lavin and Gray's points
	// 0, ±1, ∞.
	winoF2 = newWinoForm(2, [][3]float32{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}})
	// winoF4 is F(4×4, 3×3): 36 products per 16 outputs (4× fewer than
	// direct, 1.78× fewer than F(2×2)); points 0, ±1, ±2, ∞, transforms with
	// small integer coefficients (genWinograd4). Its float32 rounding is
	// larger than F(2×2)'s (residues up to ~5e-8 of a tile's largest term
	// sum in TestWinograd; the SwAV golden run's losses move by ~1e-7
	// relative), far below the noise of training.
	winoF4 = newWinoForm(4, [][3]float32{
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	})
)

// winoFormFor picks the algorithm for p (winogradOK): F(4×4) where the
// assembly transforms run (channels in multiples of 8), else F(2×2).
// F(4×4) is the faster on every layer of the small ResNet (see the package
// comment above), even where its 4×4 tiles overhang a 14- or 7-pixel output
// and where its kernel transform (36 values per channel pair instead of 16,
// every call) weighs most.
func (e *Engine) winoFormFor(p *ConvParams) winoForm {
	if e.useAsm && !e.noWinograd4 && p.InChannels%8 == 0 && p.OutChannels%8 == 0 {
		return winoF4
	}
	return winoF2
}

// winogradKernel writes U = G g Gᵀ for every (ci, co) into u (a²·ci·co
// floats, a = f.m+2) as a² matrices [ci × co], u[e·ci·co:] for e = a·i + j,
// each packed into micro-kernel panels (co a multiple of NR): element (c, o)
// of matrix e at u[e·ci·co + (o/NR)·ci·NR + c·NR + o%NR]. Input channels
// [c0, c1) only, so workers can split them.
//
// It runs as products on the micro-kernel: for each input channel and panel
// of NR output channels, f.t (a²×9) times the 9 taps' NR-wide kernel rows,
// each 6×NR result tile stored straight into its place in the a² matrices
// (row stride ci·co). Scalar, this transform took 37 % of a 7×7×128 F(4×4)
// convolution (it is recomputed every call: the kernel changes every step).
func (e *Engine) winogradKernel(f winoForm, u, kernel []float32, ci, co, c0, c1 int) {
	al := len(f.g)
	ne := al * al
	var bp [9 * NR]float32 // one panel of the kernel: 9 taps × NR outputs
	var tile [MR * NR]float32
	for c := c0; c < c1; c++ {
		for o0 := 0; o0 < co; o0 += NR {
			for k := 0; k < 9; k++ {
				copy(bp[k*NR:(k+1)*NR], kernel[(k*ci+c)*co+o0:(k*ci+c)*co+o0+NR])
			}
			at := (o0/NR)*ci*NR + c*NR
			for r0 := 0; r0 < ne; r0 += MR {
				if r0+MR <= ne {
					e.kernel(9, &f.t[r0*9], 9, 1, &bp[0], &u[r0*ci*co+at], ci*co, 1, 0)
					continue
				}
				// The last rows of F(2×2)'s 16: through a whole tile.
				e.kernel(9, &f.t[r0*9], 9, 1, &bp[0], &tile[0], NR, 1, 0)
				for r := r0; r < ne; r++ {
					copy(u[r*ci*co+at:r*ci*co+at+NR], tile[(r-r0)*NR:(r-r0+1)*NR])
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
	f := e.winoFormFor(p)
	tm := f.m     // outputs per tile side
	al := tm + 2  // inputs per tile side
	ne := al * al // products per tile
	ci, co := p.InChannels, p.OutChannels
	h, w := p.InSpatial[0], p.InSpatial[1]
	oh, ow := p.OutSpatial[0], p.OutSpatial[1]
	padY, padX := 0, 0
	if len(p.Paddings) > 0 {
		padY, padX = p.Paddings[0][0], p.Paddings[1][0]
	}
	tilesY, tilesX := (oh+tm-1)/tm, (ow+tm-1)/tm
	tileRows := p.Batch * tilesY
	target := winogradTiles
	if tm == 4 {
		target = winograd4Tiles
	}
	rowsPerBlock := max(1, target/tilesX)
	blocks := (tileRows + rowsPerBlock - 1) / rowsPerBlock
	maxT := rowsPerBlock * tilesX
	tPad := (maxT + MR - 1) / MR * MR
	flops := 2 * float64(p.Batch*oh*ow) * float64(9*ci) * float64(co)
	workers := e.workersFor(flops, blocks)
	// The transformed kernel, shared by the workers; they split its
	// computation by input channels first.
	su := e.getScratch()
	defer e.putScratch(su)
	su.kgAcc = grow(su.kgAcc, ne*ci*co)
	u := su.kgAcc
	// (2·9 multiply-adds per value; split from about 64×64 on.)
	kw := e.workersFor(float64(ci*co)*float64(ne)*18, ci)
	parallel(kw, ci, kw, func(c0, c1 int) {
		e.winogradKernel(f, u, kernel, ci, co, c0, c1)
	})
	parallel(workers, blocks, 4*workers, func(lo, hi int) {
		// Buffers from the pool: a piece allocating its own would zero
		// (and first-touch) them again for every piece of every call.
		ws := e.getScratch()
		defer e.putScratch(ws)
		b := &ws.wino
		b.v = grow(b.v, ne*tPad*ci) // v[e][t][c]
		b.m = grow(b.m, ne*tPad*co) // m[e][t][o]
		b.zero = grow(b.zero, ci)
		clear(b.zero)
		b.tmp = grow(b.tmp, max(16*max(ci, co), 36*8))
		b.spare = grow(b.spare, co)
		v, m, zero, tmp, spare := b.v, b.m, b.zero, b.tmp, b.spare
		vec := func(k, n int) []float32 { return tmp[k*n : (k+1)*n] }
		// The assembly transforms take 8 channels per step; spare receives the
		// outputs of a tile that fall outside the image. F(4×4) always has them
		// (winoFormFor).
		asmTransforms := e.useAsm && ci%8 == 0 && co%8 == 0
		var ptrs [36]uintptr
		for blk := lo; blk < hi; blk++ {
			tr0 := blk * rowsPerBlock
			tr1 := min(tr0+rowsPerBlock, tileRows)
			nt := (tr1 - tr0) * tilesX
			// Input transform Bᵀ d B, on whole channel vectors.
			for t := 0; t < nt; t++ {
				tr, tx := tr0+t/tilesX, t%tilesX
				n, ty := tr/tilesY, tr%tilesY
				var d [6][6][]float32
				for i := 0; i < al; i++ {
					iy := tm*ty - padY + i
					for j := 0; j < al; j++ {
						ix := tm*tx - padX + j
						d[i][j] = zero
						if uint(iy) < uint(h) && uint(ix) < uint(w) {
							off := ((n*h+iy)*w + ix) * ci
							d[i][j] = input[off : off+ci]
						}
					}
				}
				if asmTransforms {
					for i := 0; i < al; i++ {
						for j := 0; j < al; j++ {
							ptrs[al*i+j] = uintptr(unsafe.Pointer(unsafe.SliceData(d[i][j])))
						}
					}
					if tm == 4 {
						asmWinoIn4(&v[t*ci], tPad*ci, &ptrs[0], ci, &tmp[0])
					} else {
						asmWinoIn(&v[t*ci], tPad*ci, &ptrs[0], ci)
					}
					// ptrs hides these from the garbage collector during the call.
					runtime.KeepAlive(input)
					runtime.KeepAlive(zero)
					continue
				}
				// F(2×2) only. Bᵀ rows: [1 0 −1 0], [0 1 1 0], [0 −1 1 0], [0 1 0 −1].
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
			for ee := 0; ee < ne; ee++ {
				clear(v[(ee*tPad+nt)*ci : (ee+1)*tPad*ci]) // Rows past the block's tiles.
			}
			// The ne products m[e] = v[e]·u[e].
			for ee := 0; ee < ne; ee++ {
				for jr := 0; jr < co; jr += NR {
					bp := &u[ee*ci*co+(jr/NR)*ci*NR]
					for t0 := 0; t0 < nt; t0 += MR {
						e.kernel(ci, &v[(ee*tPad+t0)*ci], ci, 1, bp, &m[(ee*tPad+t0)*co+jr], co, 1, 0)
					}
				}
			}
			// Output transform Aᵀ m A, on whole channel vectors.
			for t := 0; t < nt; t++ {
				tr, tx := tr0+t/tilesX, t%tilesX
				n, ty := tr/tilesY, tr%tilesY
				oy, ox := tm*ty, tm*tx
				if asmTransforms {
					// Outputs outside the image go to spare.
					var outs [16]uintptr
					for dy := 0; dy < tm; dy++ {
						for dx := 0; dx < tm; dx++ {
							at := &spare[0]
							if oy+dy < oh && ox+dx < ow {
								at = &output[((n*oh+oy+dy)*ow+ox+dx)*co]
							}
							outs[tm*dy+dx] = uintptr(unsafe.Pointer(at))
						}
					}
					if tm == 4 {
						asmWinoOut4(&outs[0], &m[t*co], tPad*co, co, &tmp[0])
					} else {
						asmWinoOut(&outs[0], &m[t*co], tPad*co, co)
					}
					runtime.KeepAlive(output) // outs hides them from the garbage collector.
					runtime.KeepAlive(spare)
					continue
				}
				// F(2×2) only. Aᵀ rows: [1 1 1 0], [0 1 −1 −1].
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
				epi((n0*oh+tm*ty0)*ow, (n1*oh+min(tm*ty1+tm, oh))*ow)
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
