// Package e2e holds the dashboard's end-to-end tests: the real hub (with the
// dashboard's WebAssembly build embedded), a small fleet of simulated units
// (real agents and officers from kuaifan/simulator), and Debian's Chromium
// driven through chromedp. There is no code here, only tests; `make test`
// builds app.wasm before running them.
package e2e
