package augment

import "math"

// scratch holds the buffers reused across the crops of one Apply call, so
// that the per-pixel work never allocates.
type scratch struct {
	tmp    []float32 // intermediate image of the separable passes
	acc    []float64 // one output row of the vertical resize pass
	line   []float32 // one reflect-padded row for the blur
	kernel []float32 // blur taps
	cx, cy axisCoeffs
}

// axisCoeffs are the resampling weights along one axis: output position o
// reads the n[o] input positions start[o], start[o]+1, ... with the weights
// w[o*ksize : o*ksize+n[o]].
type axisCoeffs struct {
	ksize    int
	start, n []int
	w        []float64
}

// growF32 returns s resized to n elements, reallocating only when the
// capacity is too small. The contents are unspecified.
func growF32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func growF64(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

func growInt(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}

// triangle is the bilinear filter kernel with support 1.
func triangle(x float64) float64 {
	x = math.Abs(x)
	if x < 1 {
		return 1 - x
	}
	return 0
}

// compute fills c with the antialiased bilinear weights for resizing
// inSize samples to outSize samples. It follows the separable
// "antialias=True" scheme shared by Pillow's Resample.c and
// torch.nn.functional.interpolate: when downsampling by scale = in/out > 1
// the triangle filter is stretched by scale (so every input sample
// contributes), when upsampling it is plain bilinear with half-pixel
// centres (align_corners=False). Weights are renormalised to sum to one,
// which also handles the image borders.
func (c *axisCoeffs) compute(inSize, outSize int) {
	scale := float64(inSize) / float64(outSize)
	filterScale := max(scale, 1)
	support := filterScale // triangle support (1) times filterScale
	c.ksize = int(math.Ceil(support))*2 + 1
	c.start = growInt(c.start, outSize)
	c.n = growInt(c.n, outSize)
	c.w = growF64(c.w, outSize*c.ksize)
	inv := 1 / filterScale
	for o := range outSize {
		center := (float64(o) + 0.5) * scale
		// int() truncates toward zero, exactly like the C casts in the
		// reference implementations.
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), inSize)
		n := hi - lo
		var sum float64
		for k := range n {
			sum += triangle((float64(k+lo) - center + 0.5) * inv)
		}
		if sum == 0 {
			sum = 1
		}
		w := c.w[o*c.ksize : o*c.ksize+c.ksize]
		for k := range n {
			w[k] = triangle((float64(k+lo)-center+0.5)*inv) / sum
		}
		c.start[o], c.n[o] = lo, n
	}
}

// resizedCrop resizes the h×w window of src at (top, left) to outH×outW
// (antialiased bilinear) and writes the result to dst, which must hold
// outH*outW*src.C values. It gives bit for bit the same values as
// imageio.Resize(imageio.Crop(src, top, left, h, w), outH, outW) — same
// float64 weights, float64 accumulation in the same order, horizontal pass
// first, rounding to float32 after each pass — but reads the window in
// place and reuses the buffers in s instead of allocating.
//
// An axis whose size does not change is copied instead of filtered, which
// is exact because the antialiased filter is the identity at scale 1.
func resizedCrop(src Tensor, top, left, h, w, outH, outW int, dst []float32, s *scratch) {
	C := src.C
	srcStride := src.W * C
	buf, stride, off := src.Pix, srcStride, (top*src.W+left)*C

	if w != outW {
		s.cx.compute(w, outW)
		rowLen := outW * C
		s.tmp = growF32(s.tmp, h*rowLen)
		for y := range h {
			row := src.Pix[off+y*srcStride : off+y*srcStride+w*C]
			resampleRow(row, C, &s.cx, s.tmp[y*rowLen:(y+1)*rowLen])
		}
		buf, stride, off = s.tmp, rowLen, 0
	}

	rowLen := outW * C
	if h == outH {
		for y := range outH {
			copy(dst[y*rowLen:(y+1)*rowLen], buf[off+y*stride:off+y*stride+rowLen])
		}
		return
	}
	s.cy.compute(h, outH)
	s.acc = growF64(s.acc, rowLen)
	acc := s.acc
	for o := range outH {
		lo, n := s.cy.start[o], s.cy.n[o]
		w := s.cy.w[o*s.cy.ksize : o*s.cy.ksize+n]
		clear(acc)
		for k, wt := range w {
			r := off + (lo+k)*stride
			for i, v := range buf[r : r+rowLen] {
				acc[i] += float64(v) * wt
			}
		}
		d := dst[o*rowLen : (o+1)*rowLen]
		for i, v := range acc {
			d[i] = float32(v)
		}
	}
}

// resampleRow filters one row of C-channel pixels with the horizontal
// coefficients c into dst (len(c.n) pixels), accumulating in float64.
func resampleRow(row []float32, C int, c *axisCoeffs, dst []float32) {
	switch C {
	case 1:
		for o := range dst {
			lo, n := c.start[o], c.n[o]
			w := c.w[o*c.ksize : o*c.ksize+n]
			px := row[lo : lo+n]
			var acc float64
			for k, wt := range w {
				acc += float64(px[k]) * wt
			}
			dst[o] = float32(acc)
		}
	case 3:
		for o := 0; o < len(dst)/3; o++ {
			lo, n := c.start[o], c.n[o]
			w := c.w[o*c.ksize : o*c.ksize+n]
			px := row[lo*3 : (lo+n)*3]
			var a0, a1, a2 float64
			for k, wt := range w {
				p := px[k*3 : k*3+3]
				a0 += float64(p[0]) * wt
				a1 += float64(p[1]) * wt
				a2 += float64(p[2]) * wt
			}
			dst[o*3], dst[o*3+1], dst[o*3+2] = float32(a0), float32(a1), float32(a2)
		}
	default:
		for o := 0; o < len(dst)/C; o++ {
			lo, n := c.start[o], c.n[o]
			w := c.w[o*c.ksize : o*c.ksize+n]
			for ch := range C {
				var acc float64
				for k, wt := range w {
					acc += float64(row[(lo+k)*C+ch]) * wt
				}
				dst[o*C+ch] = float32(acc)
			}
		}
	}
}
