package linearprobe

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Dataset is a set of frozen feature vectors with integer class labels.
type Dataset struct {
	// Features holds N feature vectors of dimension D, row-major (N×D).
	Features []float32
	// N is the number of samples and D the feature dimension.
	N, D int
	// Labels holds one class index per sample, in [0, NumClasses()).
	Labels []int
	// Classes optionally names the classes; Classes[i] is the name of label i.
	// When set, labels are matched by name between training and test sets.
	// When nil, the number of classes is max(Labels)+1 and labels are matched
	// by index.
	Classes []string
}

// NumClasses returns len(Classes) when class names are set, and otherwise
// one more than the largest label (0 for an empty label slice).
func (d Dataset) NumClasses() int {
	if d.Classes != nil {
		return len(d.Classes)
	}
	maxLabel := -1
	for _, l := range d.Labels {
		if l > maxLabel {
			maxLabel = l
		}
	}
	return maxLabel + 1
}

// Row returns the feature vector of sample i (a sub-slice of Features, not a
// copy).
func (d Dataset) Row(i int) []float32 {
	return d.Features[i*d.D : (i+1)*d.D]
}

// Validate checks that the dataset is well formed: positive N and D,
// len(Features) == N*D, len(Labels) == N, every label in range, class names
// unique and non-empty, finite feature values, and at least two classes.
func (d Dataset) Validate() error {
	return d.validate(2)
}

// validate implements Validate with a configurable minimum number of classes
// (a test set may legitimately hold a single class).
func (d Dataset) validate(minClasses int) error {
	if d.N <= 0 {
		return fmt.Errorf("linearprobe: dataset has N=%d samples, need at least 1", d.N)
	}
	if d.D <= 0 {
		return fmt.Errorf("linearprobe: dataset has feature dimension D=%d, need at least 1", d.D)
	}
	if len(d.Features) != d.N*d.D {
		return fmt.Errorf("linearprobe: dataset has %d feature values, want N×D = %d×%d = %d",
			len(d.Features), d.N, d.D, d.N*d.D)
	}
	if len(d.Labels) != d.N {
		return fmt.Errorf("linearprobe: dataset has %d labels for N=%d samples", len(d.Labels), d.N)
	}
	if d.Classes != nil {
		seen := make(map[string]int, len(d.Classes))
		for i, name := range d.Classes {
			if name == "" {
				return fmt.Errorf("linearprobe: class %d has an empty name", i)
			}
			if j, dup := seen[name]; dup {
				return fmt.Errorf("linearprobe: class name %q is used by classes %d and %d", name, j, i)
			}
			seen[name] = i
		}
	}
	numClasses := d.NumClasses()
	for i, l := range d.Labels {
		if l < 0 || (d.Classes != nil && l >= len(d.Classes)) {
			return fmt.Errorf("linearprobe: sample %d has label %d, want a value in [0, %d)", i, l, numClasses)
		}
	}
	if numClasses < minClasses {
		return fmt.Errorf("linearprobe: dataset has %d class(es), need at least %d", numClasses, minClasses)
	}
	for i, v := range d.Features {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("linearprobe: feature %d of sample %d is %v", i%d.D, i/d.D, v)
		}
	}
	return nil
}

// classNames returns the class names of d, synthesising "0", "1", ... when
// Classes is nil.
func classNames(classes []string, numClasses int) []string {
	if classes != nil {
		return append([]string(nil), classes...)
	}
	names := make([]string, numClasses)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	return names
}

// ErrUnknownClass is wrapped by the errors returned when an evaluation set
// holds a class that the classifier was not trained on; test for it with
// errors.Is.
var ErrUnknownClass = errors.New("class not present in the training set")

// mapLabels translates the labels of an evaluation set into the label space
// of a classifier trained on trainClasses (numTrain classes; names nil when
// the training set had none). It matches by name when both sides have class
// names and by index otherwise.
func mapLabels(test Dataset, trainClasses []string, numTrain int) ([]int, error) {
	out := make([]int, test.N)
	if test.Classes != nil && trainClasses != nil {
		index := make(map[string]int, len(trainClasses))
		for i, name := range trainClasses {
			index[name] = i
		}
		remap := make([]int, len(test.Classes))
		used := make([]bool, len(test.Classes))
		for _, l := range test.Labels {
			used[l] = true
		}
		for i, name := range test.Classes {
			j, ok := index[name]
			if !ok {
				if !used[i] {
					remap[i] = -1
					continue
				}
				return nil, fmt.Errorf("linearprobe: test class %q (label %d): %w", name, i, ErrUnknownClass)
			}
			remap[i] = j
		}
		for i, l := range test.Labels {
			out[i] = remap[l]
		}
		return out, nil
	}
	for i, l := range test.Labels {
		if l >= numTrain {
			name := ""
			if test.Classes != nil {
				name = fmt.Sprintf(" (%q)", test.Classes[l])
			}
			return nil, fmt.Errorf("linearprobe: test sample %d has label %d%s but the classifier knows %d classes: %w",
				i, l, name, numTrain, ErrUnknownClass)
		}
		out[i] = l
	}
	return out, nil
}
