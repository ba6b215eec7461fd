package augment

import (
	"math"
	"math/rand/v2"
)

// Aspect-ratio range of RandomResizedCrop (torchvision's default, used by
// the SwAV reference).
const (
	minRatio = 3.0 / 4.0
	maxRatio = 4.0 / 3.0
)

// cropBox is a crop window: rows [top, top+h), columns [left, left+w).
type cropBox struct{ top, left, h, w int }

// sampleCrop draws a RandomResizedCrop window for an imgH×imgW image exactly
// as torchvision's RandomResizedCrop.get_params does: up to 10 attempts of
// (area fraction ~ U(minScale, maxScale), aspect ratio ~ exp(U(log 3/4,
// log 4/3))), with width = round(sqrt(area*ratio)) and height =
// round(sqrt(area/ratio)) rounded half to even like Python's round; the
// first window that fits is placed uniformly at random. If none fits, the
// fallback is a centred crop of the whole image with its aspect ratio
// clamped to [3/4, 4/3].
func sampleCrop(rng *rand.Rand, imgH, imgW int, minScale, maxScale float64) cropBox {
	area := float64(imgH * imgW)
	logLo, logHi := math.Log(minRatio), math.Log(maxRatio)
	for range 10 {
		target := area * (minScale + (maxScale-minScale)*rng.Float64())
		ratio := math.Exp(logLo + (logHi-logLo)*rng.Float64())
		w := int(math.RoundToEven(math.Sqrt(target * ratio)))
		h := int(math.RoundToEven(math.Sqrt(target / ratio)))
		if w > 0 && w <= imgW && h > 0 && h <= imgH {
			top := rng.IntN(imgH - h + 1)
			left := rng.IntN(imgW - w + 1)
			return cropBox{top, left, h, w}
		}
	}
	w, h := imgW, imgH
	inRatio := float64(imgW) / float64(imgH)
	switch {
	case inRatio < minRatio:
		h = int(math.RoundToEven(float64(w) / minRatio))
	case inRatio > maxRatio:
		w = int(math.RoundToEven(float64(h) * maxRatio))
	}
	return cropBox{(imgH - h) / 2, (imgW - w) / 2, h, w}
}

// hflip mirrors an h×w×c image left to right in place.
func hflip(pix []float32, h, w, c int) {
	rowLen := w * c
	for y := range h {
		row := pix[y*rowLen : (y+1)*rowLen]
		for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
			for ch := range c {
				row[i*c+ch], row[j*c+ch] = row[j*c+ch], row[i*c+ch]
			}
		}
	}
}
