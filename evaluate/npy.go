package evaluate

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"codeberg.org/sbinet/npyio"

	"github.com/swav-go/swav/embedio"
	"github.com/swav-go/swav/linearprobe"
)

// FromNPY reads embeddings saved by `swav-embed embed --out X.npy` (an N×D float32 array
// and its X.npy.paths.txt sidecar) as a labelled dataset: each file's class is the name of
// the folder holding it (the ImageFolder convention); classes are sorted by name.
func FromNPY(path string) (linearprobe.Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return linearprobe.Dataset{}, fmt.Errorf("embeddings %s: %w", path, err)
	}
	defer f.Close()
	var flat []float32
	if err := npyio.Read(f, &flat); err != nil {
		return linearprobe.Dataset{}, fmt.Errorf("embeddings %s: %w", path, err)
	}
	paths, err := readLines(embedio.SidecarPath(path))
	if err != nil {
		return linearprobe.Dataset{}, fmt.Errorf("embeddings %s: %w", path, err)
	}
	if len(paths) == 0 || len(flat)%len(paths) != 0 {
		return linearprobe.Dataset{}, fmt.Errorf("embeddings %s: %d values do not split into %d rows (one per path of %s)",
			path, len(flat), len(paths), embedio.SidecarPath(path))
	}
	d := linearprobe.Dataset{Features: flat, N: len(paths), D: len(flat) / len(paths)}
	index := map[string]int{}
	for _, p := range paths {
		index[filepath.Base(filepath.Dir(p))] = 0
	}
	for c := range index {
		d.Classes = append(d.Classes, c)
	}
	sort.Strings(d.Classes)
	for i, c := range d.Classes {
		index[c] = i
	}
	for _, p := range paths {
		d.Labels = append(d.Labels, index[filepath.Base(filepath.Dir(p))])
	}
	return d, nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}
