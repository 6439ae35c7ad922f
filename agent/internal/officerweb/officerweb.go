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
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"kuaifan/agent/internal/officerui"
	"kuaifan/dashboard/webapp"
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
	res.Handle(h)
	return h
}

func notBuilt(w http.ResponseWriter, _ *http.Request) { webapp.NotBuilt(w, notBuiltText) }

const notBuiltText = "kuaifan agent: the officer's page is not built into this binary. Build it with `make wasm` " +
	"at the repository's root, then rebuild the agent. The terminal's API is at /v1/.\n"

// resources is the embedded build (webapp.Build), with the agent's own way
// with app.wasm: it is streamed from the embedded app.wasm.gz on each
// request rather than held in memory: the agent's resident memory is
// counted in megabytes, and the page is loaded about once a shift.
type resources struct {
	webapp.Build
	gzSize int // app.wasm.gz
}

func newResources(web fs.FS) *resources {
	r := &resources{Build: webapp.Build{FS: web}}
	// The build's hash: a new build is picked up, the same one is not
	// downloaded again (go-app makes it the ETag and the cache key).
	if f, err := web.Open("web/app.wasm.gz"); err == nil {
		h := sha256.New()
		n, _ := io.Copy(h, f)
		f.Close()
		r.Version, r.gzSize = hex.EncodeToString(h.Sum(nil)[:8]), int(n)
	}
	if f, err := web.Open("web/app.wasm.gz"); err == nil {
		// gzip's trailer ends with ISIZE, the inflated size mod 2³².
		var isize [4]byte
		if rs, ok := f.(io.ReadSeeker); ok && r.gzSize >= 4 {
			if _, err := rs.Seek(-4, io.SeekEnd); err == nil {
				if _, err := io.ReadFull(rs, isize[:]); err == nil {
					r.WasmSize = int(binary.LittleEndian.Uint32(isize[:]))
				}
			}
		}
		f.Close()
	}
	// Only app.wasm is embedded gzipped; the small files are gzipped now.
	r.Gz = webapp.GzipBuild(web, "web")
	r.Serve = r.serveWasm
	return r
}

// serveWasm answers app.wasm from app.wasm.gz, inflated for a client that
// takes no gzip, and hides the .gz files themselves.
func (r *resources) serveWasm(w http.ResponseWriter, req *http.Request, p string) bool {
	if strings.HasSuffix(p, ".gz") {
		http.NotFound(w, req)
		return true
	}
	if p != "web/app.wasm" {
		return false
	}
	f, err := r.FS.Open("web/app.wasm.gz")
	if err != nil {
		http.NotFound(w, req)
		return true
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", webapp.ContentType(p))
	if webapp.AcceptsGzip(req) {
		h.Set("Content-Encoding", "gzip")
		h.Set("Content-Length", strconv.Itoa(r.gzSize))
		io.Copy(w, f)
		return true
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		http.Error(w, "corrupt build", http.StatusInternalServerError)
		return true
	}
	h.Set("Content-Length", strconv.Itoa(r.WasmSize))
	io.Copy(w, zr)
	return true
}
