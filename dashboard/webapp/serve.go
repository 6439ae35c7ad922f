package webapp

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// WasmLengthHeader carries app.wasm's inflated size on every file of the
// build: go-app's loader reads it for its progress bar (the Content-Length
// of a gzipped answer is not the size it counts).
const WasmLengthHeader = "X-Wasm-Length"

// Build is a go-app build embedded in a binary and served by it: go-app's
// resolver for /web/ paths and the handler of their files, gzipped where
// the client accepts it. The hub serves the dashboard's, the agent the
// officer's page's.
type Build struct {
	FS       fs.FS             // the build: web/…
	Version  string            // the build's hash: go-app's ETag and cache key
	WasmSize int               // app.wasm inflated, for go-app's progress bar
	Gz       map[string][]byte // gzipped bodies by path (web/…): GzipBuild
	// Serve, when set, answers a path under web/ before the build's files
	// are read, and reports whether it did: a binary's own way with a file
	// (the agent streams app.wasm from its .gz).
	Serve func(w http.ResponseWriter, req *http.Request, p string) bool
}

// Handle makes go-app's handler serve the build.
func (b *Build) Handle(h *app.Handler) {
	h.Version = b.Version
	h.Resources = b
	h.WasmContentLength = strconv.Itoa(b.WasmSize)
	h.WasmContentLengthHeader = WasmLengthHeader
}

// Resolve maps /web/… to itself: the files are served by this handler.
func (b *Build) Resolve(location string) string {
	if location == "" || location == "/" {
		return "/"
	}
	return location
}

// ServeHTTP answers the build's files under /web/, nothing outside.
func (b *Build) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p := strings.TrimPrefix(path.Clean(req.URL.Path), "/")
	if !strings.HasPrefix(p, "web/") {
		http.NotFound(w, req)
		return
	}
	w.Header().Set(WasmLengthHeader, strconv.Itoa(b.WasmSize))
	w.Header().Set("Vary", "Accept-Encoding")
	if b.Serve != nil && b.Serve(w, req, p) {
		return
	}
	body, err := fs.ReadFile(b.FS, p)
	if err != nil {
		http.NotFound(w, req)
		return
	}
	ServeBody(w, req, p, body, b.Gz[p])
}

// Compressible reports whether a build's file is worth gzipping: the text
// formats and the WebAssembly, not the images (already compressed).
func Compressible(p string) bool {
	switch path.Ext(p) {
	case ".wasm", ".js", ".css", ".svg", ".json", ".html", ".webmanifest":
		return true
	}
	return false
}

// GzipBuild gzips the files under dir of a build, by path: a file's .gz
// sibling when the build has one (make wasm's gzip -9), else the file
// compressed now if it is Compressible. The .gz files are not keys.
func GzipBuild(web fs.FS, dir string) map[string][]byte {
	out := make(map[string][]byte)
	fs.WalkDir(web, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".gz") {
			return nil
		}
		if gz, err := fs.ReadFile(web, p+".gz"); err == nil {
			out[p] = gz
			return nil
		}
		if body, err := fs.ReadFile(web, p); err == nil && Compressible(p) {
			out[p] = Gzip(body)
		}
		return nil
	})
	return out
}

// Gzip compresses b at the best level: a build is compressed once, served
// many times.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: cannot fail
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// ContentType is a build file's type by its extension; "" when unknown.
// app.wasm must be application/wasm for the browser to stream-compile it.
func ContentType(p string) string {
	if path.Ext(p) == ".wasm" {
		return "application/wasm"
	}
	return mime.TypeByExtension(path.Ext(p))
}

// AcceptsGzip reports whether the request's client takes a gzipped answer.
func AcceptsGzip(req *http.Request) bool {
	return strings.Contains(req.Header.Get("Accept-Encoding"), "gzip")
}

// ServeBody answers the build's file p: gz (its gzipped bytes) when there
// are some and the client accepts gzip, else body, with its Content-Type
// and Content-Length.
func ServeBody(w http.ResponseWriter, req *http.Request, p string, body, gz []byte) {
	h := w.Header()
	if ctype := ContentType(p); ctype != "" {
		h.Set("Content-Type", ctype)
	}
	if gz != nil && AcceptsGzip(req) {
		h.Set("Content-Encoding", "gzip")
		h.Set("Content-Length", strconv.Itoa(len(gz)))
		w.Write(gz)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// NotBuilt answers for a binary built without its page: a 503 whose text
// says how to build it.
func NotBuilt(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte(text))
}
