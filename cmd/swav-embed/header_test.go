package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swav-go/swav/checkpoint"
)

// cliArgsEnv, set in the environment of this test binary, makes TestEmbedHostileHeader
// run the command itself with these arguments (a JSON array) (the os/exec helper-process
// idiom), so that its exit status and standard error are checked as a user sees them.
const cliArgsEnv = "SWAV_EMBED_TEST_ARGS"

// runSwavEmbed runs the command in a child process (this test binary, see cliArgsEnv).
func runSwavEmbed(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmbedHostileHeader$")
	enc, err := json.Marshal(args)
	if err != nil {
		return "", "", err
	}
	cmd.Env = append(os.Environ(), cliArgsEnv+"="+string(enc))
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// TestEmbedHostileHeader: `embed --model hostile.swav img.png` with a header value out
// of bounds (the checksum recomputed, so the file is valid as a container) exits with
// status 1 and a single line naming the file and the field, without panic text, quickly,
// and leaves no output file.
func TestEmbedHostileHeader(t *testing.T) {
	if args := os.Getenv(cliArgsEnv); args != "" { // the child: be swav-embed
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			t.Fatal(err)
		}
		os.Args = append([]string{"swav-embed"}, argv...)
		main()
		os.Exit(0)
	}
	base, err := checkpoint.Load("../../infer/testdata/tiny.swav")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "img.png")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 28, 28))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	withModel := func(field, value string) checkpoint.Header {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(base.Header.Model, &m); err != nil {
			t.Fatal(err)
		}
		m[field] = json.RawMessage(value)
		h := base.Header
		if h.Model, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
		return h
	}
	withPre := func(edit func(p *checkpoint.Preprocess)) checkpoint.Header {
		h := base.Header
		p := *h.Preprocess
		edit(&p)
		h.Preprocess = &p
		return h
	}
	for _, tc := range []struct {
		name    string
		header  checkpoint.Header
		tensors []checkpoint.Tensor
		want    string // the error after "checkpoint PATH: "
	}{
		{"out_dim 2^40", withModel("out_dim", "1099511627776"), base.Tensors, "header model.out_dim = 1099511627776 is above the limit 65536"},
		{"width_multiplier 2^62", withModel("width_multiplier", "4611686018427387904"), base.Tensors,
			"header model.width_multiplier = 4611686018427387904 is above the limit 16"},
		{"input_size 20000", withPre(func(p *checkpoint.Preprocess) { p.InputSize, p.ResizeSize = 20000, 20000 }), base.Tensors,
			"header preprocess.input_size = 20000 is above the limit 1024"},
		{"resize_size 2^62", withPre(func(p *checkpoint.Preprocess) { p.ResizeSize = 1 << 62 }), base.Tensors,
			"header preprocess.resize_size = 4611686018427387904 is above the limit 2048"},
		{"interpolation", withPre(func(p *checkpoint.Preprocess) { p.Interpolation = "bicubic" }), base.Tensors,
			`header preprocess.interpolation = "bicubic" is not supported, interpolations are: "bilinear"`},
		{"missing tensor", base.Header, base.Tensors[1:], "tensor " + base.Tensors[0].Name + " is missing: the header's model needs it as float32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := filepath.Join(dir, "hostile.swav")
			if err := checkpoint.Save(model, &checkpoint.File{Header: tc.header, Tensors: tc.tensors}, checkpoint.EncodeOptions{}); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "emb.npy")
			start := time.Now()
			stdout, got, err := runSwavEmbed("embed", "--model", model, img, "--out", out)
			elapsed := time.Since(start)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1\nstderr: %s", err, got)
			}
			want := "swav-embed: checkpoint " + model + ": " + tc.want
			if strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, want) {
				t.Errorf("stderr %q, want one line starting %q", got, want)
			}
			for _, bad := range []string{"panic", "goroutine", "fatal error"} {
				if strings.Contains(got, bad) || strings.Contains(stdout, bad) {
					t.Errorf("output contains %q:\nstdout: %s\nstderr: %s", bad, stdout, got)
				}
			}
			if elapsed > 10*time.Second {
				t.Errorf("took %s, want < 10s", elapsed)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a failed run left %s (%v)", out, err)
			}
		})
	}
}
