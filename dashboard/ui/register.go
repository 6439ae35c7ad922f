// Package ui is the dispatcher's dashboard: go-app components and the plain
// Go logic behind them (the store of the hub's live data, the stream client,
// the map's projection and drawing, the panels' sorting and filters, the
// strings in Chinese and English).
//
// Both the tiny WebAssembly main (cmd/wasm) and the hub import it: the hub
// calls Register so that it serves the same routes as the app, and builds
// its app.Handler from NewHandler. Nothing here imports the hub; the JSON
// types are the API contract the hub produces, kuaifan/protocol/api (wire.go).
package ui

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// Routes are the paths the app has. The hub must route each of them to its
// app.Handler (it mounts the handler at "/", which covers them).
var Routes = []string{"/"}

// Register declares the app's routes with go-app. Call it once, before
// app.RunWhenOnBrowser in the WebAssembly main and before serving the
// app.Handler in the hub: a path the server does not know is a 404 even if
// the app knows it.
func Register() {
	for _, r := range Routes {
		app.Route(r, newDashboard)
	}
}

// Static assets under /web/ (the files of dashboard/web, served by the hub
// next to app.wasm).
const (
	StyleSheet = "/web/kuaifan.css"
	// The screens of the past have sheets of their own: the map's
	// (replay, a unit's day) and the pages' (archive, figures, report).
	HistorySheet = "/web/history.css"
	PagesSheet   = "/web/pages.css"
	IconSVG      = "/web/icon.svg"
	IconPNG      = "/web/icon-192.png"
	IconLarge    = "/web/icon-512.png"
)

// NewHandler returns the dashboard's app.Handler with its name, icons,
// style sheet, colours and languages filled in. The hub sets Version (see
// VersionOf) and Resources (where /web/ is served from), may set
// Env[TilesEnv] to a basemap URL template, and mounts it at "/". The icons
// are local: go-app's default icon is on the internet, which a closed
// network does not have.
func NewHandler() *app.Handler {
	return &app.Handler{
		Name:            "快反 kuaifan",
		ShortName:       "快反",
		Title:           "快反 · kuaifan dispatch",
		Description:     "kuaifan: the dispatcher's live map of patrol units and incidents",
		Lang:            "zh-CN",
		LoadingLabel:    "快反 kuaifan {progress}%",
		Icon:            app.Icon{Default: IconPNG, Large: IconLarge, SVG: IconSVG, Maskable: IconLarge},
		Styles:          []string{StyleSheet, HistorySheet, PagesSheet},
		BackgroundColor: "#0e1620",
		ThemeColor:      "#0e1620",
		Env:             map[string]string{},
	}
}

// VersionOf derives app.Handler.Version from the app.wasm being served: it
// becomes the ETag, so a fixed value would leave browsers on old code and
// an empty one would make them reload on every hub restart.
func VersionOf(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:8])
}
