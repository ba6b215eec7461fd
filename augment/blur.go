package augment

import "math"

// blurRadius is the half-width of the Gaussian kernel used for sigma:
// ceil(3σ), so the kernel covers ±3σ and has 2·ceil(3σ)+1 taps.
func blurRadius(sigma float64) int {
	return int(math.Ceil(3 * sigma))
}

// reflect maps an index outside [0, n) back inside by mirroring about the
// edge pixels without repeating them (… 2 1 | 0 1 2 … n-1 | n-2 …), the
// "reflect" mode of numpy/PyTorch and BORDER_REFLECT_101 of OpenCV. Indices
// further than one period away are folded repeatedly, so tiny images work
// with any radius.
func reflect(i, n int) int {
	if n == 1 {
		return 0
	}
	period := 2 * (n - 1)
	i %= period
	if i < 0 {
		i += period
	}
	if i >= n {
		i = period - i
	}
	return i
}

// gaussianBlur blurs the h×w×c image pix in place with a separable,
// normalised Gaussian of standard deviation sigma (see blurRadius for the
// kernel size), reflect-padding at the borders. Both passes exploit the
// kernel's symmetry, k[r-t] == k[r+t], to halve the multiplications.
func gaussianBlur(pix []float32, h, w, c int, sigma float64, s *scratch) {
	r := blurRadius(sigma)
	taps := 2*r + 1
	s.kernel = growF32(s.kernel, taps)
	k := s.kernel
	var sum float64
	for t := range taps {
		d := float64(t - r)
		sum += math.Exp(-d * d / (2 * sigma * sigma))
	}
	for t := range taps {
		d := float64(t - r)
		k[t] = float32(math.Exp(-d*d/(2*sigma*sigma)) / sum)
	}

	rowLen := w * c
	s.tmp = growF32(s.tmp, h*rowLen)
	s.line = growF32(s.line, (w+2*r)*c)
	line := s.line

	// Horizontal pass: pix -> tmp, through a reflect-padded copy of the row.
	for y := range h {
		row := pix[y*rowLen : (y+1)*rowLen]
		for x := range w + 2*r {
			sx := reflect(x-r, w)
			copy(line[x*c:(x+1)*c], row[sx*c:(sx+1)*c])
		}
		blurRow(line, k, r, c, s.tmp[y*rowLen:(y+1)*rowLen])
	}

	// Vertical pass: tmp -> pix, accumulating whole rows (contiguous
	// memory), two symmetric tap pairs per sweep over the output row.
	kc := k[r]
	for y := range h {
		d := pix[y*rowLen : (y+1)*rowLen]
		ctr := s.tmp[y*rowLen : (y+1)*rowLen]
		for i, v := range ctr {
			d[i] = kc * v
		}
		row := func(dy int) []float32 {
			o := reflect(y+dy, h) * rowLen
			return s.tmp[o : o+rowLen : o+rowLen]
		}
		t := 1
		for ; t+1 <= r; t += 2 {
			a, b, e, f := row(-t), row(t), row(-t-1), row(t+1)
			k1, k2 := k[r-t], k[r-t-1]
			a, b, e, f = a[:len(d)], b[:len(d)], e[:len(d)], f[:len(d)]
			for i := range d {
				d[i] += k1*(a[i]+b[i]) + k2*(e[i]+f[i])
			}
		}
		if t == r {
			a, b := row(-t), row(t)
			k1 := k[r-t]
			a, b = a[:len(d)], b[:len(d)]
			for i := range d {
				d[i] += k1 * (a[i] + b[i])
			}
		}
	}
}

// blurRow convolves the reflect-padded row line ((w+2r)·c values) with the
// symmetric kernel k (2r+1 taps) into dst (w·c values).
func blurRow(line, k []float32, r, c int, dst []float32) {
	kc := k[r]
	switch c {
	case 1:
		for x := range dst {
			win := line[x : x+2*r+1]
			acc := kc * win[r]
			for t := range r {
				acc += k[t] * (win[t] + win[2*r-t])
			}
			dst[x] = acc
		}
	case 3:
		for x := 0; x < len(dst); x += 3 {
			win := line[x : x+(2*r+1)*3]
			a0, a1, a2 := kc*win[3*r], kc*win[3*r+1], kc*win[3*r+2]
			for t := range r {
				kt := k[t]
				lo := win[3*t : 3*t+3]
				hi := win[3*(2*r-t) : 3*(2*r-t)+3]
				a0 += kt * (lo[0] + hi[0])
				a1 += kt * (lo[1] + hi[1])
				a2 += kt * (lo[2] + hi[2])
			}
			dst[x], dst[x+1], dst[x+2] = a0, a1, a2
		}
	default:
		for i := range dst {
			acc := kc * line[i+r*c]
			for t := range r {
				acc += k[t] * (line[i+t*c] + line[i+(2*r-t)*c])
			}
			dst[i] = acc
		}
	}
}
