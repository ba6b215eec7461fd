package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/swav-go/swav/cluster"
	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/imageio"
	"github.com/swav-go/swav/infer"
	"github.com/swav-go/swav/internal/contactsheet"
)

// imageInputFlags select the images of cluster and map: globs (the arguments), a folder
// tree with labels, or an IDX file with optional labels.
type imageInputFlags struct {
	modelFlags
	idx, labels, classNames string
	folderLabels            bool
	limit                   int
}

func (f *imageInputFlags) register(fl *pflag.FlagSet) {
	f.modelFlags.register(fl, modelFlagHelp{model: modelHelp, decoding: true})
	fl.StringVar(&f.idx, "idx", "", "images as an IDX file (e.g. t10k-images-idx3-ubyte.gz) instead of globs")
	fl.StringVar(&f.labels, "labels", "", "IDX labels of --idx (default: its name with images-idx3 → labels-idx1, when that file exists)")
	fl.StringVar(&f.classNames, "class-names", "", `class names for IDX labels: comma-separated, or "fashion-mnist"`)
	fl.BoolVar(&f.folderLabels, "folder-labels", false, "label each file by its first sub-folder below the glob's base or the directory (one argument)")
	fl.IntVar(&f.limit, "limit", 0, "use only the first N images (0: all)")
}

// source opens the images the flags and arguments name.
func (f imageInputFlags) source(cmd *cobra.Command, args []string) (dataset.Source, error) {
	switch {
	case f.labels != "" && f.idx == "":
		return nil, errors.New("--labels goes with --idx")
	case f.classNames != "" && f.idx == "":
		return nil, errors.New("--class-names goes with --idx (folder labels are the folder names)")
	case f.folderLabels && f.idx != "":
		return nil, errors.New("--folder-labels goes with a glob, not --idx (give IDX labels with --labels)")
	case f.limit < 0:
		return nil, fmt.Errorf("--limit is %d: it must be 0 (all) or positive", f.limit)
	}
	var src dataset.Source
	switch {
	case f.idx != "" && (len(args) > 0 || f.fromFile != ""):
		return nil, &usageError{errors.New("give images (globs, files, directories, --from-file) or --idx, not both")}
	case f.idx != "":
		labels := f.labels
		if labels == "" {
			derived := filepath.Join(filepath.Dir(f.idx), strings.Replace(filepath.Base(f.idx), "images-idx3", "labels-idx1", 1))
			if derived != f.idx {
				if _, err := os.Stat(derived); err == nil {
					labels = derived
				}
			}
		}
		s, err := dataset.IDX(f.idx, labels)
		if err != nil {
			return nil, err
		}
		names, err := parseClassNames(f.classNames, s.Classes())
		if err != nil {
			return nil, err
		}
		src = renamedSource{s, names}
	case len(args) == 0 && f.fromFile == "":
		return nil, &usageError{errors.New("give the images (globs such as 'photos/**/*.jpg', files, directories, or --from-file LIST) or --idx FILE")}
	case f.folderLabels:
		if len(args) != 1 || f.fromFile != "" {
			return nil, &usageError{fmt.Errorf("--folder-labels takes one glob or directory (not --from-file), got %d arguments", len(args))}
		}
		s, err := dataset.Glob(args[0], dataset.FolderOptions{Labels: true})
		if err != nil {
			return nil, err
		}
		src = s
	default:
		paths, err := f.expandGlobs(cmd, args)
		if err != nil {
			return nil, err
		}
		src = pathSource(paths)
	}
	if f.limit > 0 && f.limit < src.Len() {
		src = limitSource{src, f.limit}
	}
	return src, nil
}

// parseClassNames returns the names for labels 0..len(have)-1: "fashion-mnist", a
// comma-separated list, or have itself when spec is empty.
func parseClassNames(spec string, have []string) ([]string, error) {
	if spec == "" {
		return have, nil
	}
	if have == nil {
		return nil, errors.New("--class-names needs labels (--labels)")
	}
	names := strings.Split(spec, ",")
	if strings.EqualFold(spec, "fashion-mnist") {
		names = dataset.FashionMNISTClasses()
	}
	if len(names) < len(have) {
		return nil, fmt.Errorf("--class-names gives %d names but the labels go up to %d", len(names), len(have)-1)
	}
	return names, nil
}

// pathSource is an unlabelled source over a list of files.
type pathSource []string

func (p pathSource) Len() int          { return len(p) }
func (p pathSource) Name(i int) string { return p[i] }
func (p pathSource) Image(i int) (image.Image, error) {
	return imageio.DecodeFile(p[i], imageio.Options{})
}
func (p pathSource) Label(int) (int, bool) { return 0, false }
func (p pathSource) Classes() []string     { return nil }

// renamedSource replaces a source's class names.
type renamedSource struct {
	dataset.Source
	names []string
}

func (r renamedSource) Classes() []string { return r.names }

// limitSource is the first n items of a source.
type limitSource struct {
	dataset.Source
	n int
}

func (l limitSource) Len() int { return l.n }

// embedded holds the vectors of the items of a source that could be embedded.
type embedded struct {
	src    dataset.Source
	index  []int       // source index of each vector
	vecs   [][]float32 // one per kept item
	labels []int       // one per kept item, nil when the source is unlabelled
}

// embedSource embeds every image of src with m, applying the error policy.
func embedSource(cmd *cobra.Command, m *infer.Model, src dataset.Source, onErr dataset.OnError) (*embedded, error) {
	e := &embedded{src: src}
	labelled := src.Classes() != nil
	var skipped []dataset.Skipped
	bar := newProgress(cmd, src.Len(), "embed", "img")
	err := m.EachImage(cmd.Context(), src, func(i int, vec []float32, ferr error) error {
		bar.Add(1)
		if ferr != nil {
			return onErr.Handle(&skipped, src.Name(i), ferr)
		}
		e.index = append(e.index, i)
		e.vecs = append(e.vecs, vec)
		if labelled {
			l, ok := src.Label(i)
			if !ok {
				return fmt.Errorf("%s has no label", src.Name(i))
			}
			e.labels = append(e.labels, l)
		}
		return nil
	})
	bar.Finish()
	if err != nil {
		return nil, err
	}
	reportSkipped(cmd.ErrOrStderr(), skipped)
	if len(e.vecs) == 0 {
		return nil, errors.New("no image could be embedded")
	}
	return e, nil
}

type clusterFlags struct {
	in                     imageInputFlags
	out, method, sheets    string
	sheet, report          string
	k, perCluster, maxRows int
	seed                   uint64
}

func newClusterCmd() *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:   "cluster [--model m.swav] (IMAGES... | --from-file LIST | --idx F) --out clusters.csv [--method prototypes|kmeans] [--k N]",
		Short: "Group images by the model's SwAV prototypes or by k-means; CSV, sizes, contact sheets, purity/NMI",
		Long: `Assign every image to a cluster and write path,cluster,score (and label when known) as CSV
(or JSONL by --out's extension; --out - for standard output).

--method prototypes (the default) uses the clusters SwAV learnt while pretraining: each image
goes to the prototype with the largest code z·c (z the L2-normalised projection-head output,
c the normalised prototypes); score is that code, a cosine similarity. --method kmeans runs
seeded k-means (k-means++ start) with --k clusters on the L2-normalised backbone features;
score is the cosine similarity to the cluster's centre.

Cluster sizes go to standard error. With labels (--idx with its labels file, or
--folder-labels) the purity and NMI of the clustering against them are reported too.
--sheets DIR writes a contact sheet per cluster (its highest-scoring images); --sheet FILE
one sheet with a row per cluster, largest first.

` + imageArgsHelp,
		RunE: func(cmd *cobra.Command, args []string) error { return runCluster(cmd, f, args) },
	}
	fl := cmd.Flags()
	f.in.register(fl)
	fl.StringVar(&f.out, "out", "", "output file: .csv or .jsonl, or - for CSV on standard output (required)")
	fl.StringVar(&f.method, "method", "prototypes", "prototypes (argmax of the SwAV codes) or kmeans (on the features)")
	fl.IntVar(&f.k, "k", 10, "number of k-means clusters")
	fl.Uint64Var(&f.seed, "seed", 1, "k-means seed")
	fl.StringVar(&f.sheets, "sheets", "", "write a contact sheet PNG per cluster into this directory")
	fl.StringVar(&f.sheet, "sheet", "", "write one contact sheet PNG with a row per cluster")
	fl.IntVar(&f.perCluster, "per-cluster", 16, "thumbnails per cluster in the contact sheets (the highest scores)")
	fl.IntVar(&f.maxRows, "sheet-clusters", 30, "the largest clusters shown in --sheet")
	fl.StringVar(&f.report, "report", "", "write sizes, purity and NMI as JSON to this file")
	return cmd
}

// clusterRow is one line of cluster's JSONL output.
type clusterRow struct {
	Path    string  `json:"path"`
	Cluster int     `json:"cluster"`
	Score   float32 `json:"score"`
	Label   string  `json:"label,omitempty"`
}

// clusterReport is the JSON summary of a clustering.
type clusterReport struct {
	Method   string   `json:"method"`
	Images   int      `json:"images"`
	Clusters int      `json:"clusters"`
	NonEmpty int      `json:"non_empty"`
	Sizes    []int    `json:"sizes"`
	Purity   *float64 `json:"purity,omitempty"`
	NMI      *float64 `json:"nmi,omitempty"`
}

func runCluster(cmd *cobra.Command, f clusterFlags, args []string) (err error) {
	if f.out == "" {
		return errors.New("give --out FILE (.csv or .jsonl, or - for standard output)")
	}
	format, err := tableFormat(f.out)
	if err != nil {
		return err
	}
	onErr, err := f.in.onErrorPolicy()
	if err != nil {
		return err
	}
	var output infer.Output
	switch f.method {
	case "prototypes":
		output = infer.Projection
		if cmd.Flags().Changed("k") {
			return errors.New("--k applies to --method kmeans: the prototypes fix the number of clusters")
		}
	case "kmeans":
		output = infer.Features
		if f.k < 1 {
			return fmt.Errorf("--k is %d: it must be at least 1", f.k)
		}
	default:
		return fmt.Errorf("--method %q is not valid, methods are: prototypes, kmeans", f.method)
	}
	if f.perCluster < 1 || f.maxRows < 1 {
		return errors.New("--per-cluster and --sheet-clusters must be at least 1")
	}
	src, err := f.in.source(cmd, args)
	if err != nil {
		return err
	}
	m, err := f.in.load(output, false)
	if err != nil {
		return err
	}
	var protos [][]float32
	if f.method == "prototypes" {
		if protos, err = m.Prototypes(); err != nil {
			return err
		}
		if protos == nil {
			return errors.New("the model has no prototypes (a converted backbone?): use --method kmeans")
		}
	}
	e, err := embedSource(cmd, m.Model, src, onErr)
	if err != nil {
		return err
	}

	var assign []int
	var score []float32
	k := len(protos)
	if f.method == "prototypes" {
		if assign, score, err = cluster.AssignPrototypes(e.vecs, protos); err != nil {
			return err
		}
	} else {
		if f.k > len(e.vecs) {
			return fmt.Errorf("--k %d exceeds the %d embedded images", f.k, len(e.vecs))
		}
		k = f.k
		x := cluster.Normalize(e.vecs)
		r, err := cluster.KMeans(cmd.Context(), x, cluster.KMeansOptions{K: k, Seed: f.seed})
		if err != nil {
			return err
		}
		assign = r.Assign
		centres := cluster.Normalize(r.Centroids)
		score = make([]float32, len(x))
		for i, row := range x {
			var s float64
			for j, v := range row {
				s += float64(v) * float64(centres[assign[i]][j])
			}
			score[i] = float32(s)
		}
	}
	sizes, err := cluster.Sizes(assign, k)
	if err != nil {
		return err
	}

	classes := src.Classes()
	w, err := createTable(f.out, format)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			w.abort()
		}
	}()
	header := []string{"path", "cluster", "score"}
	if e.labels != nil {
		header = append(header, "label")
	}
	if err := w.header(header); err != nil {
		return err
	}
	for i, a := range assign {
		r := clusterRow{Path: src.Name(e.index[i]), Cluster: a, Score: score[i]}
		fields := []string{r.Path, strconv.Itoa(a), formatFloat(score[i])}
		if e.labels != nil {
			r.Label = classes[e.labels[i]]
			fields = append(fields, r.Label)
		}
		if err := w.record(fields, r); err != nil {
			return err
		}
	}
	if err := w.close(); err != nil {
		return err
	}

	rep := clusterReport{Method: f.method, Images: len(assign), Clusters: k, Sizes: sizes}
	for _, s := range sizes {
		if s > 0 {
			rep.NonEmpty++
		}
	}
	infof(cmd, "%d images in %d clusters (%d non-empty, %s)", rep.Images, k, rep.NonEmpty, f.method)
	infof(cmd, "sizes, largest first: %s", largestSizes(sizes, 20))
	if e.labels != nil {
		p, err := cluster.Purity(assign, e.labels)
		if err != nil {
			return err
		}
		n, err := cluster.NMI(assign, e.labels)
		if err != nil {
			return err
		}
		rep.Purity, rep.NMI = &p, &n
		infof(cmd, "against the %d labels: purity %.4f, NMI %.4f", len(classes), p, n)
	}
	if f.report != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.report, append(b, '\n'), 0o644); err != nil {
			return withPath("report", f.report, err)
		}
	}
	if f.sheets == "" && f.sheet == "" {
		return nil
	}
	return writeClusterSheets(cmd, f, e, assign, score, sizes)
}

// largestSizes formats up to n cluster sizes as "#3: 120, #0: 97, …".
func largestSizes(sizes []int, n int) string {
	order := clustersBySize(sizes)
	var parts []string
	for _, c := range order[:min(n, len(order))] {
		parts = append(parts, fmt.Sprintf("#%d: %d", c, sizes[c]))
	}
	if len(order) > n {
		parts = append(parts, fmt.Sprintf("… %d more", len(order)-n))
	}
	return strings.Join(parts, ", ")
}

// clustersBySize lists the non-empty clusters, largest first (ties by index).
func clustersBySize(sizes []int) []int {
	var order []int
	for c, s := range sizes {
		if s > 0 {
			order = append(order, c)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(sizes[b], sizes[a]) })
	return order
}

// writeClusterSheets draws the contact sheets: each cluster's highest-scoring members.
func writeClusterSheets(cmd *cobra.Command, f clusterFlags, e *embedded, assign []int, score []float32, sizes []int) error {
	members := make([][]int, len(sizes))
	for i, a := range assign {
		members[a] = append(members[a], i)
	}
	classes := e.src.Classes()
	caption := func(c int) string {
		s := fmt.Sprintf("cluster %d: %d images", c, sizes[c])
		if e.labels != nil {
			count := map[int]int{}
			top := -1
			for _, i := range members[c] {
				count[e.labels[i]]++
				if top < 0 || count[e.labels[i]] > count[top] || (count[e.labels[i]] == count[top] && e.labels[i] < top) {
					top = e.labels[i]
				}
			}
			s += fmt.Sprintf(", %.0f%% %s", 100*float64(count[top])/float64(sizes[c]), classes[top])
		}
		return s
	}
	thumbs := func(c int) []image.Image {
		idx := slices.Clone(members[c])
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(score[b], score[a]) })
		var imgs []image.Image
		for _, i := range idx[:min(f.perCluster, len(idx))] {
			img, err := e.src.Image(e.index[i])
			if err != nil {
				img = nil // drawn as a placeholder: the file changed since it was embedded
			}
			imgs = append(imgs, img)
		}
		return imgs
	}
	order := clustersBySize(sizes)
	thumb := 48
	if f.sheets != "" {
		if err := os.MkdirAll(f.sheets, 0o755); err != nil {
			return fmt.Errorf("--sheets: %w", err)
		}
		cols := min(f.perCluster, 8)
		for _, c := range order {
			imgs := thumbs(c)
			var rows []contactsheet.Row
			for start := 0; start < len(imgs); start += cols {
				rows = append(rows, contactsheet.Row{Images: imgs[start:min(start+cols, len(imgs))]})
			}
			rows[0].Caption = caption(c)
			path := filepath.Join(f.sheets, fmt.Sprintf("cluster-%03d.png", c))
			if err := contactsheet.WritePNG(path, rows, contactsheet.Options{Thumb: 2 * thumb, Columns: cols}); err != nil {
				return err
			}
		}
		infof(cmd, "%d contact sheets → %s", len(order), f.sheets)
	}
	if f.sheet != "" {
		var rows []contactsheet.Row
		for _, c := range order[:min(f.maxRows, len(order))] {
			rows = append(rows, contactsheet.Row{Caption: caption(c), Images: thumbs(c)})
		}
		if err := contactsheet.WritePNG(f.sheet, rows, contactsheet.Options{Thumb: thumb, Columns: f.perCluster}); err != nil {
			return err
		}
		infof(cmd, "contact sheet of the %d largest clusters → %s", len(rows), f.sheet)
	}
	return nil
}
