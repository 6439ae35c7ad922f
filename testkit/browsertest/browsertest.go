// Package browsertest starts Debian's Chromium, headless, for the tests
// that drive kuaifan's pages (the dashboard's, the officer's page): one way
// to find it and one set of flags, wherever the test lives.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium finds Debian's Chromium. Without it the test is skipped, or
// fails under CI=true, where a missing tool is a broken machine.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed: apt-get install chromium fonts-noto-cjk (or run make test, which installs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Start starts headless Chromium with kuaifan's test flags and extra (a
// window size, a language) and returns its first tab's context, closed
// with the test.
//
// The browser is started here. A Chromium that exits before it is up is
// started again, twice at most: on a loaded machine Chromium sometimes
// dies while starting (crashpad reports it), which says nothing about the
// page under test. Every failed start is logged.
func Start(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
	)
	opts = append(opts, extra...)
	const attempts = 3
	for i := 1; ; i++ {
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
		err := chromedp.Do(ctx)
		if err == nil {
			t.Cleanup(func() {
				cancelTab()
				cancelAlloc()
			})
			return ctx
		}
		cancelTab()
		cancelAlloc()
		if i == attempts {
			t.Fatalf("starting chromium (%d attempts): %v", attempts, err)
		}
		t.Logf("starting chromium, attempt %d of %d: %v", i, attempts, err)
		time.Sleep(time.Second)
	}
}
