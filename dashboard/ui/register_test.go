package ui

import (
	"bytes"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// go-app pitfalls on the serving side: the server knows the app's routes
// only through Register (else the paths 404), and pre-renders each route
// on the server — where OnMount must not be needed and nothing may block.
func TestHandlerServesRoutes(t *testing.T) {
	Register()
	h := NewHandler()
	h.Version = VersionOf([]byte("test build"))
	h.Resources = app.LocalDir("..") // dashboard/web holds /web/*
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, r := range Routes {
		code, body := get(t, srv, r)
		if code != 200 {
			t.Fatalf("GET %s: %d", r, code)
		}
		es := parseElems(body)
		// The pre-rendered page is the sign-in form, with the e2e hooks.
		for _, id := range []string{"signin-name", "signin-password", "signin", "signin-form", "link"} {
			if len(find(es, "", map[string]string{"id": id})) != 1 {
				t.Errorf("GET %s: no #%s", r, id)
			}
		}
		if len(find(es, "input", map[string]string{"id": "signin-password", "type": "password"})) != 1 {
			t.Error("#signin-password is not a password field")
		}
		if len(find(es, "", map[string]string{"id": "token"})) != 0 {
			t.Error("the pre-rendered form asks for a token")
		}
		// The server does not know whether the browser has a session: the
		// app asks once it runs.
		if len(find(es, "div", map[string]string{"id": "kuaifan", "data-session": PhaseUnknown})) != 1 {
			t.Error("the pre-render claims a session state")
		}
		if len(find(es, "", map[string]string{"id": "link", "data-state": LinkOffline})) != 1 {
			t.Error("#link[data-state=offline] before sign-in")
		}
		if !strings.Contains(body, StyleSheet) {
			t.Error("style sheet not linked")
		}
	}
	if code, _ := get(t, srv, "/no-such-page"); code != 404 {
		t.Errorf("unrouted path: %d", code)
	}
	// Everything the page needs is local: a closed network has no internet.
	code, manifest := get(t, srv, "/manifest.webmanifest")
	if code != 200 || !strings.Contains(manifest, IconPNG) || strings.Contains(manifest, "githubusercontent") {
		t.Errorf("manifest %d: %s", code, manifest)
	}
	_, page := get(t, srv, "/")
	if m := regexp.MustCompile(`(?:src|href)="https?://[^"]*"`).FindString(page); m != "" {
		t.Errorf("the page loads %s from outside", m)
	}
	for _, asset := range []string{StyleSheet, HistorySheet, PagesSheet, IconSVG, IconPNG, IconLarge} {
		if code, _ := get(t, srv, asset); code != 200 {
			t.Errorf("GET %s: %d", asset, code)
		}
	}
}

func TestIcons(t *testing.T) {
	for file, size := range map[string]int{"../web/icon-192.png": 192, "../web/icon-512.png": 512} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil || img.Bounds().Dx() != size || img.Bounds().Dy() != size {
			t.Errorf("%s: %v %v", file, img.Bounds(), err)
		}
	}
}

func TestVersionOf(t *testing.T) {
	a, b := VersionOf([]byte("build 1")), VersionOf([]byte("build 2"))
	if a == "" || a == b || a != VersionOf([]byte("build 1")) {
		t.Errorf("versions %q %q", a, b)
	}
}

// The WebAssembly main registers the routes before starting: the same
// Register the hub calls.
func TestWasmMainRegisters(t *testing.T) {
	src, err := os.ReadFile("../cmd/wasm/main.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	r, run := strings.Index(s, "ui.Register()"), strings.Index(s, "app.RunWhenOnBrowser()")
	if r < 0 || run < 0 || r > run {
		t.Error("cmd/wasm must call ui.Register() before app.RunWhenOnBrowser()")
	}
}

// go-app pitfall: SVG elements need XMLNS. Every SVG element is made by
// svgEl, which sets it.
func TestSVGNamespace(t *testing.T) {
	if ns := svgEl("path").XMLNamespace(); ns != "http://www.w3.org/2000/svg" {
		t.Errorf("svgEl namespace %q", ns)
	}
	if ns := brandIcon().(app.HTML).XMLNamespace(); ns != svgNS {
		t.Errorf("brand icon namespace %q", ns)
	}
	svgTags := regexp.MustCompile(`app\.Elem\("(svg|path|circle|rect|line|polyline|polygon|g|text|ellipse)"\)`)
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(src), "\n") {
			if svgTags.MatchString(line) {
				t.Errorf("%s: SVG element made without svgEl: %s", f, strings.TrimSpace(line))
			}
		}
	}
}
