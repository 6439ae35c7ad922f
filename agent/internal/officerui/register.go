// Package officerui is the officer's page on the patrol unit's terminal (a
// 7" in-car tablet): go-app components and the plain Go logic behind them —
// the assignment card's figures, which buttons an assignment allows, the
// patrol tasks' rows, the SOS hold, the strings in Chinese and English. The agent serves it on the
// terminal's loopback listener (package officerweb); the page talks only to
// the terminal's JSON API on the same origin.
//
// Both the WebAssembly main (cmd/officer-wasm) and the agent import it: the
// agent calls Register so that it serves the same routes as the app.
package officerui

import "github.com/maxence-charriere/go-app/v10/pkg/app"

// Routes are the paths the app has.
var Routes = []string{"/"}

// Register declares the app's routes with go-app (a process-wide table).
// Call it once, before app.RunWhenOnBrowser in the WebAssembly main and
// before serving the handler in the agent.
func Register() {
	for _, r := range Routes {
		app.Route(r, newPage)
	}
}

// Static assets under /web/, served by the agent next to app.wasm.
const (
	StyleSheet = "/web/officer.css"
	IconSVG    = "/web/icon.svg"
	IconPNG    = "/web/icon-192.png"
	IconLarge  = "/web/icon-512.png"
)

// NewHandler returns the page's app.Handler. The agent sets Version (the
// build's hash) and Resources. The icons are local: go-app's default one is on the internet,
// which a patrol car often is not.
func NewHandler() *app.Handler {
	return &app.Handler{
		Name:            "快反 巡逻终端",
		ShortName:       "快反",
		Title:           "快反 · 巡逻终端",
		Description:     "kuaifan: the patrol officer's terminal",
		Lang:            "zh-CN",
		LoadingLabel:    "快反 {progress}%",
		Icon:            app.Icon{Default: IconPNG, Large: IconLarge, SVG: IconSVG, Maskable: IconLarge},
		Styles:          []string{StyleSheet},
		BackgroundColor: "#10161d",
		ThemeColor:      "#10161d",
		Env:             map[string]string{},
	}
}
