package contrastive

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/swav-go/swav/backend/compat"
)

// goldenPath is PyTorch's output (testdata/gen.py) and goldenSHA256 its digest as
// recorded in testdata/README.md.
const (
	goldenPath   = "testdata/golden.json"
	goldenSHA256 = "417dc29edc6755450f39e4a028252cd5b38ee21188f9006332919c7d614da8c9"
)

type matrix = [][]float64

// golden mirrors testdata/golden.json.
type golden struct {
	TorchVersion string `json:"torch_version"`
	NTXent       struct {
		Temperature float64 `json:"temperature"`
		ZA          matrix  `json:"z_a"`
		ZB          matrix  `json:"z_b"`
		Loss        float64 `json:"loss"`
		GradA       matrix  `json:"grad_a"`
		GradB       matrix  `json:"grad_b"`
	} `json:"ntxent"`
	NTXentMulticrop struct {
		Temperature float64          `json:"temperature"`
		Views       []matrix         `json:"views"`
		AllPairs    goldenMultiViews `json:"all_pairs"`
		Large2      goldenMultiViews `json:"large_2"`
	} `json:"ntxent_multicrop"`
	InfoNCE struct {
		Temperature float64 `json:"temperature"`
		Q           matrix  `json:"q"`
		K           matrix  `json:"k"`
		Queue       matrix  `json:"queue"`
		Loss        float64 `json:"loss"`
		GradQ       matrix  `json:"grad_q"`
	} `json:"infonce"`
	PIRL struct {
		Temperature float64    `json:"temperature"`
		Lambda      float64    `json:"lambda"`
		DataSize    int        `json:"data_size"`
		Jigsaw      matrix     `json:"jigsaw"`
		Image       matrix     `json:"image"`
		Positive    matrix     `json:"positive"`
		Negatives   matrix     `json:"negatives"`
		EstimatedZ  goldenPIRL `json:"estimated_z"`
		GivenZ      goldenPIRL `json:"given_z"`
	} `json:"pirl"`
}

type goldenPIRL struct {
	PartitionIn float64 `json:"partition_in"`
	Partition   float64 `json:"partition"`
	Loss        float64 `json:"loss"`
	JigsawLoss  float64 `json:"jigsaw_loss"`
	ImageLoss   float64 `json:"image_loss"`
	GradJigsaw  matrix  `json:"grad_jigsaw"`
	GradImage   matrix  `json:"grad_image"`
}

type goldenMultiViews struct {
	LargeViews int      `json:"large_views"`
	Loss       float64  `json:"loss"`
	Grads      []matrix `json:"grads"`
}

// loadGolden reads the PyTorch vectors; a missing or unreadable file fails the test.
func loadGolden(t *testing.T) *golden {
	t.Helper()
	data, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("golden file: %v", err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("parsing %s: %v", goldenPath, err)
	}
	if len(g.NTXent.ZA) == 0 || len(g.NTXentMulticrop.Views) == 0 || len(g.InfoNCE.Queue) == 0 || len(g.PIRL.Negatives) == 0 {
		t.Fatalf("golden file %s lacks expected sections", goldenPath)
	}
	return &g
}

// TestGoldenIsPyTorchOutput: the committed golden file is byte for byte the output of
// testdata/gen.py whose digest testdata/README.md records (an edit by hand is caught).
func TestGoldenIsPyTorchOutput(t *testing.T) {
	data, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != goldenSHA256 {
		t.Fatalf("%s has SHA-256 %s, want %s (gen.py's output, see testdata/README.md)", goldenPath, got, goldenSHA256)
	}
	readme, err := os.ReadFile("testdata/README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), goldenSHA256) {
		t.Errorf("testdata/README.md does not record the golden file's digest %s", goldenSHA256)
	}
}

// newBackend returns the project's compat backend: the pure-Go simplego, scheduled
// sequentially, with the ops a convolution's gradient needs (the losses' similarity
// products are 1×1 convolutions).
func newBackend(t *testing.T) backends.Backend {
	t.Helper()
	b, err := compat.New("")
	if err != nil {
		t.Fatalf("creating the compat backend: %v", err)
	}
	t.Cleanup(b.Finalize)
	return b
}

// tol is the tolerance against float64 references: 1e-9 in float64, 1e-4 in float32.
func tol(dtype dtypes.DType) float64 {
	if dtype == dtypes.Float64 {
		return 1e-9
	}
	return 1e-4
}

// toTensor converts a float64 matrix to a tensor of dtype (float64 or float32).
func toTensor(t *testing.T, m matrix, dtype dtypes.DType) *tensors.Tensor {
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
func asMatrix(t *testing.T, x *tensors.Tensor) matrix {
	t.Helper()
	switch v := x.Value().(type) {
	case [][]float64:
		return v
	case [][]float32:
		out := make(matrix, len(v))
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

// assertClose fails if got and want differ anywhere by more than tolerance, or got
// is not finite.
func assertClose(t *testing.T, name string, got, want matrix, tolerance float64) {
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
				t.Errorf("%s[%d][%d] = %.12g, want %.12g (|diff| %.3g > %.0e)", name, i, j, got[i][j], want[i][j], d, tolerance)
			}
		}
	}
}

// assertScalar fails if got is not within tolerance of want (or not finite).
func assertScalar(t *testing.T, name string, got, want, tolerance float64) {
	t.Helper()
	if d := math.Abs(got - want); !(d <= tolerance) {
		t.Errorf("%s = %.12g, want %.12g (|diff| %.3g > %.0e)", name, got, want, d, tolerance)
	}
}

// lossAndGrads compiles f over len(inputs) matrices and returns f's value and its
// gradient with respect to each input.
func lossAndGrads(t *testing.T, f func(inputs []*graph.Node) *graph.Node, inputs []matrix, dtype dtypes.DType) (float64, []matrix) {
	t.Helper()
	exec, err := graph.NewExec(newBackend(t), func(params []*graph.Node) []*graph.Node {
		loss := f(params)
		return append([]*graph.Node{loss}, graph.Gradient(loss, params...)...)
	})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	defer exec.Finalize()
	args := make([]any, len(inputs))
	for i, m := range inputs {
		args[i] = toTensor(t, m, dtype)
	}
	out, err := exec.Exec(args...)
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	if out[0].DType() != dtype {
		t.Errorf("loss dtype %s, want %s", out[0].DType(), dtype)
	}
	grads := make([]matrix, len(inputs))
	for i := range grads {
		grads[i] = asMatrix(t, out[1+i])
	}
	return asScalar(t, out[0]), grads
}

// normalize returns the rows of m divided by their L2 norms.
func normalize(m matrix) matrix {
	out := make(matrix, len(m))
	for i, row := range m {
		norm := 0.0
		for _, v := range row {
			norm += v * v
		}
		norm = math.Sqrt(norm)
		out[i] = make([]float64, len(row))
		for j, v := range row {
			out[i][j] = v / norm
		}
	}
	return out
}

// dot is the inner product of two vectors.
func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// logSumExp64 is log Σ exp(x), max-shifted, in float64.
func logSumExp64(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}
