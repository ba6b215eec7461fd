// Package mdsection rewrites a generated section of a markdown file (benchmark tables),
// leaving the rest of the file as written by people.
package mdsection

import (
	"fmt"
	"os"
	"strings"
)

// Replace writes content between the lines "<!-- name -->" and "<!-- /name -->" of the
// markdown file at path, appending the section (and creating the file) when absent.
func Replace(path, name, content string) error {
	begin, end := "<!-- "+name+" -->", "<!-- /"+name+" -->"
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("markdown %s: %w", path, err)
	}
	s := string(old)
	if !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	block := begin + "\n" + content + end
	if i, j := strings.Index(s, begin), strings.Index(s, end); i >= 0 && j > i {
		s = s[:i] + block + s[j+len(end):]
	} else {
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		s += "\n" + block + "\n"
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		return fmt.Errorf("markdown %s: %w", path, err)
	}
	return nil
}
