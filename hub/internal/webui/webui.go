// Package webui serves the dispatcher's dashboard from the hub: the go-app
// PWA whose WebAssembly build (web/app.wasm, made by `make wasm`) is embedded
// in the hub binary, so a deployment is one file. The go-app handler answers
// every page path the app has (the same routes the WASM registers), and the
// static files under /web/ come from the embedded build, gzip-precompressed.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
	"sync"

	"kuaifan/dashboard/ui"
	"kuaifan/dashboard/webapp"
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
	res.Handle(h)
	if cfg.Tiles != "" {
		h.Env[ui.TilesEnv] = cfg.Tiles
	}
	return h
}

func notBuilt(w http.ResponseWriter, _ *http.Request) { webapp.NotBuilt(w, notBuiltText) }

const notBuiltText = "kuaifan hub: the dashboard is not built into this binary. Build it with `make build` " +
	"(it runs `make wasm` first). The API is at /api/.\n"

// newResources is the embedded build, served with the gzip -9 copies make
// wasm puts beside its files (others are compressed at start).
func newResources(web fs.FS) *webapp.Build {
	wasm, _ := fs.ReadFile(web, "web/app.wasm")
	return &webapp.Build{
		FS: web,
		// The build's hash: a new build is picked up, the same one is not
		// downloaded again (go-app makes it the ETag and the cache key).
		Version:  ui.VersionOf(wasm),
		WasmSize: len(wasm),
		Gz:       webapp.GzipBuild(web, "web"),
	}
}
