package agent

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// No paho token is ever waited on with Wait: a Wait inside (or behind) a
// paho handler can deadlock the client (paho's README; issues 411, 509),
// and one outside it hangs forever on a connection that died. The module
// selects on Done with a deadline instead (WaitTimeout in tests). The only
// Wait() calls allowed are sync.WaitGroup's, which this module always
// names wg (and exec.Cmd's). Checked: every file that imports paho, and
// every file of the packages that drive the link (agent, uplink, cmd/agent).
func TestNoTokenWait(t *testing.T) {
	mine := map[string]bool{".": true, "internal/uplink": true, "cmd/agent": true}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		paho := false
		for _, imp := range f.Imports {
			paho = paho || strings.HasPrefix(strings.Trim(imp.Path.Value, `"`), "github.com/eclipse/paho.mqtt.golang")
		}
		if !paho && !mine[filepath.Dir(path)] {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Wait" {
				return true
			}
			recv := exprString(sel.X)
			if recv == "wg" || strings.HasSuffix(recv, ".wg") || recv == "cmd" || strings.HasSuffix(recv, ".cmd") {
				return true // sync.WaitGroup; exec.Cmd
			}
			t.Errorf("%s: %s.Wait(): select on Done() with a deadline instead", fset.Position(call.Pos()), recv)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	case *ast.CallExpr:
		return exprString(e.Fun) + "()"
	}
	return "?"
}
