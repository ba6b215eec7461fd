package swavloss

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// golden mirrors testdata/swav_reference.json (see testdata/README.md).
type golden struct {
	Epsilon            float64 `json:"epsilon"`
	SinkhornIterations int     `json:"sinkhorn_iterations"`
	Temperature        float64 `json:"temperature"`
	Sinkhorn           struct {
		Scores   [][]float64 `json:"scores"`
		Q        [][]float64 `json:"Q"`
		QFloat32 [][]float64 `json:"Q_float32"`
	} `json:"sinkhorn"`
	SwavLoss struct {
		Z            [][]float64 `json:"z"`
		C            [][]float64 `json:"C"`
		Scores       [][]float64 `json:"scores"`
		QCrop0       [][]float64 `json:"q_crop0"`
		QCrop1       [][]float64 `json:"q_crop1"`
		Loss         float64     `json:"loss"`
		DLossDScores [][]float64 `json:"dloss_dscores"`
	} `json:"swav_loss"`
	SwavLossQueue struct {
		QueueIn      [][][]float64 `json:"queue_in"`
		QueueOut     [][][]float64 `json:"queue_out"`
		QCrop0       [][]float64   `json:"q_crop0"`
		QCrop1       [][]float64   `json:"q_crop1"`
		Loss         float64       `json:"loss"`
		UseTheQueue  bool          `json:"use_the_queue"`
		DLossDScores [][]float64   `json:"dloss_dscores"`
	} `json:"swav_loss_queue"`
}

// goldenPath is the reference vectors' file, committed in the repository, and
// goldenSHA256 its digest as recorded in testdata/README.md.
const (
	goldenPath   = "testdata/swav_reference.json"
	goldenSHA256 = "e03885823783063308144fd29a37bddd809c6db8823999235fa1ab75284765ca"
)

// loadGolden reads the reference vectors; a missing file is a hard failure.
func loadGolden(t *testing.T) *golden {
	t.Helper()
	path := goldenPath
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file missing: %v", err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	if len(g.Sinkhorn.Q) == 0 || len(g.SwavLoss.DLossDScores) == 0 || len(g.SwavLossQueue.QueueOut) == 0 {
		t.Fatalf("golden file %s lacks expected fields", path)
	}
	return &g
}

// newBackend returns the pure-Go backend, scheduled sequentially (the parallel
// scheduler can hang on the CI machines).
func newBackend(t *testing.T) backends.Backend {
	t.Helper()
	b, err := backends.NewWithConfig("go:ops_sequential")
	if err != nil {
		t.Fatalf("creating simplego backend: %v", err)
	}
	t.Cleanup(b.Finalize)
	return b
}

// tol is the golden tolerance for a dtype: 1e-5 in float64, 1e-4 in float32.
func tol(dtype dtypes.DType) float64 {
	if dtype == dtypes.Float64 {
		return 1e-5
	}
	return 1e-4
}

// matrixTensor converts a float64 matrix to a tensor of the given dtype.
func matrixTensor(t *testing.T, m [][]float64, dtype dtypes.DType) *tensors.Tensor {
	t.Helper()
	switch dtype {
	case dtypes.Float64:
		return tensors.FromValue(m)
	case dtypes.Float32:
		out := make([][]float32, len(m))
		for i, row := range m {
			out[i] = make([]float32, len(row))
			for j, v := range row {
				out[i][j] = float32(v)
			}
		}
		return tensors.FromValue(out)
	}
	t.Fatalf("unsupported dtype %s", dtype)
	return nil
}

// asMatrix reads a rank-2 float tensor as float64.
func asMatrix(t *testing.T, x *tensors.Tensor) [][]float64 {
	t.Helper()
	switch v := x.Value().(type) {
	case [][]float64:
		return v
	case [][]float32:
		out := make([][]float64, len(v))
		for i, row := range v {
			out[i] = make([]float64, len(row))
			for j, e := range row {
				out[i][j] = float64(e)
			}
		}
		return out
	}
	t.Fatalf("tensor %s is not a float matrix", x.Shape())
	return nil
}

// asScalar reads a float scalar tensor as float64.
func asScalar(t *testing.T, x *tensors.Tensor) float64 {
	t.Helper()
	switch v := x.Value().(type) {
	case float64:
		return v
	case float32:
		return float64(v)
	}
	t.Fatalf("tensor %s is not a float scalar", x.Shape())
	return 0
}

// assertClose fails if any element of got differs from want by more than tolerance,
// or is not finite.
func assertClose(t *testing.T, name string, got, want [][]float64, tolerance float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d rows, want %d", name, len(got), len(want))
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("%s: row %d has %d columns, want %d", name, i, len(got[i]), len(want[i]))
		}
		for j := range want[i] {
			if d := math.Abs(got[i][j] - want[i][j]); !(d <= tolerance) {
				t.Errorf("%s[%d][%d] = %.10g, want %.10g (|diff| %.3g > %.0e)", name, i, j, got[i][j], want[i][j], d, tolerance)
			}
		}
	}
}

// rows returns m[from:to].
func rows(m [][]float64, from, to int) [][]float64 { return m[from:to] }

// sinkhornFloat64 is a plain-Go float64 transcription of the reference's
// distributed_sinkhorn (world size 1), in the exp domain, used to check the graph
// version on inputs beyond the golden file.
func sinkhornFloat64(scores [][]float64, epsilon float64, iterations int) [][]float64 {
	numSamples, numPrototypes := len(scores), len(scores[0]) // B, K
	q := make([][]float64, numPrototypes)                    // K×B
	total := 0.0
	for k := range q {
		q[k] = make([]float64, numSamples)
		for b := range q[k] {
			q[k][b] = math.Exp(scores[b][k] / epsilon)
			total += q[k][b]
		}
	}
	for k := range q {
		for b := range q[k] {
			q[k][b] /= total
		}
	}
	for range iterations {
		for k := range q {
			sum := 0.0
			for _, v := range q[k] {
				sum += v
			}
			for b := range q[k] {
				q[k][b] = q[k][b] / sum / float64(numPrototypes)
			}
		}
		for b := range numSamples {
			sum := 0.0
			for k := range q {
				sum += q[k][b]
			}
			for k := range q {
				q[k][b] = q[k][b] / sum / float64(numSamples)
			}
		}
	}
	out := make([][]float64, numSamples)
	for b := range out {
		out[b] = make([]float64, numPrototypes)
		for k := range out[b] {
			out[b][k] = q[k][b] * float64(numSamples)
		}
	}
	return out
}
