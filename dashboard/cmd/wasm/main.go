// Command wasm is the dashboard's WebAssembly main: the routes and go-app's
// start, nothing else. Build it with
//
//	GOOS=js GOARCH=wasm go build -o app.wasm ./cmd/wasm
package main

import (
	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"kuaifan/dashboard/ui"
)

func main() {
	ui.Register()
	app.RunWhenOnBrowser()
}
