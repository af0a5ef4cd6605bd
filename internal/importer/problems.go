package importer

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with the template directory.
type Problem struct {
	// File is the path relative to the imported directory, with forward slashes.
	File string
	// Line is the 1-based line in File; a problem with a whole file or directory is at line 1.
	Line int
	// Message says what is wrong.
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s", p.File, max(p.Line, 1), p.Message)
}

// Problems is every problem found in one import. It is the error Import returns.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sort orders problems by file, then line, so a report reads top to bottom.
func (ps Problems) sort() {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
}

// reporter collects the problems of one file.
type reporter struct {
	file     string
	problems *Problems
}

func (r reporter) add(line int, format string, args ...any) {
	*r.problems = append(*r.problems, Problem{File: r.file, Line: line, Message: fmt.Sprintf(format, args...)})
}
