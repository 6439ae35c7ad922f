package ui

import (
	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// What the dashboard reads from the browser at mount. In host tests (and on
// the server's pre-render) app.Window() is a stub and these are never called.

// TilesKey is the local-storage key of the basemap template (a setting, not
// a secret), and TilesEnv the go-app environment variable the hub may set
// (app.Handler.Env) for every dashboard it serves.
const (
	TilesKey   = "kuaifan.tiles"
	TilesEnv   = "KUAIFAN_TILES"
	TilesParam = "tiles" // ?tiles=https://tiles.example/{z}/{x}/{y}.png
)

// browserLang is navigator.language's language.
func browserLang() Lang {
	nav := app.Window().Get("navigator")
	if !nav.Truthy() {
		return EN
	}
	return LangFor(nav.Get("language").String())
}

// browserOrigin is the page's origin: the hub that served it.
func browserOrigin() string {
	u := app.Window().URL()
	return u.Scheme + "://" + u.Host
}

// browserTiles is the basemap template: the URL's ?tiles=, else the saved
// setting, else the hub's KUAIFAN_TILES, else "" (the vector map).
func browserTiles(ctx app.Context) string {
	if t := app.Window().URL().Query().Get(TilesParam); t != "" && ValidTiles(t) {
		return t
	}
	var saved string
	ctx.LocalStorage().Get(TilesKey, &saved)
	if saved != "" && ValidTiles(saved) {
		return saved
	}
	if t := app.Getenv(TilesEnv); ValidTiles(t) {
		return t
	}
	return ""
}

// now is performance.now() in ms (frame timing).
func perfNow() float64 {
	return app.Window().Get("performance").Call("now").Float()
}
