package controller

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"testing"
)

// maxFunctionLines is the longest a function of this package may be, tests included: a
// reader should see a whole step at once.
const maxFunctionLines = 80

// TestNoFunctionIsLongerThanItsReaderCanHold keeps every function of the package, its tests
// included, within maxFunctionLines.
func TestNoFunctionIsLongerThanItsReaderCanHold(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			if n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1; n > maxFunctionLines {
				t.Errorf("%s: %s is %d lines, more than %d", fset.Position(fn.Pos()), fn.Name.Name, n, maxFunctionLines)
			}
		}
	}
}
