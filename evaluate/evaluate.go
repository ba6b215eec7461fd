// Package evaluate connects models and data to the frozen-feature evaluation of package
// linearprobe: it embeds labelled sources with a model (or takes raw pixels, the
// baseline) into linearprobe datasets, and runs the probes.
package evaluate

import (
	gocontext "context"
	"fmt"

	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/infer"
	"github.com/swav-go/swav/linearprobe"
)

// Progress is called as items are processed (may be nil).
type Progress func(done, total int)

// Embed embeds every image of a labelled source with m. Images that fail to decode are
// skipped and listed when onError is dataset.Skip; with dataset.Fail the first one stops
// with an error naming it.
func Embed(ctx gocontext.Context, m *infer.Model, src dataset.Source, onError dataset.OnError, progress Progress) (linearprobe.Dataset, []dataset.Skipped, error) {
	d := linearprobe.Dataset{D: m.Dim(), Classes: src.Classes()}
	var skipped []dataset.Skipped
	n := src.Len()
	done := 0
	err := m.EachImage(ctx, src, func(i int, vec []float32, err error) error {
		done++
		if progress != nil {
			progress(done, n)
		}
		if err != nil {
			return onError.Handle(&skipped, src.Name(i), err)
		}
		label, ok := src.Label(i)
		if !ok {
			return fmt.Errorf("evaluate: %s has no label", src.Name(i))
		}
		d.Features = append(d.Features, vec...)
		d.Labels = append(d.Labels, label)
		d.N++
		return nil
	})
	if err != nil {
		return linearprobe.Dataset{}, skipped, err
	}
	return d, skipped, nil
}

// RawPixels returns the [0,1] pixels of every image of a labelled source as features
// (channels as the first image; all images must share its size): the raw-pixel baseline.
func RawPixels(src dataset.Source, channels int) (linearprobe.Dataset, error) {
	d := linearprobe.Dataset{Classes: src.Classes()}
	for i := range src.Len() {
		img, err := src.Image(i)
		if err != nil {
			return linearprobe.Dataset{}, err
		}
		t := imageio.ToTensor(img, channels)
		if d.D == 0 {
			d.D = len(t.Pix)
		}
		if len(t.Pix) != d.D {
			return linearprobe.Dataset{}, fmt.Errorf("evaluate: %s has %d values, the first image %d", src.Name(i), len(t.Pix), d.D)
		}
		label, ok := src.Label(i)
		if !ok {
			return linearprobe.Dataset{}, fmt.Errorf("evaluate: %s has no label", src.Name(i))
		}
		d.Features = append(d.Features, t.Pix...)
		d.Labels = append(d.Labels, label)
		d.N++
	}
	return d, nil
}
