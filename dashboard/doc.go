// Package dashboard is the dispatcher's live map, a go-app PWA compiled to
// WebAssembly and served by the hub.
package dashboard
