package evaluate

import (
	gocontext "context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/swav-go/swav/checkpoint"
	"github.com/swav-go/swav/checkpoint/export"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/infer"
	"github.com/swav-go/swav/linearprobe"
	"github.com/swav-go/swav/model"
)

// Row is one line of the Fashion-MNIST table.
type Row struct {
	Name   string  `json:"name"`
	Linear float64 `json:"linear_top1"` // fraction; negative when not run
	KNN20  float64 `json:"knn20_top1"`  // fraction; negative when not run
	Notes  string  `json:"notes"`
}

// FashionOptions configure FashionMNIST.
type FashionOptions struct {
	// Backend computes everything.
	Backend backends.Backend
	// Dir holds the IDX files (default dataset.DefaultFashionMNISTDir).
	Dir string
	// Models are the SwAV checkpoints to evaluate, each with a display name.
	Models []NamedModel
	// RawPixels and RandomInit add the two baselines (the random network has the
	// architecture and preprocessing of the first model, seed RandomSeed).
	RawPixels, RandomInit bool
	RandomSeed            int64
	// KNN adds kNN-20 to the raw-pixel and model rows.
	KNN bool
	// Probe configures the linear probe (same for every row).
	Probe linearprobe.LinearOptions
	// Log receives progress lines (may be nil).
	Log func(format string, args ...any)
}

// NamedModel is a model checkpoint and its row name. Data, when not nil, holds the
// checkpoint (e.g. the embedded default model) and Path is only its display name.
type NamedModel struct {
	Name, Path string
	Data       []byte
}

func (o FashionOptions) logf(format string, args ...any) {
	if o.Log != nil {
		o.Log(format, args...)
	}
}

// FashionMNIST evaluates the rows of the project's headline table on the real 60k/10k
// Fashion-MNIST with the same probe for every row.
func FashionMNIST(ctx gocontext.Context, o FashionOptions) ([]Row, error) {
	if o.Dir == "" {
		o.Dir = dataset.DefaultFashionMNISTDir
	}
	train, err := dataset.FashionMNIST(o.Dir, true)
	if err != nil {
		return nil, err
	}
	test, err := dataset.FashionMNIST(o.Dir, false)
	if err != nil {
		return nil, err
	}
	var rows []Row
	evalRow := func(name, notes string, tr, te linearprobe.Dataset) error {
		row := Row{Name: name, Linear: -1, KNN20: -1, Notes: notes}
		start := time.Now()
		probe, err := linearprobe.TrainLinear(ctx, o.Backend, tr, o.Probe)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rep, err := probe.Evaluate(te)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		row.Linear = rep.Top1
		o.logf("%s: linear top-1 %.2f %% (probe %s)", name, 100*rep.Top1, time.Since(start).Round(time.Second))
		if o.KNN {
			knn, err := linearprobe.KNN(ctx, o.Backend, tr, te, linearprobe.KNNOptions{K: []int{20}})
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			row.KNN20 = knn[20].Top1
			o.logf("%s: kNN-20 top-1 %.2f %%", name, 100*knn[20].Top1)
		}
		rows = append(rows, row)
		return nil
	}
	if o.RawPixels {
		tr, err := RawPixels(train, 1)
		if err != nil {
			return nil, err
		}
		te, err := RawPixels(test, 1)
		if err != nil {
			return nil, err
		}
		if err := evalRow("raw pixels (784-d)", "standardised pixels", tr, te); err != nil {
			return nil, err
		}
	}
	embedRow := func(nm NamedModel, m *infer.Model, notes string, knn bool) error {
		start := time.Now()
		tr, _, err := Embed(ctx, m, train, dataset.Fail, nil)
		if err != nil {
			return err
		}
		te, _, err := Embed(ctx, m, test, dataset.Fail, nil)
		if err != nil {
			return err
		}
		o.logf("%s: embedded 70k images in %s", nm.Name, time.Since(start).Round(time.Second))
		saved := o.KNN
		o.KNN = knn
		defer func() { o.KNN = saved }()
		return evalRow(nm.Name, notes, tr, te)
	}
	for i, nm := range o.Models {
		var f *checkpoint.File
		if nm.Data != nil {
			f, err = checkpoint.Decode(nm.Data, nm.Path)
		} else {
			f, err = checkpoint.Load(nm.Path)
		}
		if err != nil {
			return nil, err
		}
		m, err := infer.FromFile(f, nm.Path, infer.Options{Backend: o.Backend})
		if err != nil {
			return nil, err
		}
		if i == 0 && o.RandomInit {
			cfg := m.Config()
			rctx, err := model.Initialize(o.Backend, cfg, m.Preprocess().InputSize, o.RandomSeed)
			if err != nil {
				return nil, err
			}
			rf, err := model.File(rctx, cfg, m.Preprocess(), nil)
			if err != nil {
				return nil, err
			}
			rm, err := infer.FromFile(rf, "random-init", infer.Options{Backend: o.Backend})
			if err != nil {
				return nil, err
			}
			if err := embedRow(NamedModel{Name: "random-init " + archName(cfg)}, rm, fmt.Sprintf("same architecture, seed %d, %d-d features", o.RandomSeed, cfg.FeatureDim()), false); err != nil {
				return nil, err
			}
		}
		if err := embedRow(nm, m, trainingNotes(f, m.Config()), o.KNN); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

func archName(cfg model.Config) string {
	w := make([]string, len(cfg.Widths))
	for i, x := range cfg.Widths {
		w[i] = fmt.Sprint(x * cfg.WidthMultiplier)
	}
	return fmt.Sprintf("ResNet %s %v (%s stem)", strings.Join(w, "/"), cfg.Layers, cfg.Stem)
}

// trainingNotes describes how a checkpoint was trained (epochs, steps, wall time,
// threads), from its header.
func trainingNotes(f *checkpoint.File, cfg model.Config) string {
	parts := []string{archName(cfg), fmt.Sprintf("%d-d features", cfg.FeatureDim())}
	if t := f.Header.Training; t != nil {
		parts = append(parts, fmt.Sprintf("%d steps (%d epochs)", t.Step, t.Epoch))
		if w, ok := t.Extra["wall_seconds"].(json.Number); ok {
			if s, err := w.Float64(); err == nil {
				parts = append(parts, fmt.Sprintf("%.0f min of training", s/60))
			}
		}
		if th, ok := t.Extra["threads"].(json.Number); ok {
			parts = append(parts, fmt.Sprintf("%s threads", th))
		}
	} else {
		parts = append(parts, "no training record")
	}
	if raw, ok := f.Header.Extra[export.ExtraRecalibration]; ok {
		var note struct {
			Images int `json:"images"`
		}
		if err := json.Unmarshal(raw, &note); err == nil {
			parts = append(parts, fmt.Sprintf("batch-norm statistics re-estimated on %d full-size training images", note.Images))
		}
	}
	if f.Header.Float16 {
		parts = append(parts, "float16 weights")
	}
	return strings.Join(parts, ", ")
}

// Markdown renders rows as a table.
func Markdown(rows []Row) string {
	var b strings.Builder
	b.WriteString("| features | linear top-1 | kNN-20 top-1 | notes |\n|---|---|---|---|\n")
	pct := func(v float64) string {
		if v < 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f %%", 100*v)
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.Name, pct(r.Linear), pct(r.KNN20), r.Notes)
	}
	fmt.Fprintf(&b, "\nMeasured with `swav-embed bench fashion-mnist` on %d CPU threads.\n", runtime.GOMAXPROCS(0))
	return b.String()
}
