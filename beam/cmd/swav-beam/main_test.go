package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
)

func TestFlagsToOptions(t *testing.T) {
	var c config
	fl := flag.NewFlagSet("swav-beam", flag.ContinueOnError)
	c.register(fl)
	err := fl.Parse([]string{"--input", "a/*.png", "--input", "gs://b/**.jpg", "--output", "out/emb",
		"--shards", "7", "--format", "npy, csv", "--vectors", "projection", "--raw", "--batch", "16",
		"--max_file_bytes", "1000", "--max_pixels", "99", "c/*.gif"})
	if err != nil {
		t.Fatal(err)
	}
	o := c.options(fl.Args())
	if got := fmt.Sprint(o.Inputs); got != "[a/*.png gs://b/**.jpg c/*.gif]" {
		t.Errorf("inputs %s", got)
	}
	if o.Prefix != "out/emb" || o.Shards != 7 || fmt.Sprint(o.Formats) != "[npy csv]" || o.Output != "projection" ||
		!o.Raw || o.BatchSize != 16 || o.MaxFileBytes != 1000 || o.MaxPixels != 99 || o.Model != "" {
		t.Errorf("options %+v", o)
	}
}

func TestRunnerRefused(t *testing.T) {
	old := *runners.Runner
	defer func() { *runners.Runner = old }()
	*runners.Runner = "direct"
	c := config{inputs: patterns{"x/*.png"}, output: "out"}
	err := run(context.Background(), &c, nil)
	want := `runner "direct" is not supported, runners are: prism, dataflow, flink, spark, universal`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("run with --runner direct: %v, want %q", err, want)
	}
}
