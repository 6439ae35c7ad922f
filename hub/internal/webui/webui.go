// Package webui serves the dispatcher's dashboard from the hub: the go-app
// PWA whose WebAssembly build (web/app.wasm, made by `make wasm`) is embedded
// in the hub binary, so a deployment is one file. The go-app handler answers
// every page path the app has (the same routes the WASM registers), and the
// static files under /web/ come from the embedded build, gzip-precompressed.
package webui

import (
	"bytes"
	"compress/gzip"
	"embed"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"kuaifan/dashboard/ui"
)

//go:embed dist
var dist embed.FS

// Built reports whether the dashboard's WebAssembly build is embedded.
func Built() bool {
	_, err := fs.Stat(dist, "dist/web/app.wasm")
	return err == nil
}

// registerRoutes runs ui.Register once: go-app keeps its routes in a
// process-wide table, and the server must know the same routes as the app.
var registerRoutes = sync.OnceFunc(ui.Register)

// Config is what a deployment may set about the dashboard.
type Config struct {
	// Tiles is an XYZ basemap URL template with {z}, {x} and {y} (an
	// on-premise tile server); empty: the dashboard's vector background.
	Tiles string
}

// New returns the dashboard's handler, to be mounted at "/". Without an
// embedded build it serves a page saying how to make one.
func New(cfg Config) http.Handler {
	if !Built() {
		return http.HandlerFunc(notBuilt)
	}
	web, _ := fs.Sub(dist, "dist")
	res := newResources(web)
	registerRoutes()
	h := ui.NewHandler()
	// The build's hash: a new build is picked up, the same one is not
	// downloaded again (go-app makes it the ETag and the cache key).
	h.Version = res.version
	h.Resources = res
	h.WasmContentLength = strconv.Itoa(res.wasmSize)
	h.WasmContentLengthHeader = "X-Wasm-Length"
	if cfg.Tiles != "" {
		h.Env[ui.TilesEnv] = cfg.Tiles
	}
	return h
}

func notBuilt(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, "kuaifan hub: the dashboard is not built into this binary. Build it with `make build` "+
		"(it runs `make wasm` first). The API is at /api/.\n")
}

// resources is go-app's resolver for /web/ paths and the handler that serves
// them from the embedded build, gzipped where the client accepts it.
type resources struct {
	fs       fs.FS
	version  string
	wasmSize int
	gz       map[string][]byte // precompressed bodies by path (web/…)
}

func newResources(web fs.FS) *resources {
	r := &resources{fs: web, gz: make(map[string][]byte)}
	wasm, _ := fs.ReadFile(web, "web/app.wasm")
	r.version = ui.VersionOf(wasm)
	r.wasmSize = len(wasm)
	fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".gz") {
			return nil
		}
		if gz, err := fs.ReadFile(web, p+".gz"); err == nil {
			r.gz[p] = gz // built by make wasm with gzip -9
			return nil
		}
		if body, err := fs.ReadFile(web, p); err == nil && compressible(p) {
			var b bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
			zw.Write(body)
			zw.Close()
			r.gz[p] = b.Bytes()
		}
		return nil
	})
	return r
}

func compressible(p string) bool {
	switch path.Ext(p) {
	case ".wasm", ".js", ".css", ".svg", ".json", ".html", ".webmanifest":
		return true
	}
	return false
}

// Resolve maps /web/… to itself: the files are served by this handler.
func (r *resources) Resolve(location string) string {
	if location == "" || location == "/" {
		return "/"
	}
	return location
}

func (r *resources) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p := strings.TrimPrefix(path.Clean(req.URL.Path), "/")
	if !strings.HasPrefix(p, "web/") {
		http.NotFound(w, req)
		return
	}
	body, err := fs.ReadFile(r.fs, p)
	if err != nil {
		http.NotFound(w, req)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(p))
	if path.Ext(p) == ".wasm" {
		ctype = "application/wasm"
	}
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	w.Header().Set("X-Wasm-Length", strconv.Itoa(r.wasmSize))
	w.Header().Set("Vary", "Accept-Encoding")
	if gz, ok := r.gz[p]; ok && strings.Contains(req.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(len(gz)))
		w.Write(gz)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}
