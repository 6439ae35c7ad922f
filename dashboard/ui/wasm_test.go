package ui

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// MaxWasmGzip is the budget for app.wasm as served (gzip -9), so a
// dispatcher's first load stays quick on a command centre's network: 2.5
// MB until the screens of the past (replay, a unit's day, archive,
// figures, daily report) added 0.21 MB, 2.75 MB until the live coverage
// (its layer, holes, move-ups and status-bar figure: +29 KB), 2.79 MB
// until the patrol plans (their layer, the units' progress, and
// kuaifan/protocol/patrol's types: +34 KB); see README.md's "Performance
// and size" for where the bytes go. (A QR encoder would cost ~85 KB more:
// the hub draws QR codes instead, POST /api/qr.)
const MaxWasmGzip = 2_825_000

// The WebAssembly build: it compiles, stays under its size budget, and
// links none of the hub's heavy dependencies nor net/http's client (which
// alone would add ~5 MB raw; the browser build fetches through
// syscall/js instead).
func TestWasmBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds app.wasm")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	out := filepath.Join(t.TempDir(), "app.wasm")
	env := append(os.Environ(), "GOOS=js", "GOARCH=wasm")

	deps := exec.Command(gobin, "list", "-deps", "../cmd/wasm")
	deps.Env = env
	list, err := deps.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, list)
	}
	for _, bad := range []string{"kuaifan/hub", "buntdb", "paho", "mochi-mqtt", "prometheus"} {
		if strings.Contains(string(list), bad) {
			t.Errorf("app.wasm depends on %s", bad)
		}
	}

	// Built as the Makefile builds it (stripped), and once with symbols to
	// look for what must not be linked.
	build := func(out string, flags ...string) []byte {
		args := append([]string{"build", "-trimpath"}, flags...)
		cmd := exec.Command(gobin, append(args, "-o", out, "../cmd/wasm")...)
		cmd.Env = env
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("wasm build: %v\n%s", err, msg)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wasm := build(out, "-ldflags=-s -w")
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	w.Write(wasm)
	w.Close()
	t.Logf("app.wasm: %d bytes, %d gzipped", len(wasm), gz.Len())
	if gz.Len() > MaxWasmGzip {
		t.Errorf("app.wasm gzipped is %d bytes, over the %d budget", gz.Len(), MaxWasmGzip)
	}
	named := build(out + ".named")
	for _, sym := range []string{"net/http.(*Client).do", "net/http.(*Transport).roundTrip"} {
		if bytes.Contains(named, []byte(sym)) {
			t.Errorf("app.wasm links %s", sym)
		}
	}
	if !bytes.Contains(named, []byte("kuaifan/dashboard/ui.(*API).send")) {
		t.Error("symbol names not found: is the check still looking at the right thing?")
	}
}
