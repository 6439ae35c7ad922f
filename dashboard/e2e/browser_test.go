package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"

	"kuaifan/hub/hubtest"
	"kuaifan/testkit/browsertest"
	"kuaifan/testkit/dashboardtest"
)

// browser is one headless Chromium tab.
type browser struct {
	t   testing.TB
	ctx context.Context
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	ctx := browsertest.Start(t, chromedp.Flag("disable-quic", true), chromedp.WindowSize(1600, 1000))
	// Start the browser now, so that a missing or broken Chromium fails
	// here; the browser lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// do runs actions, failing the test (with a screenshot) on an error.
func (b *browser) do(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.screenshot("failed-" + what)
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// waitJS polls a JavaScript expression until it is true.
func (b *browser) waitJS(what, js string, timeout time.Duration) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](js,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		b.screenshot("failed-" + what)
		b.t.Fatalf("waiting for %s (%s): %v", what, js, err)
	}
}

// screenshot saves the page under the test's artifact directory (kept by
// go test -artifacts; make test keeps them in test-output/).
func (b *browser) screenshot(name string) string {
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(b.t.ArtifactDir(), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Errorf("saving the screenshot: %v", err)
	}
	b.t.Logf("screenshot: %s", p)
	return p
}

// stats is window.kuaifanStats, the map's own account of its frames.
type stats struct {
	Frames      int     `json:"frames"`
	LastFrameMS float64 `json:"lastFrameMs"`
	MaxFrameMS  float64 `json:"maxFrameMs"`
	P95FrameMS  float64 `json:"p95FrameMs"`
	Units       int     `json:"units"`
	Drawn       int     `json:"drawn"`
	// Go's side, inside the WebAssembly memory (not in JSHeapUsedSize).
	GoHeapMB      float64 `json:"goHeapMB"`
	GoSysMB       float64 `json:"goSysMB"`
	DecodedFrames int     `json:"decodedFrames"`
	DecodeMS      float64 `json:"decodeMs"` // total time decoding stream frames
}

func (b *browser) stats() stats {
	b.t.Helper()
	return eval[stats](b, `window.kuaifanStats || {}`)
}

// metrics reads Chromium's performance metrics (Performance.getMetrics):
// JSHeapUsedSize, TaskDuration, ScriptDuration, …
func (b *browser) metrics() map[string]float64 {
	b.t.Helper()
	out, err := chromedp.Run(b.ctx, func(ctx context.Context, t *chromedp.Target) (map[string]float64, error) {
		if _, err := cdp.Call(ctx, t, performance.Enable, performance.EnableParams{}); err != nil {
			return nil, err
		}
		r, err := cdp.Call(ctx, t, performance.GetMetrics, cdp.Empty{})
		if err != nil {
			return nil, err
		}
		m := make(map[string]float64, len(r.Metrics))
		for _, x := range r.Metrics {
			m[x.Name] = x.Value
		}
		return m, nil
	})
	if err != nil {
		b.t.Fatalf("performance metrics: %v", err)
	}
	return out
}

// open opens the dashboard and waits for the WebAssembly app to take over
// the pre-rendered page and to have asked the hub whether the browser has a
// session: then the page is the sign-in form or the console.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do("open", 30*time.Second, chromedp.Navigate(url))
	// The server pre-renders the sign-in form: wait for the app to run it.
	b.waitJS("the app", dashboardtest.AppRunning.JS, 60*time.Second)
	b.waitJS("the session checked", `["signed-out", "signed-in", "must-change"].includes(document.querySelector("#kuaifan").dataset.session)`, 30*time.Second)
}

// signIn opens the dashboard and signs p in with their name and password;
// it returns when the stream is connected.
func (b *browser) signIn(url string, p dashboardtest.Person) {
	b.t.Helper()
	b.open(url)
	b.waitJS(dashboardtest.SignedOut.What, dashboardtest.SignedOut.JS, 10*time.Second)
	b.do("sign in", 30*time.Second, append(dashboardtest.SignIn(p),
		chromedp.WaitVisible(chromedp.CSS(`#link[data-state="connected"]`)))...)
}

// person makes an account with role on h for the test, with a password
// that stands (dashboardtest.NewPerson, through the hub's API with the
// bootstrap admin token).
func person(t testing.TB, h *hubtest.Hub, name, role string) dashboardtest.Person {
	t.Helper()
	return dashboardtest.NewPerson(t, h.Client, h.URL, h.AdminToken(), name, role)
}

// mapPoint is where on the page a place is drawn.
func (b *browser) mapPoint(lat, lon float64) (x, y float64) {
	b.t.Helper()
	p := eval[struct{ X, Y float64 }](b, fmt.Sprintf(`window.kuaifanMapPoint(%g, %g)`, lat, lon))
	return p.X, p.Y
}
