package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol/api"
	"kuaifan/simulator"
	"kuaifan/testkit/dashboardtest"
)

var (
	benchUnits  = flag.Int("dashboard.units", 5000, "BenchmarkDashboardLive: units reporting at 1 Hz")
	benchWindow = flag.Duration("dashboard.window", 5*time.Minute, "BenchmarkDashboardLive: how long the page is watched")
)

// rafProbe records the gap between animation frames: the page's real frame
// time, whatever keeps its one thread busy (decoding deltas, the map's
// frames, go-app's renders, garbage collection).
const rafProbe = `(function(){
	window.kuaifanRAF = [];
	let last = performance.now();
	function loop(t) { window.kuaifanRAF.push(t - last); last = t; requestAnimationFrame(loop); }
	requestAnimationFrame(loop);
	return true;
})()`

// rafTake returns the gaps recorded since the last call and clears them.
const rafTake = `(function(){ const g = window.kuaifanRAF; window.kuaifanRAF = []; return g; })()`

// longProbe records the page's long tasks (over 50 ms on its one thread,
// Chromium's Long Tasks API): what makes a frame late, whatever its cause.
const longProbe = `(function(){
	window.kuaifanLong = [];
	new PerformanceObserver(l => { for (const e of l.getEntries()) window.kuaifanLong.push(e.duration); }).observe({type: "longtask"});
	return true;
})()`

const longTake = `(function(){ const g = window.kuaifanLong; window.kuaifanLong = []; return g; })()`

func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// BenchmarkDashboardLive opens the dashboard in headless Chromium on a hub
// with -dashboard.units units reporting at 1 Hz (simulator load: real agents
// and MQTT) and watches it for -dashboard.window: the time from "Sign in" to
// the first frame with every unit drawn, the gap between animation frames
// (p50/p95/p99) and the map's own build-and-paint time every 30 s, and the
// JavaScript heap from Chromium's performance metrics (start, end, peak).
// Everything runs on this machine: the hub, the load and the browser share
// its cores. Run with make bench-dashboard.
func BenchmarkDashboardLive(b *testing.B) {
	units, window := *benchUnits, *benchWindow
	h := hubtest.Start(b, nil)
	dashboardtest.Require(b, h.URL)
	br := newBrowser(b)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := simulator.RunLoad(ctx, simulator.LoadConfig{
			HubURL: h.URL, BrokerURL: h.MQTTURL(), AdminToken: h.AdminToken(),
			Units: units, Hz: 1, Duration: window + 10*time.Minute, Seed: 5,
			NoStream: true, DrainWait: time.Second, Logger: hubtest.Logger(b),
		})
		done <- err
	}()
	b.Cleanup(func() { cancel(); <-done })
	hubtest.WaitFor(b, 5*time.Minute, func() error {
		var us []struct {
			Online bool     `json:"online"`
			Lat    *float64 `json:"lat"`
		}
		h.Do(http.MethodGet, "/api/units", nil, &us)
		n := 0
		for _, u := range us {
			if u.Online && u.Lat != nil {
				n++
			}
		}
		if n < units {
			return fmt.Errorf("%d of %d units reporting", n, units)
		}
		return nil
	})

	wang := person(b, h, "wang", api.RoleDispatcher)
	for b.Loop() {
		opened := time.Now()
		br.do("open", 60*time.Second, chromedp.Navigate(h.URL+"/"))
		br.waitJS("the app", `document.documentElement.dataset.app === "running"`, 60*time.Second)
		appAt := time.Since(opened)
		br.waitJS(dashboardtest.SignedOut.What, dashboardtest.SignedOut.JS, 30*time.Second)
		signIn := dashboardtest.SignIn(wang)
		br.do("sign in", 30*time.Second, signIn[:len(signIn)-1]...) // all but the click
		clicked := time.Now()
		br.do("click", 10*time.Second, signIn[len(signIn)-1])
		br.waitJS("every unit drawn", fmt.Sprintf(`window.kuaifanStats && kuaifanStats.units >= %d && kuaifanStats.frames > 0`, units), 60*time.Second)
		firstRender := time.Since(clicked)
		b.Logf("app running %v after opening the page; live map with %d units %v after Sign in",
			appAt.Round(time.Millisecond), units, firstRender.Round(time.Millisecond))
		b.Logf("the page's account of it: %s", eval[string](br, `JSON.stringify(kuaifanStats.signin || {})`))
		pageFirst := eval[float64](br, `(kuaifanStats.signin || {}).totalMs || 0`)

		eval[bool](br, rafProbe)
		eval[bool](br, longProbe)
		var all, p95s []float64
		var heapStart, heapEnd, heapPeak, goStart, goEnd, goPeak float64
		m0, s0 := br.metrics(), br.stats()
		heapStart, goStart = m0["JSHeapUsedSize"], s0.GoHeapMB
		for at := 30 * time.Second; at <= window; at += 30 * time.Second {
			time.Sleep(30 * time.Second)
			gaps := eval[[]float64](br, rafTake)
			long := eval[[]float64](br, longTake)
			longMS := 0.0
			for _, d := range long {
				longMS += d
			}
			s := br.stats()
			m := br.metrics()
			heap := m["JSHeapUsedSize"]
			heapEnd, heapPeak = heap, max(heapPeak, heap)
			goEnd, goPeak = s.GoSysMB, max(goPeak, s.GoSysMB)
			all = append(all, gaps...)
			p95s = append(p95s, percentile(gaps, 0.95))
			b.Logf("%4.0fs  frames %5d  gap p50 %5.1f ms  p95 %5.1f ms  max %6.1f ms  map build+paint p95 %5.1f ms  long tasks %3d (%5.0f ms)  units %d drawn %d  decoding %5.1f ms/s  Go heap %6.1f MB of %6.1f MB  JS heap %6.1f MB  script %5.1f s  task %5.1f s",
				at.Seconds(), len(gaps), percentile(gaps, 0.5), percentile(gaps, 0.95), percentile(gaps, 1),
				s.P95FrameMS, len(long), longMS, s.Units, s.Drawn, (s.DecodeMS-s0.DecodeMS)/at.Seconds(), s.GoHeapMB, s.GoSysMB, heap/1e6, m["ScriptDuration"]-m0["ScriptDuration"], m["TaskDuration"]-m0["TaskDuration"])
		}
		link := eval[string](br, `document.querySelector("#link").dataset.state`)
		if link != "connected" {
			b.Errorf("link %q at the end", link)
		}
		br.screenshot("dashboard-live")
		b.ReportMetric(float64(firstRender.Milliseconds()), "first-render-ms")
		b.ReportMetric(pageFirst, "first-render-page-ms") // from the click's handler, without the driver's round trips
		b.ReportMetric(percentile(all, 0.5), "frame-p50-ms")
		b.ReportMetric(percentile(all, 0.95), "frame-p95-ms")
		b.ReportMetric(percentile(all, 0.99), "frame-p99-ms")
		b.ReportMetric(slices.Max(p95s), "worst-30s-p95-ms")
		b.ReportMetric(heapStart/1e6, "js-heap-start-MB")
		b.ReportMetric(heapEnd/1e6, "js-heap-end-MB")
		b.ReportMetric(heapPeak/1e6, "js-heap-peak-MB")
		b.ReportMetric(goStart, "go-heap-start-MB")
		b.ReportMetric(goEnd, "go-sys-end-MB")
		b.ReportMetric(goPeak, "go-sys-peak-MB")
		b.ReportMetric(float64(len(all))/window.Seconds(), "fps")
		// Signed out, so that the next round signs in again (a reload
		// would carry on with the session).
		br.do("sign out", 10*time.Second, chromedp.Click(chromedp.CSS("#signout")))
		br.waitJS(dashboardtest.SignedOut.What, dashboardtest.SignedOut.JS, 10*time.Second)
	}
}
