package dataparallel

import (
	"fmt"
	"strings"
	"testing"

	"github.com/swav-go/swav/model"
)

// TestResNet50ParameterCounts checks docs/scaling.md's parameter arithmetic against the
// variables swav-go's own ResNet-50 SwAV network has (model.ResNet50().Variables()):
// 23,508,032 trainable backbone parameters (torchvision's ResNet-50 less its fc),
// 4,462,720 in the projection head, 384,000 prototypes, 28,354,752 in all, and 57,216
// batch-norm running statistics.
func TestResNet50ParameterCounts(t *testing.T) {
	specs, err := model.ResNet50().Variables()
	if err != nil {
		t.Fatal(err)
	}
	var backbone, prototypes, head, running int
	for _, v := range specs {
		n := 1
		for _, d := range v.Shape {
			n *= d
		}
		switch {
		case strings.HasSuffix(v.Name, "/"+model.RunningMeanVar) || strings.HasSuffix(v.Name, "/"+model.RunningVarVar):
			running += n
		case strings.HasPrefix(v.Name, model.BackboneScope+"/"):
			backbone += n
		case strings.HasPrefix(v.Name, model.PrototypesScope+"/"):
			prototypes += n
		default:
			head += n
		}
	}
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"backbone", backbone, 23_508_032},
		{"projection head", head, 4_462_720},
		{"prototypes", prototypes, 384_000},
		{"trainable total", backbone + head + prototypes, 28_354_752},
		{"BN running statistics", running, 57_216},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d parameters, docs/scaling.md says %d", c.what, c.got, c.want)
		}
	}
}

// forwardMACs returns the multiply-accumulates of one forward pass of cfg's backbone at
// size×size and of its head (projection and prototype scores) per crop, from the kernel
// shapes of cfg.Variables(): a backbone convolution costs k·k·in·out per output pixel,
// the output side being size/2 for the stem and size/2^(s+1) in stage s (1-based), where
// a bottleneck's first 1×1 convolution of a strided block runs at the previous stage's
// resolution (ResNet v1.5, stride on the 3×3); a head kernel costs in·out per crop.
func forwardMACs(t *testing.T, cfg model.Config, size int) (backbone, head int) {
	t.Helper()
	specs, err := cfg.Variables()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range specs {
		if !strings.HasSuffix(v.Name, "/"+model.KernelVar) {
			continue
		}
		if !strings.HasPrefix(v.Name, model.BackboneScope+"/") {
			if len(v.Shape) != 2 {
				t.Fatalf("head kernel %s has shape %v, want [in, out]", v.Name, v.Shape)
			}
			head += v.Shape[0] * v.Shape[1]
			continue
		}
		k, in, out := v.Shape[0], v.Shape[2], v.Shape[3]
		rest := strings.TrimPrefix(v.Name, model.BackboneScope+"/")
		side := size / 2 // the stem
		if rest != "conv1/"+model.KernelVar {
			var stage, block int
			var layer string
			if _, err := fmt.Sscanf(rest, "layer%d/%d/%s", &stage, &block, &layer); err != nil {
				t.Fatalf("unexpected backbone kernel %s: %v", v.Name, err)
			}
			side = size >> (stage + 1)
			if block == 0 && stage > 1 && strings.HasPrefix(layer, "conv1/") {
				side *= 2 // before the strided 3×3
			}
		}
		backbone += k * k * in * out * side * side
	}
	return backbone, head
}

// TestResNet50MACs checks docs/scaling.md's FLOP arithmetic on swav-go's ResNet-50: the
// published 4.09 G multiply-accumulates at 224 px (torchvision's ResNet-50 v1.5 less its
// fc), exactly (96/224)² = 9/49 of it at 96 px, 4,840,448 for the head per crop, and
// 12.72 G per 2×224 + 6×96 image.
func TestResNet50MACs(t *testing.T) {
	cfg := model.ResNet50()
	b224, head := forwardMACs(t, cfg, 224)
	b96, head96 := forwardMACs(t, cfg, 96)
	if b224 != 4_087_136_256 {
		t.Errorf("backbone at 224 px: %d MACs, docs/scaling.md says 4,087,136,256", b224)
	}
	if b96 != 750_698_496 || b96*49 != b224*9 {
		t.Errorf("backbone at 96 px: %d MACs, want 750,698,496 = 9/49 of %d", b96, b224)
	}
	if head != 4_840_448 || head96 != head {
		t.Errorf("head: %d and %d MACs per crop, want 4,840,448 at any size", head, head96)
	}
	if perImage := 2*(b224+head) + 6*(b96+head); perImage != 12_717_187_072 {
		t.Errorf("2×224 + 6×96 image: %d MACs forward, docs/scaling.md says 12,717,187,072", perImage)
	}
}
