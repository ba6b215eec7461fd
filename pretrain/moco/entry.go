package moco

import (
	"flag"
	"fmt"

	"github.com/swav-go/swav/pretrain/method"
)

// Entry is MoCo v2's registry entry. Its flags are the reference's main_moco.py --moco-t,
// --moco-m and --moco-k (0: the default for the data, see Config), and --small-crops for
// multi-crop.
func Entry() method.Entry {
	return method.Entry{
		Name:    Name,
		Summary: "MoCo v2 (Chen et al. 2020): InfoNCE against a queue of keys from a momentum encoder",
		New:     func() method.Method { return New(Config{}) },
		Flags: func(fs *flag.FlagSet) func() (method.Method, error) {
			var c Config
			fs.Float64Var(&c.Loss.Temperature, "temperature", 0.2, "softmax temperature τ of InfoNCE")
			fs.Float64Var(&c.Momentum, "key-momentum", 0.999, "momentum m of the key encoder's moving average")
			fs.IntVar(&c.QueueLength, "queue-length", 0, "queue length K (0: 5.1 % of the dataset, MoCo's 65536 of ImageNet's 1.28 M, a multiple of the batch size)")
			fs.IntVar(&c.SmallCrops, "small-crops", 0, "local views added as extra queries (multi-crop MoCo; default 0: none)")
			fs.IntVar(&c.SmallCropSize, "small-crop-size", 0, "size of the local views in pixels (default max(size/2, 16) up to 64 px)")
			return func() (method.Method, error) {
				if c.SmallCrops < 0 || c.SmallCropSize < 0 {
					return nil, fmt.Errorf("moco: --small-crops %d and --small-crop-size %d must be ≥ 0", c.SmallCrops, c.SmallCropSize)
				}
				return New(c), nil
			}
		},
	}
}
