package dispatch

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"kuaifan/protocol/api"
)

// Every timeline type the hub writes is one the dashboard knows: the source
// is read for each entry type it names — the Type of an Entry literal, or
// an assignment to a .Type — and each must be a constant of the shared
// vocabulary (api.Entry…, or one of this package's Event… aliases of them)
// whose value is in api.EntryTypes. The lifecycle tests check the entries
// actually written, this one the paths no test walks.
func TestEntryTypesWritten(t *testing.T) {
	fset := token.NewFileSet()
	pkg := typeCheck(t, fset, "kuaifan/protocol/api")
	value := func(name string) (string, bool) { // of an api constant
		c, ok := pkg.Scope().Lookup(name).(*types.Const)
		if !ok || c.Val().Kind() != constant.String {
			return "", false
		}
		return constant.StringVal(c.Val()), true
	}

	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var parsed []*ast.File
	aliases := map[string]string{} // EventX → api.EntryY's name
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if sel, ok := apiSelector(vs.Values, i); ok {
							aliases[n.Name] = sel
						}
					}
				}
			}
		}
	}

	written := map[string]bool{}
	check := func(e ast.Expr) {
		pos := fset.Position(e.Pos())
		name := ""
		switch x := e.(type) {
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok && id.Name == "api" {
				name = x.Sel.Name
			}
		case *ast.Ident:
			name = aliases[x.Name]
		}
		v, ok := value(name)
		switch {
		case !ok:
			t.Errorf("%s: entry type %s is not a constant of kuaifan/protocol/api", pos, types.ExprString(e))
		case !slices.Contains(api.EntryTypes, v):
			t.Errorf("%s: entry type %q is not in api.EntryTypes", pos, v)
		default:
			written[v] = true
		}
	}
	for _, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CompositeLit:
				if s := types.ExprString(x.Type); s == "Entry" || s == "api.Entry" {
					for _, el := range x.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok && types.ExprString(kv.Key) == "Type" {
							check(kv.Value)
						}
					}
				}
			case *ast.AssignStmt:
				for i, lhs := range x.Lhs {
					if sel, ok := lhs.(*ast.SelectorExpr); ok && sel.Sel.Name == "Type" && len(x.Rhs) == len(x.Lhs) {
						check(x.Rhs[i])
					}
				}
			}
			return true
		})
	}
	// And the other way round: the hub writes every type there is.
	for _, typ := range api.EntryTypes {
		if !written[typ] {
			t.Errorf("api.EntryTypes has %q, which the hub never writes", typ)
		}
	}
}

// typeCheck type-checks one package from its source, its imports from the
// compiler's export data, which go list finds (kuaifan/protocol too, a module
// importer.Default cannot see): much quicker than the source importer, which
// would type-check the standard library too.
func typeCheck(t *testing.T, fset *token.FileSet, path string) *types.Package {
	t.Helper()
	list, err := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}", path).Output()
	if err != nil {
		t.Fatalf("go list -export %s: %v", path, err)
	}
	exports := map[string]string{}
	for line := range strings.Lines(string(list)) {
		if imp, file, ok := strings.Cut(strings.TrimSpace(line), "\t"); ok {
			exports[imp] = file
		}
	}
	bp, err := build.Import(path, ".", 0)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(bp.Dir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	lookup := func(imp string) (io.ReadCloser, error) {
		if exports[imp] == "" {
			return nil, fmt.Errorf("no export data for %s", imp)
		}
		return os.Open(exports[imp])
	}
	conf := types.Config{Importer: importer.ForCompiler(fset, "gc", lookup)}
	pkg, err := conf.Check(path, fset, files, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

// apiSelector is the name X of values[i] when it is api.X.
func apiSelector(values []ast.Expr, i int) (string, bool) {
	if i >= len(values) {
		return "", false
	}
	sel, ok := values[i].(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "api" {
		return "", false
	}
	return sel.Sel.Name, true
}
