package linearprobe

import (
	"fmt"
	"strings"
)

// Report summarises a classifier's accuracy on an evaluation set.
//
// Accuracies are fractions in [0, 1]. Confusion[t][p] counts the samples of
// true class t predicted as class p, so row t sums to Support[t].
type Report struct {
	// Method names the classifier, e.g. "linear" or "knn-k20".
	Method string `json:"method"`
	// Top1 is the fraction of samples whose highest-scoring class is correct.
	Top1 float64 `json:"top1"`
	// Top5 is the fraction of samples whose true class is among the five
	// highest-scoring classes (among all classes when there are fewer than
	// five, in which case it is 1).
	Top5 float64 `json:"top5"`
	// PerClass[c] is the top-1 accuracy (recall) on the samples of class c,
	// or 0 when the evaluation set holds no sample of class c (see Support).
	PerClass []float64 `json:"per_class"`
	// Support[c] is the number of evaluation samples of class c.
	Support []int `json:"support"`
	// Confusion[t][p] counts samples of true class t predicted as class p.
	Confusion [][]int `json:"confusion"`
	// Classes names the classes indexing PerClass, Support and Confusion.
	Classes []string `json:"classes"`
	// N is the number of evaluated samples.
	N int `json:"n"`
}

// newReport builds a Report from true labels and per-sample class rankings.
// ranked[i] lists, best first, at least min(5, C) class indices for sample i.
func newReport(method string, classes []string, labels []int, ranked [][]int) *Report {
	c := len(classes)
	r := &Report{
		Method:    method,
		PerClass:  make([]float64, c),
		Support:   make([]int, c),
		Confusion: make([][]int, c),
		Classes:   append([]string(nil), classes...),
		N:         len(labels),
	}
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, c)
	}
	top1, top5 := 0, 0
	for i, truth := range labels {
		rank := ranked[i]
		r.Support[truth]++
		r.Confusion[truth][rank[0]]++
		if rank[0] == truth {
			top1++
		}
		for j := 0; j < len(rank) && j < 5; j++ {
			if rank[j] == truth {
				top5++
				break
			}
		}
	}
	if r.N > 0 {
		r.Top1 = float64(top1) / float64(r.N)
		r.Top5 = float64(top5) / float64(r.N)
	}
	for k := range c {
		if r.Support[k] > 0 {
			r.PerClass[k] = float64(r.Confusion[k][k]) / float64(r.Support[k])
		}
	}
	return r
}

// topClasses returns the indices of the k largest scores, largest first; ties
// go to the lower class index.
func topClasses[F float32 | float64](scores []F, k int) []int {
	if k > len(scores) {
		k = len(scores)
	}
	idx := make([]int, 0, k)
	for c, s := range scores {
		if len(idx) < k {
			idx = append(idx, c)
		} else if s > scores[idx[k-1]] {
			idx[k-1] = c
		} else {
			continue
		}
		// Bubble the new entry up; strict comparison keeps earlier classes
		// ahead of later ones with equal scores.
		for j := len(idx) - 1; j > 0 && scores[idx[j]] > scores[idx[j-1]]; j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
	return idx
}

// Text renders the report as a human-readable table: overall accuracies,
// then one line per class with its support and accuracy, then the confusion
// matrix when there are at most 20 classes.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: top-1 %.2f%%  top-5 %.2f%%  (n=%d, %d classes)\n",
		r.Method, 100*r.Top1, 100*r.Top5, r.N, len(r.Classes))
	width := len("class")
	for _, name := range r.Classes {
		width = max(width, len(name))
	}
	fmt.Fprintf(&b, "  %-*s  %7s  %8s\n", width, "class", "support", "accuracy")
	for c, name := range r.Classes {
		fmt.Fprintf(&b, "  %-*s  %7d  %7.2f%%\n", width, name, r.Support[c], 100*r.PerClass[c])
	}
	if len(r.Classes) <= 20 && len(r.Confusion) == len(r.Classes) {
		cell := 5
		for _, row := range r.Confusion {
			for _, v := range row {
				cell = max(cell, len(fmt.Sprint(v))+1)
			}
		}
		fmt.Fprintf(&b, "  confusion (rows: true class, columns: predicted class index)\n")
		fmt.Fprintf(&b, "  %-*s ", width, "")
		for c := range r.Classes {
			fmt.Fprintf(&b, "%*d", cell, c)
		}
		b.WriteByte('\n')
		for t, row := range r.Confusion {
			fmt.Fprintf(&b, "  %-*s ", width, r.Classes[t])
			for _, v := range row {
				fmt.Fprintf(&b, "%*d", cell, v)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}
