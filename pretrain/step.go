package pretrain

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/swav-go/swav/model"
	"github.com/swav-go/swav/optim"
	"github.com/swav-go/swav/swavloss"
)

// queueScope is the context scope of the queue's variables.
const queueScope = "swav_queue"

// updater is the optimiser's graph interface (optim.SGD and optim.LARS).
type updater interface {
	UpdateGraph(ctx *context.Context, g *Graph, loss *Node)
}

// newOptimizer builds SGD with momentum, wrapped in LARS unless disabled, with the
// prototypes frozen for the first iterations.
func newOptimizer(o Options, itersPerEpoch int) (updater, error) {
	cfg := optim.ReferenceSGDConfig()
	cfg.Momentum = o.Momentum
	cfg.WeightDecay = o.WeightDecay
	freeze := o.FreezePrototypesIters
	if freeze == 0 {
		freeze = itersPerEpoch
	}
	if freeze > 0 {
		cfg.Freeze = []optim.Freeze{optim.FreezeByName(model.PrototypesScope+"/", int64(freeze))}
	}
	sgd, err := optim.NewSGD(cfg)
	if err != nil {
		return nil, err
	}
	if o.NoLARS {
		return sgd, nil
	}
	lcfg := optim.DefaultLARSConfig()
	lcfg.TrustCoefficient = o.TrustCoefficient
	return optim.NewLARS(sgd, lcfg)
}

// stepGraph is one SwAV iteration. inputs[0] is a boolean scalar, true when the queue may
// be used and pushed (from EpochQueueStarts on); inputs[1:] hold the crops of each
// resolution, crop-major ([count·B, size, size, C]: all images of the first crop, then of
// the second …). It returns the loss, the mean entropy of the first assignment crop's
// codes, and how many prototypes those codes use.
func (t *trainer) stepGraph(ctx *context.Context, inputs []*Node) []*Node {
	o := t.opts
	cfg := o.Model
	queueActive, crops := inputs[0], inputs[1:]
	g := queueActive.Graph()
	B := o.BatchSize

	// Prototypes are L2-normalised before every step (the reference does it in place
	// before the forward pass); the optimiser then updates the normalised values.
	protoVar := model.PrototypesVariable(ctx, cfg, dtypes.Float32)
	prototypes := L2NormalizeWithEpsilon(protoVar.ValueGraph(g), 1e-12, 0)
	protoVar.SetValueGraph(prototypes)

	// One backbone pass per resolution, as the reference: BN statistics are those of
	// all crops of that resolution together.
	feats := make([]*Node, len(crops))
	for i, x := range crops {
		feats[i] = model.Backbone(ctx, cfg, x, true)
	}
	z := model.Embed(model.Projection(ctx, cfg, Concatenate(feats, 0), true))
	scores := model.ScoresWith(z, prototypes)

	numCrops := o.Crops.NumCrops()
	if got := scores.Shape().Dimensions[0]; got != numCrops*B {
		panic(fmt.Sprintf("pretrain: %d scores for %d crops of %d images", got, numCrops, B))
	}
	perCrop := make([]*Node, numCrops)
	embeds := make([]*Node, numCrops)
	for v := range numCrops {
		perCrop[v] = Slice(scores, AxisRange(v*B, (v+1)*B))
		embeds[v] = Slice(z, AxisRange(v*B, (v+1)*B))
	}

	var qs *swavloss.QueueScores
	if t.queue != nil {
		qs = t.queue.Scores(g, Transpose(prototypes, 0, 1))
		qs.Use = And(qs.Use, queueActive)
	}
	loss, codes := swavloss.Loss(perCrop, o.Loss, qs)
	if t.queue != nil {
		assigned := make([]*Node, len(o.Loss.Assign))
		for j, c := range o.Loss.Assign {
			assigned[j] = embeds[c]
		}
		t.queue.Push(assigned, queueActive)
	}
	t.optimizer.UpdateGraph(ctx, g, loss)
	return []*Node{loss, swavloss.CodeEntropy(codes[0]), swavloss.PrototypesInUse(codes[0])}
}
