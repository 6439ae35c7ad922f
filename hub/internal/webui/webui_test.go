package webui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The static files: gzip where the client takes it (the build's own .gz,
// or compressed at start), plain otherwise, the right types, nothing
// outside web/.
func TestResources(t *testing.T) {
	wasm := bytes.Repeat([]byte("\x00asm wasm wasm "), 1000)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(wasm)
	zw.Close()
	css := []byte(strings.Repeat("body { margin: 0 }\n", 100))
	r := newResources(fstest.MapFS{
		"web/app.wasm":    {Data: wasm},
		"web/app.wasm.gz": {Data: gz.Bytes()},
		"web/kuaifan.css": {Data: css},
		"web/icon.png":    {Data: []byte("\x89PNG")},
		"secret.txt":      {Data: []byte("no")},
	})
	if r.WasmSize != len(wasm) || r.Version == "" {
		t.Errorf("size %d, version %q", r.WasmSize, r.Version)
	}
	for _, tc := range []struct {
		path, accept, ctype, encoding string
		want                          []byte
	}{
		{"/web/app.wasm", "gzip, deflate", "application/wasm", "gzip", wasm},
		{"/web/app.wasm", "", "application/wasm", "", wasm},
		{"/web/kuaifan.css", "gzip", "text/css; charset=utf-8", "gzip", css},
		{"/web/icon.png", "gzip", "image/png", "", []byte("\x89PNG")},
	} {
		resp := get(t, r, tc.path, "Accept-Encoding", tc.accept)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.ctype || resp.Header.Get("Content-Encoding") != tc.encoding ||
			!bytes.Equal(body(t, resp), tc.want) || resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("%s (accept %q): %d %v", tc.path, tc.accept, resp.StatusCode, resp.Header)
		}
	}
	for _, p := range []string{"/secret.txt", "/web/../secret.txt", "/web/missing.js"} {
		if resp := get(t, r, p); resp.StatusCode != 404 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

// The hub's handler at "/": the dashboard's page, app.wasm compressed, a
// version that changes with the build (ETag, 304), the basemap setting —
// or, in a binary built without the dashboard, a page saying how to build
// it. make test builds app.wasm first, so under CI the build is there.
func TestHandler(t *testing.T) {
	if !Built() {
		if os.Getenv("CI") == "true" {
			t.Fatal("no dashboard build embedded: make test runs make wasm first")
		}
		resp := get(t, New(Config{}), "/")
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body(t, resp)), "make build") {
			t.Errorf("not built: %d", resp.StatusCode)
		}
		t.Skip("the dashboard is not built (make wasm); only the fallback page was checked")
	}
	h := New(Config{Tiles: "https://tiles.example/{z}/{x}/{y}.png"})
	page := get(t, h, "/")
	html := string(body(t, page))
	if page.StatusCode != 200 || !strings.Contains(html, `<html lang="zh-CN">`) || !strings.Contains(html, "/web/kuaifan.css") ||
		strings.Contains(html, "githubusercontent") {
		t.Errorf("page: %d\n%.600s", page.StatusCode, html)
	}
	etag := page.Header.Get("ETag")
	if etag == "" || page.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("page headers: %v", page.Header)
	}
	if resp := get(t, h, "/", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("same version: %d, want 304", resp.StatusCode)
	}
	wasm := get(t, h, "/web/app.wasm", "Accept-Encoding", "gzip")
	if wasm.StatusCode != 200 || wasm.Header.Get("Content-Encoding") != "gzip" || wasm.Header.Get("Content-Type") != "application/wasm" ||
		wasm.Header.Get("ETag") != etag {
		t.Errorf("app.wasm: %d %v", wasm.StatusCode, wasm.Header)
	}
	if wasm.Header.Get("Content-Length") == "" {
		t.Error("app.wasm without Content-Length")
	}
	if b := body(t, wasm); !bytes.HasPrefix(b, []byte("\x00asm")) {
		t.Errorf("app.wasm does not start with the wasm magic: % x", b[:min(8, len(b))])
	}
	if js := string(body(t, get(t, h, "/app.js"))); !strings.Contains(js, "tiles.example") {
		t.Error("the basemap template is not in the app's environment")
	}
}
