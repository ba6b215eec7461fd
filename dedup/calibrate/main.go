// Command calibrate measures where near-duplicates end by cosine similarity, to choose
// dedup.DefaultThreshold: it embeds real images and an augmented copy of each (random
// crop keeping 80–95 % of each side resized back, horizontal flip half the time,
// brightness and contrast ×0.8–1.2, JPEG re-encoding at quality 60–90), and compares the
// similarity of every (image, its copy) pair with that of every pair of different images.
//
//	go run ./dedup/calibrate                       # default model, Fashion-MNIST test + testdata/images
//	go run ./dedup/calibrate -write BENCHMARKS.md  # also the "dedup" section there
//
// For each threshold T it counts recall (copies found: positives ≥ T) and precision
// (positives ≥ T over all pairs ≥ T, the pairs of different images included), and reports
// the T of best F1.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/image/draw"

	swav "github.com/swav-go/swav"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/infer"
	"github.com/swav-go/swav/internal/mdsection"
	"github.com/swav-go/swav/neighbors"
)

func main() {
	n := flag.Int("n", 5000, "Fashion-MNIST test images (the first n)")
	copies := flag.Int("photo-copies", 5, "augmented copies of each photo in -photos")
	fashionDir := flag.String("fashion-dir", dataset.DefaultFashionMNISTDir, "Fashion-MNIST IDX files")
	photos := flag.String("photos", "testdata/images/*", "photos to add (glob)")
	modelPath := flag.String("model", "", "model checkpoint (default: the embedded default model)")
	write := flag.String("write", "", "also write the results into this markdown file, between <!-- dedup --> markers")
	outputName := flag.String("output", "features", "vectors: features or projection")
	center := flag.Bool("center", false, "subtract the originals' mean vector before comparing")
	flag.Parse()
	output, err := infer.ParseOutput(*outputName)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	var m *swav.Model
	if *modelPath == "" {
		m, err = swav.LoadDefault(infer.Options{Output: output})
	} else {
		m, err = swav.Load(*modelPath, infer.Options{Output: output})
	}
	if err != nil {
		fail(err)
	}
	rng := rand.New(rand.NewPCG(41, 42))
	var b strings.Builder
	fmt.Fprintf(&b, "`go run ./dedup/calibrate -n %d` (model: %s). Positives: each image against one augmented copy of itself (crop keeping 80–95 %% of each side, flip p=0.5, brightness and contrast ×U(0.8, 1.2), JPEG quality U(60, 90)); negatives: every pair of different originals. Precision counts all pairs at or above T.\n\n",
		*n, modelName(*modelPath)+", "+*outputName)
	b.WriteString("| images | positives | negatives | positive sim p1 / p5 / median | negatives ≥ 0.9 | best-F1 T | precision | recall | at 0.95: precision | recall |\n|---|---|---|---|---|---|---|---|---|---|\n")

	src, err := dataset.FashionMNIST(*fashionDir, false)
	if err != nil {
		fail(err)
	}
	var fashion []image.Image
	for i := range min(*n, src.Len()) {
		img, err := src.Image(i)
		if err != nil {
			fail(err)
		}
		fashion = append(fashion, img)
	}
	if err := measure(ctx, &b, fmt.Sprintf("Fashion-MNIST test (%d)", len(fashion)), m, fashion, 1, *center, rng); err != nil {
		fail(err)
	}
	files, err := filepath.Glob(*photos)
	if err != nil {
		fail(err)
	}
	var photoImgs []image.Image
	for _, f := range files {
		img, err := imageio.DecodeFile(f, imageio.Options{})
		if err != nil {
			fail(err)
		}
		photoImgs = append(photoImgs, img)
	}
	if len(photoImgs) > 0 {
		if err := measure(ctx, &b, fmt.Sprintf("photos of %s (%d)", *photos, len(photoImgs)), m, photoImgs, *copies, *center, rng); err != nil {
			fail(err)
		}
	}
	fmt.Print(b.String())
	if *write != "" {
		if err := mdsection.Replace(*write, "dedup", b.String()); err != nil {
			fail(err)
		}
	}
}

func modelName(p string) string {
	if p == "" {
		return "embedded default model"
	}
	return filepath.Base(p)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "calibrate:", err)
	os.Exit(1)
}

// measure embeds the images and copies augmented copies of each, and appends a row.
func measure(ctx context.Context, b *strings.Builder, name string, m *swav.Model, imgs []image.Image, copies int, center bool, rng *rand.Rand) error {
	var augmented []image.Image
	var owner []int
	for i, img := range imgs {
		for range copies {
			a, err := augment(img, rng)
			if err != nil {
				return err
			}
			augmented = append(augmented, a)
			owner = append(owner, i)
		}
	}
	fmt.Fprintf(os.Stderr, "%s: embedding %d images and %d copies…\n", name, len(imgs), len(augmented))
	orig, err := m.Embed(ctx, imgs)
	if err != nil {
		return err
	}
	aug, err := m.Embed(ctx, augmented)
	if err != nil {
		return err
	}
	if center {
		mean := make([]float64, len(orig[0]))
		for _, v := range orig {
			for j, x := range v {
				mean[j] += float64(x) / float64(len(orig))
			}
		}
		for _, vs := range [][][]float32{orig, aug} {
			for _, v := range vs {
				for j := range v {
					v[j] -= float32(mean[j])
				}
			}
		}
	}
	paths := make([]string, len(orig))
	for i := range paths {
		paths[i] = fmt.Sprint(i)
	}
	set, err := neighbors.NewSet(paths, orig)
	if err != nil {
		return err
	}
	pos := make([]float64, len(aug))
	for k, v := range aug {
		pos[k] = cosine(orig[owner[k]], v)
	}
	// Negatives: every pair of different originals, kept when ≥ 0 (the rest never
	// matter for thresholds above 0), and counted.
	exact := neighbors.NewExact(set)
	var neg []float64
	for i := range set.Len() {
		for _, r := range exact.Above(i, 0) {
			if r.Index > i {
				neg = append(neg, float64(r.Similarity))
			}
		}
	}
	nNeg := set.Len() * (set.Len() - 1) / 2
	slices.Sort(pos)
	slices.Sort(neg)
	atLeast := func(xs []float64, t float64) int {
		i, _ := slices.BinarySearch(xs, t)
		return len(xs) - i
	}
	pr := func(t float64) (float64, float64) {
		tp, fp := atLeast(pos, t), atLeast(neg, t)
		p := 1.0
		if tp+fp > 0 {
			p = float64(tp) / float64(tp+fp)
		}
		return p, float64(tp) / float64(len(pos))
	}
	bestT, bestF := 0.0, -1.0
	for t := 0.0; t <= 1.0001; t += 0.001 {
		p, r := pr(t)
		if f := 2 * p * r / math.Max(p+r, 1e-12); f > bestF {
			bestT, bestF = t, f
		}
	}
	q := func(p float64) float64 { return pos[min(int(p*float64(len(pos))), len(pos)-1)] }
	bp, br := pr(bestT)
	dp, dr := pr(0.95)
	fmt.Fprintf(b, "| %s | %d | %d | %.3f / %.3f / %.3f | %d | %.3f | %.3f | %.3f | %.3f | %.3f |\n",
		name, len(pos), nNeg, q(0.01), q(0.05), q(0.5), atLeast(neg, 0.9), bestT, bp, br, dp, dr)
	fmt.Fprintf(os.Stderr, "%s: best F1 %.3f at %.3f (precision %.3f recall %.3f); at 0.95 precision %.3f recall %.3f\n", name, bestF, bestT, bp, br, dp, dr)
	for _, t := range []float64{0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995} {
		p, r := pr(t)
		fmt.Fprintf(os.Stderr, "  T=%.3f precision %.4f recall %.4f (negatives ≥ T: %d)\n", t, p, r, atLeast(neg, t))
	}
	return nil
}

func cosine(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

// augment returns a near-duplicate of img: a random crop keeping 80–95 % of each side
// resized back to img's size, flipped half the time, brightness and contrast scaled by
// U(0.8, 1.2), and re-encoded as JPEG at quality U(60, 90).
func augment(img image.Image, rng *rand.Rand) (image.Image, error) {
	bnd := img.Bounds()
	w, h := bnd.Dx(), bnd.Dy()
	cw := int(float64(w) * (0.8 + 0.15*rng.Float64()))
	ch := int(float64(h) * (0.8 + 0.15*rng.Float64()))
	x0 := bnd.Min.X + rng.IntN(w-cw+1)
	y0 := bnd.Min.Y + rng.IntN(h-ch+1)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.BiLinear.Scale(dst, dst.Bounds(), img, image.Rect(x0, y0, x0+cw, y0+ch), draw.Src, nil)
	flip := rng.IntN(2) == 0
	bright := 0.8 + 0.4*rng.Float64()
	contrast := 0.8 + 0.4*rng.Float64()
	var mean float64
	for p := 0; p < len(dst.Pix); p += 4 {
		mean += 0.299*float64(dst.Pix[p]) + 0.587*float64(dst.Pix[p+1]) + 0.114*float64(dst.Pix[p+2])
	}
	mean = mean / float64(w*h) * bright
	out := image.NewRGBA(dst.Bounds())
	for y := range h {
		for x := range w {
			sx := x
			if flip {
				sx = w - 1 - x
			}
			c := dst.RGBAAt(sx, y)
			adj := func(v uint8) uint8 {
				f := (float64(v)*bright-mean)*contrast + mean
				return uint8(math.Round(math.Min(255, math.Max(0, f))))
			}
			out.SetRGBA(x, y, color.RGBA{adj(c.R), adj(c.G), adj(c.B), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: 60 + rng.IntN(31)}); err != nil {
		return nil, err
	}
	return jpeg.Decode(&buf)
}
