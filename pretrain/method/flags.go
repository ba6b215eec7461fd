package method

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// IntsFlag defines a comma-separated list-of-integers flag on fs ("2,4"), the
// standard library having none; p holds the default and receives the parsed list.
func IntsFlag(fs *flag.FlagSet, p *[]int, name, usage string) {
	fs.Var((*intsValue)(p), name, usage)
}

// FloatsFlag defines a comma-separated list-of-numbers flag on fs ("0.14,0.05").
func FloatsFlag(fs *flag.FlagSet, p *[]float64, name, usage string) {
	fs.Var((*floatsValue)(p), name, usage)
}

type intsValue []int

func (v *intsValue) String() string {
	if v == nil {
		return ""
	}
	parts := make([]string, len(*v))
	for i, x := range *v {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}

func (v *intsValue) Set(s string) error {
	var out []int
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("%q is not a comma-separated list of integers", s)
		}
		out = append(out, x)
	}
	*v = out
	return nil
}

type floatsValue []float64

func (v *floatsValue) String() string {
	if v == nil {
		return ""
	}
	parts := make([]string, len(*v))
	for i, x := range *v {
		parts[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

func (v *floatsValue) Set(s string) error {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return fmt.Errorf("%q is not a comma-separated list of numbers", s)
		}
		out = append(out, x)
	}
	*v = out
	return nil
}
