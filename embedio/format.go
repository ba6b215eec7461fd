package embedio

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Format names an output file format.
type Format string

// The supported output formats.
const (
	// FormatNPY is a NumPy .npy float32 array of shape (N, D) with a
	// ".paths.txt" sidecar listing the input paths.
	FormatNPY Format = "npy"
	// FormatJSONL is JSON Lines, one {"path", "embedding"} object per line.
	FormatJSONL Format = "jsonl"
	// FormatCSV is CSV with a "path,v0,...,v{D-1}" header and one row per image.
	FormatCSV Format = "csv"
)

// Formats returns the supported formats in a fixed order (npy, jsonl, csv),
// for help texts and validation messages. The caller owns the slice.
func Formats() []Format {
	return []Format{FormatNPY, FormatJSONL, FormatCSV}
}

// valid reports whether f is one of the supported formats.
func (f Format) valid() bool {
	switch f {
	case FormatNPY, FormatJSONL, FormatCSV:
		return true
	}
	return false
}

// formatList renders the supported formats as "npy, jsonl, csv".
func formatList() string {
	names := make([]string, 0, 3)
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// FormatFromPath chooses the output format. A non-empty explicit format
// (typically the --format flag) wins and is matched case-insensitively;
// otherwise the format is inferred from the extension of path (.npy, .jsonl
// or .csv, case-insensitive). Anything else is an error that lists the valid
// choices.
func FormatFromPath(path, explicit string) (Format, error) {
	if explicit != "" {
		f := Format(strings.ToLower(strings.TrimSpace(explicit)))
		if !f.valid() {
			return "", fmt.Errorf("embedio: unknown output format %q for %s: valid formats are %s", explicit, path, formatList())
		}
		return f, nil
	}
	ext := filepath.Ext(path)
	f := Format(strings.ToLower(strings.TrimPrefix(ext, ".")))
	if ext == "" || !f.valid() {
		return "", fmt.Errorf("embedio: cannot infer the output format of %s from its extension %q: use a .npy, .jsonl or .csv file name or give the format explicitly (%s)", path, ext, formatList())
	}
	return f, nil
}
