package dataset_test

import (
	"errors"
	"flag"
	"fmt"
	"testing"

	"github.com/swav-go/swav/dataset"
)

// Both sources implement Source.
var (
	_ dataset.Source = (*dataset.Folder)(nil)
	_ dataset.Source = (*dataset.IDXSource)(nil)
)

func TestOnErrorText(t *testing.T) {
	tests := []struct {
		in      string
		want    dataset.OnError
		wantErr bool
	}{
		{"skip", dataset.Skip, false},
		{"fail", dataset.Fail, false},
		{" SKIP ", dataset.Skip, false},
		{"ignore", dataset.Fail, true},
		{"", dataset.Fail, true},
	}
	for _, tc := range tests {
		var p dataset.OnError
		err := p.UnmarshalText([]byte(tc.in))
		if (err != nil) != tc.wantErr || (err == nil && p != tc.want) {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, error %v", tc.in, p, err, tc.want, tc.wantErr)
		}
	}
	for p, want := range map[dataset.OnError]string{dataset.Fail: "fail", dataset.Skip: "skip"} {
		if b, err := p.MarshalText(); err != nil || string(b) != want || p.String() != want {
			t.Errorf("%d: MarshalText %q %v, String %q; want %q", int(p), b, err, p.String(), want)
		}
	}
	if _, err := dataset.OnError(7).MarshalText(); err == nil {
		t.Error("MarshalText(7) succeeded")
	}
	// Usable as a command-line flag.
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var p dataset.OnError
	fs.TextVar(&p, "on-error", dataset.Fail, "skip or fail")
	if err := fs.Parse([]string{"-on-error=skip"}); err != nil || p != dataset.Skip {
		t.Errorf("flag: %v, %v", p, err)
	}
}

func TestOnErrorHandle(t *testing.T) {
	boom := errors.New("boom")
	named := errors.New("image a/b.png: boom")
	tests := []struct {
		name        string
		policy      dataset.OnError
		err         error
		wantErr     string // "" for nil
		wantSkipped int
	}{
		{"nil error", dataset.Fail, nil, "", 0},
		{"nil error skip", dataset.Skip, nil, "", 0},
		{"skip records", dataset.Skip, boom, "", 1},
		{"fail adds name", dataset.Fail, boom, "a/b.png: boom", 0},
		{"fail keeps named error", dataset.Fail, named, "image a/b.png: boom", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var skipped []dataset.Skipped
			err := tc.policy.Handle(&skipped, "a/b.png", tc.err)
			if got := ""; err != nil {
				got = err.Error()
				if got != tc.wantErr || !errors.Is(err, tc.err) {
					t.Errorf("err = %q, want %q wrapping %v", got, tc.wantErr, tc.err)
				}
			} else if tc.wantErr != "" {
				t.Errorf("err = nil, want %q", tc.wantErr)
			}
			if len(skipped) != tc.wantSkipped {
				t.Fatalf("skipped %v, want %d entries", skipped, tc.wantSkipped)
			}
			if tc.wantSkipped == 1 && (skipped[0].Name != "a/b.png" || skipped[0].Err != tc.err || skipped[0].String() != "a/b.png: boom") {
				t.Errorf("skipped[0] = %+v", skipped[0])
			}
		})
	}
	// A nil log is allowed.
	if err := dataset.Skip.Handle(nil, "x", boom); err != nil {
		t.Errorf("Skip with nil log: %v", err)
	}
}

func TestSkippedStringNamesOnce(t *testing.T) {
	named := dataset.Skipped{Name: "a/b.png", Err: fmt.Errorf("image a/b.png: corrupt")}
	if got := named.String(); got != "image a/b.png: corrupt" {
		t.Errorf("error naming the item: %q", got)
	}
	bare := dataset.Skipped{Name: "a/b.png", Err: fmt.Errorf("corrupt")}
	if got := bare.String(); got != "a/b.png: corrupt" {
		t.Errorf("error not naming the item: %q", got)
	}
}
