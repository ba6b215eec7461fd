package pirl

import (
	"flag"

	"github.com/swav-go/swav/pretrain/method"
)

// Entry is PIRL's registry entry. Its flags are the hyperparameters of VISSL's
// nce_loss_with_memory (0: the default for the data, see Config).
func Entry() method.Entry {
	return method.Entry{
		Name:    Name,
		Summary: "PIRL (Misra & van der Maaten 2020): NCE of jigsaw and image embeddings against a memory bank",
		New:     func() method.Method { return New(Config{}) },
		Flags: func(fs *flag.FlagSet) func() (method.Method, error) {
			var c Config
			fs.Float64Var(&c.Loss.NCE.Temperature, "temperature", 0.07, "temperature τ of the NCE scores")
			fs.Float64Var(&c.Loss.Lambda, "lambda", 0.5, "weight λ of the jigsaw-to-bank term (the image-to-bank term gets 1 − λ)")
			fs.IntVar(&c.Negatives, "negatives", 0, "memory-bank negatives K per step (0: 2.5 % of the dataset, VISSL's 32000 of ImageNet's 1.28 M)")
			fs.Float64Var(&c.BankMomentum, "bank-momentum", 0.5, "momentum μ of the memory bank's moving average")
			fs.StringVar(&c.Objective, "objective", ObjectiveNCE, "loss of each term against the bank: nce (PIRL's) or infonce (VISSL's cross_entropy)")
			return func() (method.Method, error) { return New(c), nil }
		},
	}
}
