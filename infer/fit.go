package infer

import (
	"fmt"
	"image"

	"github.com/swav-go/swav/checkpoint"
)

// Thresholds of CheckFit.
const (
	// fitSamples is the side of the grid of pixels CheckFit samples for colour.
	fitSamples = 32
	// colourSpread is the difference between a pixel's largest and smallest channel
	// (16-bit) above which the pixel counts as coloured: 1/8 of the range.
	colourSpread = 0xffff / 8
	// colourShare: an image is in colour when at least 1 in colourShare of the sampled
	// pixels are coloured (5 %), so JPEG chroma noise or a small logo does not count.
	colourShare = 20
	// sizeRatio: a shorter side under InputSize/sizeRatio, or (for a model of small
	// images) over InputSize·sizeRatio, is far from the model's input.
	sizeRatio = 4
	// smallInput: models whose input side is under this many pixels were trained on
	// small images (Fashion-MNIST, CIFAR); shrinking a photo to them loses its content.
	// Larger models (224 for ImageNet) are trained on downscaled photos.
	smallInput = 64
)

// CheckFit says how img clearly does not fit a model whose preprocessing is pre, or ""
// when it fits. It reports, in this order:
//   - a colour image for a grayscale (1-channel) model: at least 5 % of the pixels of
//     a 32×32 sampling grid have channels more than 1/8 of their range apart (the
//     colour is discarded, and the model never saw such images);
//   - a shorter side under a quarter of the model's input side (upscaled more than 4×);
//   - a shorter side over 4× the input side of a model of small images (input under
//     64 px, as the default Fashion-MNIST model's 28): its content is shrunk away. A
//     model of larger input (224 for ImageNet) is not warned about large images, which
//     it was trained to take downscaled.
//
// The check reads at most 32×32 pixels, a small cost beside decoding the image.
func CheckFit(pre checkpoint.Preprocess, img image.Image) string {
	problem, _ := fit(pre, img)
	return problem
}

// fit is CheckFit, also saying whether the problem is an image much smaller than the
// model's input.
func fit(pre checkpoint.Preprocess, img image.Image) (problem string, tooSmall bool) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	kind := "grayscale"
	if pre.Channels != 1 {
		kind = "colour"
	}
	want := fmt.Sprintf("a model of %d×%d %s images", pre.InputSize, pre.InputSize, kind)
	shorter := min(w, h)
	switch {
	case w <= 0 || h <= 0:
		return "", false // PrepareInput reports an empty image
	case pre.Channels == 1 && isColour(img):
		return fmt.Sprintf("a %d×%d colour image, for %s", w, h, want), false
	case shorter*sizeRatio < pre.InputSize:
		return fmt.Sprintf("a %d×%d image, for %s: it is enlarged %.0f×", w, h, want, float64(pre.ResizeSize)/float64(shorter)), true
	case pre.InputSize < smallInput && shorter > sizeRatio*pre.InputSize:
		return fmt.Sprintf("a %d×%d image, for %s: it is shrunk %.0f×", w, h, want, float64(shorter)/float64(pre.ResizeSize)), false
	}
	return "", false
}

// isColour reports whether at least 1 in colourShare of the pixels of a grid over img
// have channels more than colourSpread apart.
func isColour(img image.Image) bool {
	switch img.(type) {
	case *image.Gray, *image.Gray16, *image.Alpha, *image.Alpha16:
		return false
	}
	b := img.Bounds()
	nx, ny := min(b.Dx(), fitSamples), min(b.Dy(), fitSamples)
	coloured := 0
	for j := range ny {
		y := b.Min.Y + (2*j+1)*b.Dy()/(2*ny)
		for i := range nx {
			x := b.Min.X + (2*i+1)*b.Dx()/(2*nx)
			r, g, bl, _ := img.At(x, y).RGBA()
			if max(r, g, bl)-min(r, g, bl) > colourSpread {
				coloured++
			}
		}
	}
	return coloured*colourShare >= nx*ny
}

// photoAdvice is what the warning for photos given to a model of small or grayscale
// images recommends.
const photoAdvice = "For photos, use the paper's ResNet-50: download " +
	"https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar, convert it with " +
	"`swav-embed convert swav_800ep_pretrain.pth.tar --out swav-rn50.swav` and load swav-rn50.swav " +
	"(swav-embed embed --model swav-rn50.swav, or swav.Load in Go); " +
	"or pretrain a model on your own images: `swav-embed pretrain --data 'photos/**/*.jpg' --out model.swav`."

// smallAdvice is what the warning for images much smaller than the model's input
// recommends.
const smallAdvice = "Use a model trained on images of about this size: " +
	"`swav-embed pretrain --data 'images/**/*.png' --out model.swav` on your own images."

// checkFit calls Options.Warn, once per Model, when the image called name does not fit
// the model (see CheckFit).
func (m *Model) checkFit(name string, img image.Image) { m.warn(m.misfit(name, img)) }

// misfit returns the warning for the image called name when it does not fit the model,
// or "" when it fits, when Options.Warn is nil, or once the Model has warned.
func (m *Model) misfit(name string, img image.Image) string {
	if m.opts.Warn == nil || img == nil || m.warned.Load() {
		return ""
	}
	problem, tooSmall := fit(m.pre, img)
	if problem == "" {
		return ""
	}
	advice := photoAdvice
	if tooSmall {
		advice = smallAdvice
	}
	return fmt.Sprintf("%s is %s (%s): its vectors will say little about it. %s (Warned once per model.)",
		name, problem, m.name, advice)
}

// warn passes msg to Options.Warn if it is the Model's first warning; "" is no warning.
func (m *Model) warn(msg string) {
	if msg == "" {
		return
	}
	m.warnOnce.Do(func() {
		m.warned.Store(true)
		m.opts.Warn(msg)
	})
}
