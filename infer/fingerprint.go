package infer

import (
	gocontext "context"
	"fmt"
	"math"

	"github.com/swav-go/swav/imageio"
)

// FingerprintInputs is the number of fixed synthetic inputs Fingerprint embeds.
const FingerprintInputs = 4

// Fingerprint returns the model's vectors (its Options.Output, L2-normalised whatever
// Options.Raw says) of FingerprintInputs fixed synthetic inputs at its input size,
// concatenated: smooth ramps and checkerboards in normalised pixel units. Two models
// agree on them only if they compute the same function, up to float rounding — a
// float16 export agrees with its float32 original, another training does not — so a
// saved linear probe can check that it is given the model it was trained on
// (linearprobe.Probe.CheckSource).
func (m *Model) Fingerprint(ctx gocontext.Context) ([]float32, error) {
	s, c := m.pre.InputSize, m.pre.Channels
	inputs := make([]imageio.Tensor, FingerprintInputs)
	for k := range inputs {
		t := imageio.NewTensor(s, s, c)
		for y := range s {
			for x := range s {
				for ch := range c {
					u, v := float64(x)/float64(s), float64(y)/float64(s)
					var val float64
					switch k {
					case 0: // diagonal ramp
						val = 2*(u+v) - 2
					case 1: // horizontal sine, phase per channel
						val = 1.5 * math.Sin(2*math.Pi*(2*u+float64(ch)/3))
					case 2: // 4×4 checkerboard
						val = 1.5 * float64(1-2*((int(4*u)+int(4*v))%2))
					default: // centred disc
						if (u-0.5)*(u-0.5)+(v-0.5)*(v-0.5) < 0.09 {
							val = 2
						} else {
							val = -1
						}
					}
					t.Pix[(y*s+x)*c+ch] = float32(val)
				}
			}
		}
		inputs[k] = t
	}
	vecs, err := m.EmbedTensors(ctx, inputs)
	if err != nil {
		return nil, fmt.Errorf("infer: fingerprint: %w", err)
	}
	out := make([]float32, 0, len(vecs)*m.Dim())
	for _, v := range vecs {
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		n = math.Sqrt(n)
		for _, x := range v {
			out = append(out, float32(float64(x)/max(n, 1e-12)))
		}
	}
	return out, nil
}
