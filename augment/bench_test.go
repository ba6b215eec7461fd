package augment

import (
	"math/rand/v2"
	"testing"
)

func benchApply(b *testing.B, m MultiCrop, h, w, c int) {
	img := randomImage(rand.New(rand.NewPCG(1, 2)), h, w, c)
	rng := rand.New(rand.NewPCG(3, 4))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m.Apply(rng, img)
	}
}

// BenchmarkApplySmall: 28×28×1 input, 2×28 + 4×14 views, MNIST-style
// normalisation.
func BenchmarkApplySmall(b *testing.B) {
	m := DefaultSmall(28)
	m.Mean, m.Std = []float32{0.1307}, []float32{0.3081}
	benchApply(b, m, 28, 28, 1)
}

// BenchmarkApplyImageNet: 256×256×3 input, 2×224 + 6×96 views.
func BenchmarkApplyImageNet(b *testing.B) {
	benchApply(b, DefaultImageNet(), 256, 256, 3)
}
