// Package officerweb serves the officer's page from the agent, on the
// terminal's loopback listener: the go-app PWA of package officerui, whose
// WebAssembly build (made by `make wasm`) is embedded in the agent binary,
// like the hub embeds the dashboard (hub/internal/webui).
//
// Only the gzipped app.wasm is embedded, not the raw one: the agent runs on
// patrol devices whose binary is kept small, and every browser that will
// open the page accepts gzip. A client that does not gets it inflated on
// the fly.
package officerweb

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"kuaifan/agent/internal/officerui"
)

//go:embed dist
var dist embed.FS

const wasmGz = "dist/web/app.wasm.gz"

// Built reports whether the page's WebAssembly build is embedded.
func Built() bool {
	_, err := fs.Stat(dist, wasmGz)
	return err == nil
}

// registerRoutes runs officerui.Register once: go-app keeps its routes in a
// process-wide table, and the server must know the same routes as the app.
var registerRoutes = sync.OnceFunc(officerui.Register)

// New returns the page's handler, to be mounted at "/" (the terminal's
// Config.Page). Without an embedded build it serves a page saying how to
// make one.
func New() http.Handler {
	if !Built() {
		return http.HandlerFunc(notBuilt)
	}
	web, _ := fs.Sub(dist, "dist")
	res := newResources(web)
	registerRoutes()
	h := officerui.NewHandler()
	h.Version = res.version
	h.Resources = res
	h.WasmContentLength = strconv.Itoa(res.wasmSize)
	h.WasmContentLengthHeader = "X-Wasm-Length"
	return h
}

func notBuilt(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, "kuaifan agent: the officer's page is not built into this binary. Build it with `make wasm` "+
		"at the repository's root, then rebuild the agent. The terminal's API is at /v1/.\n")
}

// resources is go-app's resolver for /web/ paths and the handler that
// serves them from the embedded build, gzipped where the client accepts it.
// app.wasm is streamed from the embedded file on each request rather than
// held in memory: the agent's resident memory is counted in megabytes, and
// the page is loaded about once a shift.
type resources struct {
	fs       fs.FS
	version  string
	wasmSize int               // app.wasm inflated, for go-app's progress bar
	gzSize   int               // app.wasm.gz
	gz       map[string][]byte // the small files gzipped, by path (web/…)
}

func newResources(web fs.FS) *resources {
	r := &resources{fs: web, gz: make(map[string][]byte)}
	// The build's hash: a new build is picked up, the same one is not
	// downloaded again (go-app makes it the ETag and the cache key).
	if f, err := web.Open("web/app.wasm.gz"); err == nil {
		h := sha256.New()
		n, _ := io.Copy(h, f)
		f.Close()
		r.version, r.gzSize = hex.EncodeToString(h.Sum(nil)[:8]), int(n)
	}
	if f, err := web.Open("web/app.wasm.gz"); err == nil {
		// gzip's trailer ends with ISIZE, the inflated size mod 2³².
		var isize [4]byte
		if rs, ok := f.(io.ReadSeeker); ok && r.gzSize >= 4 {
			if _, err := rs.Seek(-4, io.SeekEnd); err == nil {
				if _, err := io.ReadFull(rs, isize[:]); err == nil {
					r.wasmSize = int(binary.LittleEndian.Uint32(isize[:]))
				}
			}
		}
		f.Close()
	}
	fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".gz") || !compressible(p) {
			return nil
		}
		if body, err := fs.ReadFile(web, p); err == nil {
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
	case ".js", ".css", ".svg", ".json", ".html", ".webmanifest":
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
	if !strings.HasPrefix(p, "web/") || strings.HasSuffix(p, ".gz") {
		http.NotFound(w, req)
		return
	}
	acceptsGzip := strings.Contains(req.Header.Get("Accept-Encoding"), "gzip")
	h := w.Header()
	h.Set("X-Wasm-Length", strconv.Itoa(r.wasmSize))
	h.Set("Vary", "Accept-Encoding")
	if p == "web/app.wasm" {
		f, err := r.fs.Open("web/app.wasm.gz")
		if err != nil {
			http.NotFound(w, req)
			return
		}
		defer f.Close()
		h.Set("Content-Type", "application/wasm")
		if acceptsGzip {
			h.Set("Content-Encoding", "gzip")
			h.Set("Content-Length", strconv.Itoa(r.gzSize))
			io.Copy(w, f)
			return
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			http.Error(w, "corrupt build", http.StatusInternalServerError)
			return
		}
		h.Set("Content-Length", strconv.Itoa(r.wasmSize))
		io.Copy(w, zr)
		return
	}
	body, err := fs.ReadFile(r.fs, p)
	if err != nil {
		http.NotFound(w, req)
		return
	}
	if ctype := mime.TypeByExtension(path.Ext(p)); ctype != "" {
		h.Set("Content-Type", ctype)
	}
	if gz, ok := r.gz[p]; ok && acceptsGzip {
		h.Set("Content-Encoding", "gzip")
		h.Set("Content-Length", strconv.Itoa(len(gz)))
		w.Write(gz)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}
