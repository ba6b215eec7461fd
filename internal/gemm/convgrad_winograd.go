package gemm

import (
	"runtime"
	"unsafe"
)

// The kernel gradient of a 3×3 stride-1 convolution by Winograd F(4×4, 3×3)
// (Lavin and Gray 2016, §4: the weight gradient as a Winograd correlation of
// the input with the output gradient). For one input and output channel,
//
//	kgrad[r][s] = Σ_{y,x} input[y + r − padY][x + s − padX] · outGrad[y][x]
//
// is summed over 4×4 tiles of the output gradient, each pairing with the 6×6
// input tile under it. F(4×4, 3×3)'s forward identity y = Aᵀ[(G g) ⊙ (Bᵀ d)]
// holds for every g and d, which makes Σ_e A[e][k]·G[e][i]·B[j][e] = δ(j = k+i),
// and so, transposed, the kernel gradient of one tile is
//
//	kgrad_tile = Gᵀ [(A g Aᵀ) ⊙ (Bᵀ d B)] G
//
// with d the input tile, g the output-gradient tile, A the forward Aᵀ
// transposed. Summed over tiles and channels, the middle is 36 products
// M[e] = V[e]ᵀ·U[e] ([Ci × tiles]·[tiles × Co], V the transformed input
// tiles, U the transformed output-gradient tiles): the reduction over pixels
// runs in the products' K dimension, 36 multiply-adds per 16 pixels instead
// of 144. Then kgrad = Tᵀ·M with T = G⊗G (winoForm.t, the forward kernel
// transform's matrix). The input transform is the forward one (winoIn4), the
// output-gradient one winoGradIn4; both need the assembly, so this form runs
// only where it does.

// winogradGradTiles is the number of tiles per block: the K of each block's
// products.
const winogradGradTiles = 64

// kgWinogradOK reports whether the kernel gradient of p can run by Winograd
// F(4×4, 3×3): a convolution the forward Winograd path takes (winogradOK: 3×3,
// stride 1, undilated, ≥ winogradMinChannels inputs, outputs in whole
// micro-kernel panels) with input channels in multiples of 8 (the assembly
// transforms' step), on an engine with the assembly.
func (e *Engine) kgWinogradOK(p *ConvParams) bool {
	return e.useAsm && !e.noWinograd && !e.noWinograd4 && !e.kgUnits &&
		winogradOK(p) && p.InChannels%8 == 0
}

// kgWinograd computes kg (3·3·Ci × Co, overwritten) by Winograd F(4×4, 3×3)
// (kgWinogradOK). Workers split the tiles into ranges of whole blocks, each
// accumulating its own M, summed in range order: the result depends on the
// number of workers only.
func (e *Engine) kgWinograd(g *kgGeometry, input, outGrad, kg []float32) {
	const tm, ne = 4, 36
	ci, co := g.ci, g.co
	tilesY, tilesX := (g.oh+tm-1)/tm, (g.ow+tm-1)/tm
	tiles := g.n * tilesY * tilesX
	blocks := (tiles + winogradGradTiles - 1) / winogradGradTiles
	w := e.workersFor(2*float64(ne)*float64(tiles)*float64(ci)*float64(co), blocks)
	accs := make([]*scratch, w)
	parallel(w, w, w, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			s := e.getScratch()
			accs[r] = s
			s.kgAcc = grow(s.kgAcc, ne*ci*co)
			clear(s.kgAcc)
			e.kgWinogradRange(g, s, input, outGrad, blocks*r/w, blocks*(r+1)/w, tilesY, tilesX)
		}
	})
	m := accs[0].kgAcc
	e.sumRanges(m, accs[1:])
	// kg[k][c·Co + o] = Σ_e t[e][k]·M[e][c·Co + o]: Tᵀ (9 × 36) times M (36 × Ci·Co).
	e.gemm(9, ci*co, ne, 1, matrix{data: winoF4.t, rs: 1, cs: 9}, matrix{data: m, rs: ci * co, cs: 1}, 0, kg, ci*co)
	for _, s := range accs {
		e.putScratch(s)
	}
}

// kgWinogradRange adds to s.kgAcc (M, 36 matrices Ci × Co) the products of the
// tile blocks [b0, b1). The transformed tiles are laid out for the
// micro-kernel, so the products pack nothing: V[e] as [tiles × Ci] (read in
// place as the transposed first operand, six channels per step of k) and
// U[e] in 16-column panels [Co/16][tiles][16] (the packed second operand).
func (e *Engine) kgWinogradRange(g *kgGeometry, s *scratch, input, outGrad []float32, b0, b1, tilesY, tilesX int) {
	const tm, al, ne = 4, 6, 36
	const tb = winogradGradTiles
	ci, co := g.ci, g.co
	b := &s.wino
	// v[e][t][c], with MR floats past the end: a tile of the last channel
	// rows reads up to MR−1 values beyond its matrix (into rows it discards).
	b.v = grow(b.v, ne*tb*ci+MR)
	b.m = grow(b.m, ne*tb*co) // u[e][o/16][t][o%16]
	b.zero = grow(b.zero, max(ci, co))
	clear(b.zero)
	b.tmp = grow(b.tmp, 36*8)
	v, u, zero, tmp, m := b.v, b.m, b.zero, b.tmp, s.kgAcc
	var tile [MR * NR]float32
	tiles := g.n * tilesY * tilesX
	var inPtrs [al * al]uintptr
	var gradPtrs [tm * tm]uintptr
	for blk := b0; blk < b1; blk++ {
		t0 := blk * tb
		nt := min(tb, tiles-t0)
		for t := 0; t < nt; t++ {
			n, rest := (t0+t)/(tilesY*tilesX), (t0+t)%(tilesY*tilesX)
			ty, tx := rest/tilesX, rest%tilesX
			for i := 0; i < al; i++ {
				iy := tm*ty - g.padY + i
				for j := 0; j < al; j++ {
					ix := tm*tx - g.padX + j
					at := &zero[0]
					if uint(iy) < uint(g.h) && uint(ix) < uint(g.w) {
						at = &input[((n*g.h+iy)*g.w+ix)*ci]
					}
					inPtrs[al*i+j] = uintptr(unsafe.Pointer(at))
				}
			}
			asmWinoIn4(&v[t*ci], tb*ci, &inPtrs[0], ci, &tmp[0])
			for i := 0; i < tm; i++ {
				oy := tm*ty + i
				for j := 0; j < tm; j++ {
					ox := tm*tx + j
					at := &zero[0]
					if oy < g.oh && ox < g.ow {
						at = &outGrad[((n*g.oh+oy)*g.ow+ox)*co]
					}
					gradPtrs[tm*i+j] = uintptr(unsafe.Pointer(at))
				}
			}
			// One call per 16-column panel of U (the zero vector stands for
			// every panel of a pixel outside the output).
			for o0 := 0; o0 < co; o0 += NR {
				asmWinoGradIn4(&u[(o0/NR)*tb*NR+t*NR], tb*co, &gradPtrs[0], NR, &tmp[0])
				if o0+NR < co {
					for k, p := range gradPtrs {
						if p != uintptr(unsafe.Pointer(&zero[0])) {
							gradPtrs[k] = p + NR*4
						}
					}
				}
			}
			// The pointer arrays hide these from the garbage collector during the calls.
			runtime.KeepAlive(input)
			runtime.KeepAlive(outGrad)
			runtime.KeepAlive(zero)
		}
		// M[e] += V[e]ᵀ·U[e] over the block's tiles, on the micro-kernel.
		for ee := 0; ee < ne; ee++ {
			ve, ue, me := v[ee*tb*ci:], u[ee*tb*co:], m[ee*ci*co:]
			for o0 := 0; o0 < co; o0 += NR {
				bp := &ue[(o0/NR)*tb*NR]
				for c0 := 0; c0 < ci; c0 += MR {
					if c0+MR <= ci {
						e.kernel(nt, &ve[c0], 1, ci, bp, &me[c0*co+o0], co, 1, 1)
						continue
					}
					e.kernel(nt, &ve[c0], 1, ci, bp, &tile[0], NR, 1, 0)
					for r := 0; r < ci-c0; r++ {
						row := me[(c0+r)*co+o0 : (c0+r)*co+o0+NR]
						for j := range row {
							row[j] += tile[r*NR+j]
						}
					}
				}
			}
		}
	}
}
