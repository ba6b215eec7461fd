package imageio

// A minimal progressive JPEG writer for the tests: Go's image/jpeg writes
// baseline files only. It covers what the tests need: 8-bit grayscale or
// YCbCr 4:4:4 frames, spectral-selection scans (no successive
// approximation), a flat quantisation table, and fixed Huffman tables large
// enough for every symbol (so no table has to be optimised).

import (
	"bytes"
	"math"
)

// unzig[k] is the natural (row-major) index of the k-th coefficient in
// zig-zag order (ITU T.81 figure A.6).
var unzig = [64]int{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

// jpegQuant is the value of every entry of the quantisation table.
const jpegQuant = 2

// progScan is one scan of a progressive script: the components it codes
// (indexes into the frame's components) and its spectral band Ss..Se.
type progScan struct {
	comps  []int
	ss, se int
}

// libjpegLikeScript is a 10-scan script for three components, shaped like
// libjpeg's default one but without successive approximation.
var libjpegLikeScript = []progScan{
	{[]int{0, 1, 2}, 0, 0},
	{[]int{0}, 1, 2}, {[]int{0}, 3, 5}, {[]int{0}, 6, 9}, {[]int{0}, 10, 20}, {[]int{0}, 21, 63},
	{[]int{1}, 1, 5}, {[]int{1}, 6, 63},
	{[]int{2}, 1, 5}, {[]int{2}, 6, 63},
}

// jpegWriter accumulates a JPEG file; bits are entropy-coded data.
type jpegWriter struct {
	buf  bytes.Buffer
	acc  uint32
	nacc uint
}

func (e *jpegWriter) segment(marker byte, payload ...byte) {
	e.buf.Write([]byte{0xff, marker, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)})
	e.buf.Write(payload)
}

// bits appends the n low bits of v to the entropy-coded data, stuffing a
// 0x00 after every 0xff byte.
func (e *jpegWriter) bits(v uint32, n uint) {
	e.acc = e.acc<<n | v&(1<<n-1)
	e.nacc += n
	for e.nacc >= 8 {
		b := byte(e.acc >> (e.nacc - 8))
		e.buf.WriteByte(b)
		if b == 0xff {
			e.buf.WriteByte(0x00)
		}
		e.nacc -= 8
	}
}

// flush pads the entropy-coded segment with 1 bits to a byte boundary.
func (e *jpegWriter) flush() {
	if e.nacc > 0 {
		e.bits(1<<(8-e.nacc)-1, 8-e.nacc)
	}
	e.acc, e.nacc = 0, 0
}

// DC table: symbols 0..11 (the magnitude categories), 4-bit codes equal to
// the symbol. AC table: every byte value, symbols 0..253 with the 8-bit code
// equal to the symbol, 254 and 255 with the 9-bit codes 508 and 509 (the
// all-ones codes stay unused, as T.81 requires).
func (e *jpegWriter) dc(sym int) { e.bits(uint32(sym), 4) }

func (e *jpegWriter) ac(sym int) {
	if sym < 254 {
		e.bits(uint32(sym), 8)
	} else {
		e.bits(uint32(508+sym-254), 9)
	}
}

func (e *jpegWriter) tables() {
	q := []byte{0x00}
	for range 64 {
		q = append(q, jpegQuant)
	}
	e.segment(0xdb, q...) // DQT
	dht := []byte{0x00, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for s := range 12 {
		dht = append(dht, byte(s))
	}
	dht = append(dht, 0x10, 0, 0, 0, 0, 0, 0, 0, 254, 2, 0, 0, 0, 0, 0, 0, 0)
	for s := range 256 {
		dht = append(dht, byte(s))
	}
	e.segment(0xc4, dht...) // DHT
}

func (e *jpegWriter) frame(marker byte, w, h, components int) {
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(components)}
	for c := range components {
		sof = append(sof, byte(c+1), 0x11, 0)
	}
	e.segment(marker, sof...)
}

func (e *jpegWriter) sos(comps []int, ss, se int) {
	p := []byte{byte(len(comps))}
	for _, c := range comps {
		p = append(p, byte(c+1), 0x00)
	}
	e.segment(0xda, append(p, byte(ss), byte(se), 0)...)
}

// category returns the magnitude category of v and its extra bits.
func category(v int) (int, uint32) {
	a := v
	if a < 0 {
		a = -a
	}
	s := 0
	for a>>s != 0 {
		s++
	}
	if v < 0 {
		v += 1<<s - 1
	}
	return s, uint32(v)
}

// coefficients returns the quantised DCT coefficients of one component's
// w×h samples, block by block in raster order, each in zig-zag order.
func coefficients(pix []uint8, w, h int) [][64]int {
	bw, bh := (w+7)/8, (h+7)/8
	var cos [8][8]float64
	for x := range 8 {
		for u := range 8 {
			cos[x][u] = math.Cos(float64(2*x+1) * float64(u) * math.Pi / 16)
		}
	}
	out := make([][64]int, bw*bh)
	for by := range bh {
		for bx := range bw {
			var f [8][8]float64
			for y := range 8 {
				for x := range 8 {
					sx, sy := min(bx*8+x, w-1), min(by*8+y, h-1) // replicate the edges
					f[y][x] = float64(pix[sy*w+sx]) - 128
				}
			}
			blk := &out[by*bw+bx]
			for k, nat := range unzig {
				v, u := nat/8, nat%8
				sum := 0.0
				for y := range 8 {
					for x := range 8 {
						sum += f[y][x] * cos[x][u] * cos[y][v]
					}
				}
				cu, cv := 1.0, 1.0
				if u == 0 {
					cu = math.Sqrt2 / 2
				}
				if v == 0 {
					cv = math.Sqrt2 / 2
				}
				blk[k] = int(math.Round(sum * cu * cv / 4 / jpegQuant))
			}
		}
	}
	return out
}

// encodeProgressive encodes w×h samples (one plane for grayscale, Y, Cb and
// Cr planes for colour) as a progressive JPEG with the given script.
func encodeProgressive(w, h int, planes [][]uint8, script []progScan) []byte {
	coef := make([][][64]int, len(planes))
	for c, p := range planes {
		coef[c] = coefficients(p, w, h)
	}
	var e jpegWriter
	e.buf.Write([]byte{0xff, 0xd8})
	e.tables()
	e.frame(0xc2, w, h, len(planes))
	for _, sc := range script {
		e.sos(sc.comps, sc.ss, sc.se)
		pred := make([]int, len(planes))
		for b := range coef[0] {
			for _, c := range sc.comps {
				blk := coef[c][b]
				if sc.ss == 0 { // DC first scan
					s, extra := category(blk[0] - pred[c])
					pred[c] = blk[0]
					e.dc(s)
					e.bits(extra, uint(s))
					continue
				}
				run := 0
				for k := sc.ss; k <= sc.se; k++ {
					if blk[k] == 0 {
						run++
						continue
					}
					for ; run > 15; run -= 16 {
						e.ac(0xf0) // ZRL
					}
					s, extra := category(blk[k])
					e.ac(run<<4 | s)
					e.bits(extra, uint(s))
					run = 0
				}
				if run > 0 {
					e.ac(0x00) // EOB: an end-of-band run of one block
				}
			}
		}
		e.flush()
	}
	e.buf.Write([]byte{0xff, 0xd9})
	return e.buf.Bytes()
}

// progressiveBomb returns the CPU bomb of issue #11: a w×h grayscale
// progressive JPEG with `scans` AC scans, each coding every block as part
// of end-of-band runs of up to 32767 blocks, so each scan costs image/jpeg
// a pass over all blocks but only a few bytes of file (about 100 bytes for
// 8192×8192).
func progressiveBomb(w, h, scans int) []byte {
	var e jpegWriter
	e.buf.Write([]byte{0xff, 0xd8})
	e.tables()
	e.frame(0xc2, w, h, 1)
	blocks := ((w + 7) / 8) * ((h + 7) / 8)
	for range scans {
		e.sos([]int{0}, 1, 63)
		for rem := blocks; rem > 0; {
			r := min(rem, 32767)
			n := 0
			for r>>(n+1) != 0 {
				n++
			}
			e.ac(n << 4) // EOBn: a run of 2^n + extra blocks
			e.bits(uint32(r-1<<n), uint(n))
			rem -= r
		}
		e.flush()
	}
	e.buf.Write([]byte{0xff, 0xd9})
	return e.buf.Bytes()
}

// baselineManyScans returns a w×h grayscale baseline JPEG whose single
// component is coded `scans` times (each scan a flat grey), which
// image/jpeg decodes in full each time.
func baselineManyScans(w, h, scans int) []byte {
	var e jpegWriter
	e.buf.Write([]byte{0xff, 0xd8})
	e.tables()
	e.frame(0xc0, w, h, 1)
	blocks := ((w + 7) / 8) * ((h + 7) / 8)
	for range scans {
		e.sos([]int{0}, 0, 63)
		for range blocks {
			e.dc(0)
			e.ac(0x00)
		}
		e.flush()
	}
	e.buf.Write([]byte{0xff, 0xd9})
	return e.buf.Bytes()
}
