package embedio_test

import (
	"strings"
	"testing"

	"github.com/swav-go/swav/embedio"
)

func TestFormatFromPath(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		explicit string
		want     embedio.Format
		wantErr  []string // substrings of the error; nil means success
	}{
		{name: "npy extension", path: "out/emb.npy", want: "npy"},
		{name: "jsonl extension", path: "emb.jsonl", want: "jsonl"},
		{name: "csv extension", path: "/tmp/emb.csv", want: "csv"},
		{name: "upper-case extension", path: "EMB.NPY", want: "npy"},
		{name: "explicit wins over extension", path: "emb.npy", explicit: "csv", want: "csv"},
		{name: "explicit without extension", path: "embeddings", explicit: "jsonl", want: "jsonl"},
		{name: "explicit is case-insensitive", path: "x.bin", explicit: " NPY ", want: "npy"},
		{name: "unknown extension", path: "emb.json", wantErr: []string{"emb.json", `".json"`, "npy, jsonl, csv"}},
		{name: "no extension", path: "embeddings", wantErr: []string{"embeddings", "npy, jsonl, csv"}},
		{name: "unknown explicit", path: "emb.npy", explicit: "parquet", wantErr: []string{`"parquet"`, "npy, jsonl, csv"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := embedio.FormatFromPath(tc.path, tc.explicit)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("FormatFromPath(%q, %q) = %q, want an error", tc.path, tc.explicit, got)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("FormatFromPath(%q, %q): %v", tc.path, tc.explicit, err)
			}
			if got != tc.want {
				t.Errorf("FormatFromPath(%q, %q) = %q, want %q", tc.path, tc.explicit, got, tc.want)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	got := embedio.Formats()
	want := []embedio.Format{"npy", "jsonl", "csv"}
	if len(got) != len(want) {
		t.Fatalf("Formats() = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Formats()[%d] = %q, want %q", i, got[i], want[i])
		}
	}
	got[0] = "changed"
	if embedio.Formats()[0] != "npy" {
		t.Error("Formats returns shared state")
	}
}
