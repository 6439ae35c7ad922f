package ui

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// go-app keeps the handler a mounted element was first given as long as the
// new one has the same code pointer and scope (eventHandler.Equal): a row
// reused for another item keeps the closure — and the id — of the first. So
// a handler may capture only its component (the receiver, which go-app keeps
// for the component's life); a handler that captures anything else, be it a
// loop's item, an id, the language or a local alias of the state, must carry
// app.EventScope with the identity it acts on, which makes go-app replace it
// when the identity changes.
//
// checkHandlers finds every On<Event>(handler, options…) call in src whose
// handler captures a variable of an enclosing function other than the
// receiver, without an app.EventScope option.
func checkHandlers(fset *token.FileSet, file *ast.File) []string {
	var problems []string
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		recv := ""
		if fn.Recv != nil && len(fn.Recv.List) > 0 && len(fn.Recv.List[0].Names) > 0 {
			recv = fn.Recv.List[0].Names[0].Name
		}
		locals := declaredIn(fn.Type, fn.Body)
		delete(locals, recv)
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			// OnClick(h, options…), or On("focusin", h, options…).
			args := call.Args
			switch {
			case sel.Sel.Name == "On" && len(args) >= 2:
				args = args[1:]
			case isEventMethod(sel.Sel.Name):
			default:
				return true
			}
			if slices.ContainsFunc(args[1:], isEventScope) {
				return true
			}
			captured := capturedLocals(args[0], locals)
			if len(captured) > 0 {
				problems = append(problems, fmt.Sprintf("%s: %s handler captures %s without app.EventScope: a re-rendered row would keep the first item's",
					fset.Position(call.Pos()), sel.Sel.Name, strings.Join(captured, ", ")))
			}
			return true
		})
	}
	return problems
}

// isEventMethod: go-app's OnClick, OnChange, OnInput, … (not OnMount and the
// like, which are component hooks, never called with a handler argument).
func isEventMethod(name string) bool {
	rest, ok := strings.CutPrefix(name, "On")
	return ok && rest != "" && rest[0] >= 'A' && rest[0] <= 'Z'
}

func isEventScope(e ast.Expr) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "EventScope"
}

// declaredIn is every name a function declares: parameters, results, and
// the variables of its body, closures included.
func declaredIn(ft *ast.FuncType, body ast.Node) map[string]bool {
	names := map[string]bool{}
	fields := func(fl *ast.FieldList) {
		if fl == nil {
			return
		}
		for _, f := range fl.List {
			for _, n := range f.Names {
				names[n.Name] = true
			}
		}
	}
	fields(ft.Params)
	fields(ft.Results)
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if n.Tok == token.DEFINE {
				for _, l := range n.Lhs {
					if id, ok := l.(*ast.Ident); ok {
						names[id.Name] = true
					}
				}
			}
		case *ast.ValueSpec:
			for _, id := range n.Names {
				names[id.Name] = true
			}
		case *ast.RangeStmt:
			for _, e := range []ast.Expr{n.Key, n.Value} {
				if id, ok := e.(*ast.Ident); ok && n.Tok == token.DEFINE {
					names[id.Name] = true
				}
			}
		case *ast.FuncLit:
			fields(n.Type.Params)
			fields(n.Type.Results)
		}
		return true
	})
	delete(names, "_")
	return names
}

// capturedLocals is the enclosing function's variables that the handler
// expression uses and does not declare itself, sorted.
func capturedLocals(h ast.Expr, locals map[string]bool) []string {
	own := map[string]bool{}
	if lit, ok := h.(*ast.FuncLit); ok {
		own = declaredIn(lit.Type, lit.Body)
	}
	seen := map[string]bool{}
	var walk func(n ast.Node) bool
	walk = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			ast.Inspect(n.X, walk) // x.Field: only x can be a variable
			return false
		case *ast.KeyValueExpr:
			if _, ok := n.Key.(*ast.Ident); !ok {
				ast.Inspect(n.Key, walk) // a struct literal's field name is not a variable
			}
			ast.Inspect(n.Value, walk)
			return false
		case *ast.Ident:
			if locals[n.Name] && !own[n.Name] {
				seen[n.Name] = true
			}
		}
		return true
	}
	ast.Inspect(h, walk)
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Every handler in the dashboard either captures only its component or says
// whose it is with app.EventScope.
func TestHandlersBindIdentity(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range checkHandlers(fset, f) {
			t.Error(p)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("checked only %d files", checked)
	}
}

// The check itself finds what it is for, and passes what is safe.
func TestCheckHandlers(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // a substring per problem, in order
	}{
		{"bad.go.txt", []string{
			"OnClick handler captures id",
			"OnClick handler captures inc",
			"OnClick handler captures c, unit",
			"OnChange handler captures c",
			"OnClick handler captures lang",
			"On handler captures id",
		}},
		{"good.go.txt", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", "handlers", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, tc.file, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			got := checkHandlers(fset, f)
			if len(got) != len(tc.want) {
				t.Fatalf("%d problems, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want %q", i, got[i], w)
				}
			}
		})
	}
}
