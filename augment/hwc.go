package augment

import "github.com/swav-go/swav/imageio"

// Tensor is imageio.Tensor: a float32 image in HWC layout whose channel c
// of the pixel at row y, column x is Pix[(y*W+x)*C+c], with values in
// [0, 1] before normalisation. The alias lets callers write either name.
type Tensor = imageio.Tensor
