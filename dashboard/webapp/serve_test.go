package webapp

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"
)

// GzipBuild takes a build's own .gz, gzips the text files, skips the images.
func TestGzipBuild(t *testing.T) {
	own := Gzip([]byte("wasm"))
	web := fstest.MapFS{
		"web/app.wasm":    {Data: []byte("wasm")},
		"web/app.wasm.gz": {Data: own},
		"web/page.css":    {Data: []byte("body{}")},
		"web/icon.png":    {Data: []byte("png")},
	}
	gz := GzipBuild(web, "web")
	if !bytes.Equal(gz["web/app.wasm"], own) {
		t.Error("app.wasm: not the build's own .gz")
	}
	if _, ok := gz["web/icon.png"]; ok {
		t.Error("an image was gzipped")
	}
	if _, ok := gz["web/app.wasm.gz"]; ok {
		t.Error("a .gz is a key")
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz["web/page.css"]))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != "body{}" {
		t.Errorf("page.css inflates to %q", b)
	}
}

func TestServeBody(t *testing.T) {
	body, gz := []byte("body{}"), Gzip([]byte("body{}"))
	for _, tc := range []struct {
		accept, enc, out string
	}{
		{"gzip, br", "gzip", string(gz)},
		{"", "", "body{}"},
	} {
		req := httptest.NewRequest("GET", "/web/page.css", nil)
		if tc.accept != "" {
			req.Header.Set("Accept-Encoding", tc.accept)
		}
		rec := httptest.NewRecorder()
		ServeBody(rec, req, "web/page.css", body, gz)
		h := rec.Header()
		if h.Get("Content-Encoding") != tc.enc || rec.Body.String() != tc.out || h.Get("Content-Type") != "text/css; charset=utf-8" {
			t.Errorf("accept %q: %v %q", tc.accept, h, rec.Body)
		}
	}
	if ContentType("web/app.wasm") != "application/wasm" {
		t.Error("wasm type")
	}
	rec := httptest.NewRecorder()
	NotBuilt(rec, "build it")
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "build it" {
		t.Errorf("NotBuilt %d %q", rec.Code, rec.Body)
	}
}

// A Build answers its files under web/ only, and lets its Serve hook go
// first.
func TestBuild(t *testing.T) {
	b := &Build{
		FS:       fstest.MapFS{"web/a.css": {Data: []byte("a{}")}, "secret.txt": {Data: []byte("no")}},
		WasmSize: 42,
		Serve: func(w http.ResponseWriter, _ *http.Request, p string) bool {
			if p != "web/hooked" {
				return false
			}
			w.Write([]byte("hook"))
			return true
		},
	}
	for p, want := range map[string]string{"/web/a.css": "a{}", "/web/hooked": "hook"} {
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 || rec.Body.String() != want || rec.Header().Get(WasmLengthHeader) != "42" {
			t.Errorf("%s: %d %q %v", p, rec.Code, rec.Body, rec.Header())
		}
	}
	for _, p := range []string{"/secret.txt", "/web/../secret.txt", "/web/missing.js"} {
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 404 {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
	if b.Resolve("") != "/" || b.Resolve("/web/a.css") != "/web/a.css" {
		t.Error("Resolve")
	}
}
