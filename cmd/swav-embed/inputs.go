package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swav-go/swav/dataset"
	"github.com/swav-go/swav/internal/userfile"
)

// maxPathListBytes bounds a --from-file list (about a million paths).
const maxPathListBytes = 256 << 20

// fromFileHelp is the help of --from-file.
const fromFileHelp = "also take the images listed in this text file, one path per line (- for standard input; blank lines and lines starting with # are ignored)"

// imageArgsHelp explains, in a command's long help, what its image arguments may be.
const imageArgsHelp = `Image arguments are doublestar globs ('photos/**/*.{jpg,png}'; extensions match in any
case, so *.jpg also matches IMG_0001.JPG), files, or directories (a directory means every
image below it: .jpg .jpeg .png .gif .webp .bmp .tif .tiff in any case, hidden files and
folders left out). --from-file adds a list of paths, one per line.`

// images returns the files the arguments and --from-file name, in order, without
// duplicates (see walkGlobs).
func (f modelFlags) images(cmd *cobra.Command, patterns []string, onErr dataset.OnError) ([]string, []dataset.Skipped, error) {
	var list []string
	if f.fromFile != "" {
		var err error
		if list, err = readPathList(cmd.InOrStdin(), f.fromFile); err != nil {
			return nil, nil, err
		}
		if len(list) == 0 && len(patterns) == 0 {
			return nil, nil, fmt.Errorf("--from-file %s lists no path", pathListName(f.fromFile))
		}
	}
	if len(patterns) == 0 && f.fromFile == "" {
		return nil, nil, &usageError{fmt.Errorf("%s: give the images: globs, files or directories as arguments, or --from-file LIST", cmd.Name())}
	}
	return walkGlobs(patterns, list, onErr)
}

// expandGlobs is images with listing failures fatal.
func (f modelFlags) expandGlobs(cmd *cobra.Command, patterns []string) ([]string, error) {
	paths, _, err := f.images(cmd, patterns, dataset.Fail)
	return paths, err
}

// pathListName names a --from-file value in messages.
func pathListName(name string) string {
	if name == "-" {
		return "standard input"
	}
	return name
}

// readPathList reads a --from-file list (name "-": stdin): one path per line, surrounding
// white space trimmed, blank lines and lines starting with "#" skipped.
func readPathList(stdin io.Reader, name string) ([]string, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, maxPathListBytes+1))
		if err == nil && len(data) > maxPathListBytes {
			err = fmt.Errorf("longer than %d bytes", maxPathListBytes)
		}
		if err != nil {
			return nil, fmt.Errorf("--from-file -: reading the list of images from standard input: %w", err)
		}
	} else if data, err = userfile.ReadFile(name, maxPathListBytes); err != nil {
		return nil, fmt.Errorf("--from-file: %w", err) // userfile's error names the file
	}
	var paths []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		paths = append(paths, line)
	}
	return paths, nil
}

// walkGlobs returns the files matching the patterns (doublestar globs, files or
// directories; see dataset.Walk; hidden files match globs too), then the listed paths
// (each taken literally: a directory stands for the images below it, anything else is
// returned as is, so a missing or unreadable file fails, or is skipped, when decoded), in
// order, without duplicates. A pattern that matches nothing is an error naming it. A
// path that could not be read while walking (an unreadable folder, a symbolic link loop)
// goes to onErr: under skip it is returned as a skipped entry naming its absolute path
// (for the run's skip report), under fail it is the error.
func walkGlobs(patterns, listed []string, onErr dataset.OnError) ([]string, []dataset.Skipped, error) {
	var paths []string
	var skipped []dataset.Skipped
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	walk := func(p string, listedDir bool) error {
		files, failed, err := dataset.Walk(p, dataset.WalkOptions{Hidden: true})
		if err != nil {
			return err
		}
		what := fmt.Sprintf("pattern %q", p)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			what = "directory " + p
		}
		for _, werr := range failed {
			if seen[werr.Path] {
				continue
			}
			seen[werr.Path] = true
			if err := onErr.Handle(&skipped, werr.Path, werr); err != nil {
				return err // a WalkError names its path
			}
		}
		switch {
		case len(files) == 0 && len(failed) > 0:
			return fmt.Errorf("%s matches no readable file: %d path(s) could not be read, the first: %w", what, len(failed), failed[0])
		case len(files) == 0 && strings.HasPrefix(what, "directory"):
			if listedDir {
				return nil // a listed folder without images adds nothing
			}
			return fmt.Errorf("%s holds no image (.%s, in any case)", what, strings.Join(dataset.ImageExtensions(), " ."))
		case len(files) == 0:
			if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) && !strings.ContainsAny(filepath.ToSlash(p), "*?[]{}\\") {
				return fmt.Errorf("%s does not exist", p)
			}
			return errors.New(what + " matches no file")
		}
		for _, m := range files {
			add(m)
		}
		return nil
	}
	for _, p := range patterns {
		if err := walk(p, false); err != nil {
			return nil, nil, err
		}
	}
	for _, p := range listed {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			if err := walk(p, true); err != nil {
				return nil, nil, err
			}
			continue
		}
		add(p)
	}
	return paths, skipped, nil
}

// withPath wraps err from an operation (what) on path, naming the path once: err as is
// after what when its message already names the path (an *fs.PathError does), else
// "what path: err".
func withPath(what, path string, err error) error {
	if strings.Contains(err.Error(), path) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s %s: %w", what, path, err)
}

// reportSkipped lists the skipped images on w, each naming its path once (the errors of
// the decoder and of the walk already name it).
func reportSkipped(w io.Writer, skipped []dataset.Skipped) {
	if len(skipped) == 0 {
		return
	}
	fmt.Fprintf(w, "skipped %d:\n", len(skipped))
	for _, s := range skipped {
		fmt.Fprintf(w, "  %s\n", skippedText(s))
	}
}

// skippedText is "path: error", or the error alone when it names the path.
func skippedText(s dataset.Skipped) string {
	if s.Err != nil && strings.Contains(s.Err.Error(), s.Name) {
		return s.Err.Error()
	}
	return s.String()
}
