package swav

import (
	"flag"

	"github.com/swav-go/swav/pretrain/method"
	"github.com/swav-go/swav/swavloss"
)

// Entry is SwAV's registry entry. Its flags are the reference's main_swav.py
// arguments, with this library's defaults (0 or empty: chosen for the data, see
// Config).
func Entry() method.Entry {
	return method.Entry{
		Name:    Name,
		Summary: "SwAV (Caron et al. 2020): swapped prediction of online cluster codes across multi-crop views",
		New:     func() method.Method { return New(Config{}) },
		Flags: func(fs *flag.FlagSet) func() (method.Method, error) {
			var c Config
			loss := swavloss.DefaultConfig()
			method.IntsFlag(fs, &c.CropCounts, "nmb-crops", "number of crops per resolution (default 2,6; 2,4 up to 64 px; -1 drops a resolution: 2,-1 is no multi-crop)")
			method.IntsFlag(fs, &c.CropSizes, "size-crops", "crop sizes in pixels (default 224,96; the data size and max(size/2, 16) up to 64 px)")
			method.FloatsFlag(fs, &c.CropMinScales, "min-scale-crops", "RandomResizedCrop minimum area scale per resolution (default 0.14,0.05)")
			method.FloatsFlag(fs, &c.CropMaxScales, "max-scale-crops", "RandomResizedCrop maximum area scale per resolution (default 1,0.14)")
			method.IntsFlag(fs, &loss.Assign, "crops-for-assign", "crops whose codes are computed (default 0,1)")
			fs.Float64Var(&loss.Temperature, "temperature", loss.Temperature, "softmax temperature τ of the swapped prediction")
			fs.Float64Var(&loss.Epsilon, "epsilon", loss.Epsilon, "entropic regularisation ε of Sinkhorn-Knopp")
			fs.IntVar(&loss.Iterations, "sinkhorn-iterations", loss.Iterations, "Sinkhorn-Knopp iterations")
			fs.IntVar(&c.FreezePrototypesIters, "freeze-prototypes-niters", 0, "iterations with frozen prototypes (0: 6.7 % of the run up to 64 px, else one epoch; -1 never)")
			fs.IntVar(&c.QueueLength, "queue-length", 0, "embeddings kept in the queue, trimmed to a multiple of --batch-size (0: 512 up to 64 px, else none; -1 none)")
			fs.IntVar(&c.EpochQueueStarts, "epoch-queue-starts", 0, "epoch from which the queue is used (default 0: from the start, the recipe; the reference uses 15)")
			return func() (method.Method, error) {
				c.Loss = loss
				return New(c), nil
			}
		},
	}
}
