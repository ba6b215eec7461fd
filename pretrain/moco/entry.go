package moco

import (
	"flag"

	"github.com/swav-go/swav/pretrain/method"
)

// Entry is MoCo v2's registry entry. Its flags are the reference's main_moco.py --moco-t,
// --moco-m and --moco-k (0: the default for the data, see Config).
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
			return func() (method.Method, error) { return New(c), nil }
		},
	}
}
