// Package optim provides the optimisation pieces SwAV (Caron et al. 2020) trains
// with, as GoMLX optimisers (github.com/gomlx/gomlx/pkg/ml/train/optimizers
// v0.26.0 has neither): SGD with momentum in PyTorch's formulation, the LARS
// wrapper of the reference (apex LARC with clip=False), the per-iteration
// learning-rate schedule (linear warm-up, then cosine decay), and freezing of some
// variables (the prototypes) during the first iterations.
//
// Files:
//   - sgd.go: [SGD], [SGDConfig], [NewSGD].
//   - lars.go: [LARS], [LARSConfig], [NewLARS].
//   - schedule.go: [Schedule].
//   - learningrate.go: [SetLearningRate], the learning-rate variable.
//   - freeze.go: [Freeze], [FreezeByName].
//
// # How a training loop uses them
//
// Build the optimiser once:
//
//	sgd, err := optim.NewSGD(optim.SGDConfig{Momentum: 0.9, WeightDecay: 1e-6,
//		Freeze: []optim.Freeze{optim.FreezeByName("prototypes", 313)}})
//	opt, err := optim.NewLARS(sgd, optim.DefaultLARSConfig())
//
// and call opt.UpdateGraph(ctx, g, loss) in the training-step graph (train.Trainer
// does this). Each call of the step graph is one iteration: it increments the
// int64 variable "global_step" (optimizers.GlobalStepVariableName, in the scope of
// the ctx given to UpdateGraph, normally the root). The iteration index of a step
// is the value of global_step before the step, 0 for the first step: that is the
// reference's `iteration`, used both by the freezing rules (in-graph, no
// recompilation) and, on the host, by the schedule.
//
// Before each step the loop sets the learning rate on the host:
//
//	it := optimizers.GetGlobalStep(ctx)                   // iteration index of the next step
//	err := optim.SetLearningRate(ctx, schedule.At(int(it)))
//
// The optimisers read the learning rate from the context variable
// "/optimizers/learning_rate" (the GoMLX convention) at every step; it is not baked
// into the graph.
package optim
