// Package augment implements the SwAV multi-crop data augmentation
// (Caron et al. 2020, "Unsupervised Learning of Visual Features by
// Contrasting Cluster Assignments") on float32 HWC images.
//
// One call to [MultiCrop.Apply] turns an image into the full list of views
// used by one SwAV training step: for every [CropSpec], Count independent
// views, each produced by the reference pipeline of
// facebookresearch/swav src/multicropdataset.py:
//
//  1. RandomResizedCrop(Size, scale=(MinScale, MaxScale), ratio=(3/4, 4/3))
//     followed by an antialiased bilinear resize to Size×Size, bit for bit
//     equal to imageio.Resize(imageio.Crop(img, ...), Size, Size);
//  2. RandomHorizontalFlip(FlipP);
//  3. RandomApply(ColorJitter(0.8s, 0.8s, 0.8s, 0.2s), JitterP);
//  4. RandomGrayscale(GrayP);
//  5. Gaussian blur with probability BlurP and sigma ~ U(BlurSigma);
//  6. per-channel normalisation (x - Mean[c]) / Std[c].
//
// # Differences from the PyTorch reference
//
// The reference runs steps 1-5 on 8-bit PIL images and rounds to integers
// after every step. This package works on float32 values in [0, 1]
// throughout and never quantises, so results agree with the reference only
// up to that rounding (about 1/255 per step). The colour operations follow
// torchvision's tensor implementations (functional_tensor adjust_*), with
// the PIL/ITU-R 601-2 luma weights 0.299, 0.587, 0.114 (torchvision's tensor
// path uses 0.2989 for red). The Gaussian blur is a true separable Gaussian,
// not PIL's extended-box approximation; see [MultiCrop.BlurSigma].
// Random numbers come from math/rand/v2, so no draw sequence of the
// PyTorch/NumPy generators is reproduced; only the distributions are.
//
// # Determinism
//
// All randomness comes from the *rand.Rand passed to Apply; the package has
// no global state. Derive that generator with [ImageRNG] from
// (seed, epoch, index) and every image gets the same views no matter how
// many worker goroutines process the dataset or in which order. Outputs are
// bit-identical for a given build; the Go specification lets compilers
// fuse multiply-adds on some architectures (arm64, ppc64, s390x, or amd64
// with GOAMD64=v3), so the last bits may differ between such builds.
package augment
