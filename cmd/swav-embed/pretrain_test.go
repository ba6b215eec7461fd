package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swav-go/swav/checkpoint"
)

// section returns the part of help after the heading that starts with head, up to the
// next heading (a line that does not start with a space) or the end.
func section(help, head string) string {
	i := strings.Index(help, head)
	if i < 0 {
		return ""
	}
	rest := help[i+len(head):]
	lines := strings.SplitAfter(rest, "\n")
	var b strings.Builder
	for j, l := range lines {
		if j > 0 && l != "" && l[0] != ' ' {
			break
		}
		b.WriteString(l)
	}
	return b.String()
}

// TestPretrainMethodHelp: pretrain --help lists every method with its own flags and
// their defaults in a section of its own (a flag two methods share, --temperature,
// with each one's default), not among the trainer's flags, and states no default
// twice on a line.
func TestPretrainMethodHelp(t *testing.T) {
	out, _, err := runOut(t, "pretrain", "--help")
	if err != nil {
		t.Fatal(err)
	}
	sw, sc := section(out, "Flags of --method swav"), section(out, "Flags of --method simclr")
	if sw == "" || sc == "" {
		t.Fatalf("no method sections in\n%s", out)
	}
	for _, want := range []string{"--queue-length int", "--freeze-prototypes-niters int", "--size-crops ints", "--temperature float", "(default 0.1)", "--epsilon float"} {
		if !strings.Contains(sw, want) {
			t.Errorf("swav section lacks %q:\n%s", want, sw)
		}
	}
	for _, want := range []string{"--temperature float", "(default 0.5)", "--small-crops int"} {
		if !strings.Contains(sc, want) {
			t.Errorf("simclr section lacks %q:\n%s", want, sc)
		}
	}
	if strings.Contains(sc, "--queue-length") {
		t.Errorf("simclr section lists SwAV's queue:\n%s", sc)
	}
	main := out[:strings.Index(out, "Flags of --method")]
	for _, flag := range []string{"--queue-length", "--temperature", "--small-crops"} {
		if strings.Contains(main, flag) {
			t.Errorf("the trainer's flags list the method flag %s", flag)
		}
	}
	for _, want := range []string{"--method string", "--warmup-epochs float", "-1 for none", "--base-lr float"} {
		if !strings.Contains(main, want) {
			t.Errorf("the trainer's flags lack %q", want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Count(line, "(default") > 1 {
			t.Errorf("default stated twice: %s", strings.TrimSpace(line))
		}
	}
}

// TestPretrainMethodFlags: an unknown method and a flag of another method are usage
// errors naming the valid choice; a SimCLR run takes its own flags, records its name
// and configuration in the checkpoint, keeps no prototypes, and its export embeds.
func TestPretrainMethodFlags(t *testing.T) {
	dir := t.TempDir()
	writeClass(t, filepath.Join(dir, "imgs"), "a", true, 8)
	writeClass(t, filepath.Join(dir, "imgs"), "b", false, 8)
	ckpt := filepath.Join(dir, "m.swav")
	base := []string{"pretrain", "--data", filepath.Join(dir, "imgs/**/*.png"), "--out", ckpt, "--arch", "small", "--batch-size", "8", "--epochs", "2"}

	err := run(t, append(base, "--method", "byol")...)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), `"byol"`) || !strings.Contains(err.Error(), "simclr, swav") {
		t.Errorf("--method byol: %v, want a usage error listing simclr, swav", err)
	}
	err = run(t, append(base, "--method", "simclr", "--queue-length", "16")...)
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--queue-length is a flag of --method ") ||
		!strings.Contains(err.Error(), "swav") || !strings.Contains(err.Error(), "not of simclr") {
		t.Errorf("--queue-length with simclr: %v", err)
	}
	err = run(t, append(base, "--method", "simclr", "--temperature", "warm")...)
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--temperature") {
		t.Errorf("--temperature warm: %v", err)
	}

	if err := run(t, append(base, "--method", "simclr", "--temperature", "0.2", "--small-crops", "2", "--max-steps", "2")...); err != nil {
		t.Fatal(err)
	}
	f, err := checkpoint.Load(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Name   string `json:"name"`
		Config struct {
			Temperature float64 `json:"temperature"`
			LargeViews  int     `json:"large_views"`
			Views       []struct {
				Count, Size int
			} `json:"views"`
		} `json:"config"`
	}
	if err := json.Unmarshal(f.Header.Extra["method"], &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != "simclr" || m.Config.Temperature != 0.2 || m.Config.LargeViews != 2 || len(m.Config.Views) != 2 || m.Config.Views[1].Count != 2 {
		t.Errorf("checkpoint method entry %s", f.Header.Extra["method"])
	}
	for _, x := range f.Tensors {
		if strings.HasPrefix(x.Name, "prototypes/") {
			t.Errorf("SimCLR checkpoint holds %s", x.Name)
		}
	}
	export := filepath.Join(dir, "m-model.swav")
	if err := run(t, "export", ckpt, "--out", export); err != nil {
		t.Fatal(err)
	}
	emb := filepath.Join(dir, "e.jsonl")
	if err := run(t, "embed", "--model", export, filepath.Join(dir, "imgs/**/*.png"), "--out", emb); err != nil {
		t.Fatalf("embedding with the SimCLR export: %v", err)
	}
	// Resuming it as SwAV is refused, naming the method to use.
	err = run(t, append(base, "--resume", "--max-steps", "3")...)
	if err == nil || !strings.Contains(err.Error(), "--method simclr") {
		t.Errorf("resuming a SimCLR checkpoint as swav: %v", err)
	}
}
