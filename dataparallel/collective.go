package dataparallel

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/distributed"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Collective is the cross-replica reduction that the sharded computations need, the
// counterpart of torch.distributed.all_reduce in the reference.
//
// A program holds the values of one or more replicas: AllReduce takes one node per
// replica this program holds (all n for [Simulated], the device's own for [SPMD]), all of
// the same shape, and returns, in the same order, the reduction of that value over all
// n replicas — identical for every replica, as an all-reduce's result is.
type Collective interface {
	// Replicas returns n, the number of replicas the global batch is split over.
	Replicas() int
	// AllReduce reduces each value across the replicas with op, which is
	// backends.ReduceOpSum or backends.ReduceOpMax. It panics on a wrong number of
	// values, mismatched shapes or another op.
	AllReduce(perReplica []*graph.Node, op backends.ReduceOpType) []*graph.Node
}

// Simulated is a [Collective] whose program holds every replica: all N shards are nodes
// of the same graph and the all-reduce is an elementwise sum or maximum of them. It runs
// on any backend, including the pure-Go ones with their single device, and gives exactly
// the arithmetic an SPMD all-reduce gives (up to the order of the floating-point sum).
type Simulated struct {
	// N is the number of replicas.
	N int
}

// Replicas implements [Collective].
func (s Simulated) Replicas() int { return s.N }

// AllReduce implements [Collective]: perReplica must hold exactly N nodes.
func (s Simulated) AllReduce(perReplica []*graph.Node, op backends.ReduceOpType) []*graph.Node {
	if s.N < 1 || len(perReplica) != s.N {
		panic(fmt.Sprintf("dataparallel.Simulated.AllReduce: %d values for %d replicas", len(perReplica), s.N))
	}
	if op != backends.ReduceOpSum && op != backends.ReduceOpMax {
		panic(fmt.Sprintf("dataparallel.Simulated.AllReduce: reduction %s not supported (want %s or %s)", op, backends.ReduceOpSum, backends.ReduceOpMax))
	}
	checkSameShapes("Simulated.AllReduce", perReplica)
	acc := perReplica[0]
	for _, x := range perReplica[1:] {
		if op == backends.ReduceOpSum {
			acc = graph.Add(acc, x)
		} else {
			acc = graph.Max(acc, x)
		}
	}
	out := make([]*graph.Node, s.N)
	for i := range out {
		out[i] = acc
	}
	return out
}

// SPMD is a [Collective] for a graph compiled with GoMLX's SPMD strategy
// (graph.Exec.SPMD or graph.Graph.SetSPMD with Mesh): the program runs once per device
// and holds one replica, and AllReduce is GoMLX's AllReduce over every device of the
// mesh (graph.Graph.Distributed), lowered to stablehlo.all_reduce.
//
// GoMLX v0.26.0 defines no gradient for its AllReduce node (rev_autodiff.go has no VJP
// for NodeTypeAllReduce), so the sum is wrapped by [withSelfAdjointGradient]: its
// gradient is the all-reduced sum of the incoming gradients, which is the exact gradient
// of y_s = Σ_r x_r on every replica s, and what synchronised batch norm's backward pass
// computes. The maximum gets no gradient (Sinkhorn, its only user, stops gradients).
//
// In GoMLX v0.26.0 only the XLA backend compiles such graphs; the pure-Go backends fail
// at graph construction with "not implemented" for DistributedSPMD.
type SPMD struct {
	// Mesh is the 1-D mesh the graph was configured with (see [NewMesh]).
	Mesh *distributed.DeviceMesh
}

// Replicas implements [Collective]: the mesh's number of devices.
func (s SPMD) Replicas() int { return s.Mesh.NumDevices() }

// AllReduce implements [Collective]: perReplica must hold one node, the device's own.
func (s SPMD) AllReduce(perReplica []*graph.Node, op backends.ReduceOpType) []*graph.Node {
	if len(perReplica) != 1 {
		panic(fmt.Sprintf("dataparallel.SPMD.AllReduce: an SPMD program holds 1 replica, got %d values", len(perReplica)))
	}
	if op != backends.ReduceOpSum && op != backends.ReduceOpMax {
		panic(fmt.Sprintf("dataparallel.SPMD.AllReduce: reduction %s not supported (want %s or %s)", op, backends.ReduceOpSum, backends.ReduceOpMax))
	}
	x := perReplica[0]
	allReduce := func(v *graph.Node) *graph.Node { return v.Graph().Distributed().AllReduceOne(v, op) }
	if op == backends.ReduceOpMax {
		return []*graph.Node{allReduce(graph.StopGradient(x))}
	}
	return []*graph.Node{withSelfAdjointGradient(x, allReduce)}
}

// withSelfAdjointGradient returns f(x) whose gradient, for an incoming gradient v, is
// f(v): the vector-Jacobian product of a linear, self-adjoint f (such as a sum
// all-reduce, whose Jacobian is all ones between replicas) without relying on f's own
// gradient. The forward value is f(x) exactly: it adds x − x, whose gradient goes through
// the custom identity.
func withSelfAdjointGradient(x *graph.Node, f func(*graph.Node) *graph.Node) *graph.Node {
	y := graph.StopGradient(f(graph.StopGradient(x)))
	through := graph.IdentityWithCustomGradient(x, func(_, v *graph.Node) *graph.Node { return f(v) })
	return graph.Add(y, graph.Sub(through, graph.StopGradient(x)))
}

// checkSameShapes panics unless all nodes have the same shape.
func checkSameShapes(where string, nodes []*graph.Node) {
	for i, x := range nodes[1:] {
		if !x.Shape().Equal(nodes[0].Shape()) {
			panic(fmt.Sprintf("dataparallel.%s: replica %d has shape %s, replica 0 has %s", where, i+1, x.Shape(), nodes[0].Shape()))
		}
	}
}
