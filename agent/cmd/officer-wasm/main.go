// Command officer-wasm is the officer's page's WebAssembly main: the routes
// and go-app's start, nothing else. `make wasm` builds it into
// internal/officerweb/dist, which the agent embeds:
//
//	GOOS=js GOARCH=wasm go build -o app.wasm ./cmd/officer-wasm
package main

import (
	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/agent/internal/officerui"
)

func main() {
	officerui.Register()
	app.RunWhenOnBrowser()
}
