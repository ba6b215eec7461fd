package augment

// SimCLRViews returns SimCLR's two-view augmentation (Chen et al. 2020, its
// CIFAR-10 recipe, the one for small images) for size×size images: two views, each
// RandomResizedCrop(size, scale [0.08, 1], ratio [3/4, 4/3]), horizontal flip p 0.5,
// colour jitter of strength s = 0.5 — ColorJitter(0.8s, 0.8s, 0.8s, 0.2s) =
// (0.4, 0.4, 0.4, 0.1) — applied with p 0.8, grayscale p 0.2, and no blur (SimCLR
// blurs only at ImageNet scale). On 1-channel images saturation, hue and grayscale
// are no-ops: what is left is crop, flip, brightness and contrast.
//
// For SimCLR with multi-crop (the SwAV paper's ablation) append small crops, e.g.
// Crops = append(Crops, CropSpec{Count: 4, Size: size/2, MinScale: 0.05, MaxScale: 0.14})
// as [DefaultSmall] does.
//
// Mean and Std are nil (no normalisation): set them to the data's statistics.
func SimCLRViews(size int) MultiCrop {
	return MultiCrop{
		Crops:   []CropSpec{{Count: 2, Size: size, MinScale: 0.08, MaxScale: 1}},
		FlipP:   0.5,
		Jitter:  ColorJitter{Brightness: 0.4, Contrast: 0.4, Saturation: 0.4, Hue: 0.1},
		JitterP: 0.8,
		GrayP:   0.2,
		// BlurSigma keeps SimCLR's ImageNet range should a caller enable BlurP.
		BlurSigma: [2]float64{0.1, 2.0},
	}
}

// MoCoV2Views returns MoCo v2's augmentation (Chen et al. 2020, "Improved Baselines
// with Momentum Contrastive Learning"; facebookresearch/moco main_moco.py with
// --aug-plus) for size×size images: two views (query and key), each
// RandomResizedCrop(size, scale [0.2, 1]), colour jitter (0.4, 0.4, 0.4, 0.1) with
// p 0.8, grayscale p 0.2, horizontal flip p 0.5. MoCo v2's Gaussian blur (p 0.5,
// σ ∈ [0.1, 2] at 224 px) is off (BlurP 0, BlurSigma kept): scaled to 28 px its σ
// would be under a third of a pixel, and at the unscaled σ it wipes out a 28 px
// view, as [DefaultSmall] explains.
//
// Mean and Std are nil (no normalisation): set them to the data's statistics.
func MoCoV2Views(size int) MultiCrop {
	return MultiCrop{
		Crops:     []CropSpec{{Count: 2, Size: size, MinScale: 0.2, MaxScale: 1}},
		FlipP:     0.5,
		Jitter:    ColorJitter{Brightness: 0.4, Contrast: 0.4, Saturation: 0.4, Hue: 0.1},
		JitterP:   0.8,
		GrayP:     0.2,
		BlurSigma: [2]float64{0.1, 2.0},
	}
}
