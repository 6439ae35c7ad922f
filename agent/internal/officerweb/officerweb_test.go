package officerweb

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, gz bool) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip, deflate")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Without a build the page says how to make one.
func TestNotBuilt(t *testing.T) {
	rec := get(t, http.HandlerFunc(notBuilt), "/", false)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "make wasm") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

// With the build (make wasm): the page, the style sheet, and app.wasm
// gzipped or — for a client that takes no gzip — inflated.
func TestServesTheBuild(t *testing.T) {
	if !Built() {
		msg := "the officer's page is not built: run make wasm"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	h := New()
	page := get(t, h, "/", true)
	if page.Code != 200 || !strings.Contains(page.Body.String(), "/web/officer.css") {
		t.Fatalf("GET /: %d %.300s", page.Code, page.Body)
	}
	css := get(t, h, "/web/officer.css", false)
	if css.Code != 200 || !strings.HasPrefix(css.Header().Get("Content-Type"), "text/css") || !strings.Contains(css.Body.String(), ".sos") {
		t.Errorf("officer.css: %d %s", css.Code, css.Header())
	}
	gz := get(t, h, "/web/app.wasm", true)
	if gz.Code != 200 || gz.Header().Get("Content-Encoding") != "gzip" || gz.Header().Get("Content-Type") != "application/wasm" {
		t.Fatalf("app.wasm gzipped: %d %v", gz.Code, gz.Header())
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	inflated, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(inflated, []byte("\x00asm")) {
		t.Error("app.wasm is not WebAssembly")
	}
	if n := gz.Header().Get("X-Wasm-Length"); n != strconv.Itoa(len(inflated)) {
		t.Errorf("X-Wasm-Length %s, inflated %d", n, len(inflated))
	}
	raw := get(t, h, "/web/app.wasm", false)
	if raw.Code != 200 || raw.Header().Get("Content-Encoding") != "" || !bytes.Equal(raw.Body.Bytes(), inflated) {
		t.Errorf("app.wasm without gzip: %d %v, %d bytes", raw.Code, raw.Header(), raw.Body.Len())
	}
	for _, p := range []string{"/web/app.wasm.gz", "/web/nothing.js", "/web/../officerweb.go"} {
		if rec := get(t, h, p, true); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, rec.Code)
		}
	}
}
