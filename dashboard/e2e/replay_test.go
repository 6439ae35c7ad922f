package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol/api"
	"kuaifan/testkit/dashboardtest"
)

// replayStats is window.kuaifanReplay, the replay screen's account of
// itself.
type replayStats struct {
	T        int64   `json:"t"`
	From     int64   `json:"from"`
	To       int64   `json:"to"`
	Playing  bool    `json:"playing"`
	Units    int     `json:"units"` // with a position at t
	Drawn    int     `json:"drawn"` // on the canvas (in view)
	Total    int     `json:"total"`
	FPS      float64 `json:"fps"`
	Incident string  `json:"incident"`
	Status   string  `json:"status"` // the incident's at t
	LoadMS   float64 `json:"loadMs"`
}

// statusAt is an open incident's status at t from its assignments: on
// scene once a unit is there, dispatched while one is sent.
func statusAt(inc *api.Incident, t int64) string {
	status := api.IncidentOpen
	for _, a := range inc.Assignments {
		if a.Dispatched > t || (a.Ended != 0 && a.Ended <= t) {
			continue
		}
		if a.Arrived != 0 && a.Arrived <= t {
			return api.IncidentOnScene
		}
		status = api.IncidentDispatched
	}
	return status
}

func (b *browser) replay() replayStats {
	b.t.Helper()
	return eval[replayStats](b, `window.kuaifanReplay || {}`)
}

// setValue sets a form control's value as a person would, firing its
// input and change events.
func (b *browser) setValue(css, value string) {
	b.t.Helper()
	b.waitJS("set "+css, fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el) return false;
		el.value = %q; el.dispatchEvent(new Event("input", {bubbles: true})); el.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`, css, value), 10*time.Second)
}

// The robbery chase played back: the simulator's robbery-chase runs
// against a real hub until the robbery has camera sightings and a unit on
// scene; the dispatcher opens it, presses Replay, and finds it mid-chase
// on the slider (the units where they were, the incident at its sighting),
// plays it at 60×, jumps to a step of its timeline, reads it in Chinese,
// goes back to live; then opens the day of the unit sent, with its track
// and the robbery listed, and exports it as GPX.
func TestReplayChase(t *testing.T) {
	// Long enough for a few seconds of playback at 60× from mid-chase.
	const replayAge = 150 * time.Second
	const units = 40
	h := hubtest.Start(t, func(c *hub.Config) { c.Cameras = sampleCameras })
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	runChase(t, h, units)

	// The robbery, once seen on a camera and reached by a unit.
	var inc api.Incident
	var firstSighting, firstArrival, chaseEnd int64
	hubtest.WaitFor(t, 240*time.Second, func() error {
		var all []api.Incident
		if code := h.Do(http.MethodGet, "/api/incidents?status=all", nil, &all); code != http.StatusOK {
			return fmt.Errorf("GET /api/incidents: %d", code)
		}
		for _, i := range all {
			if i.Kind == "robbery" {
				inc = i
			}
		}
		if inc.ID == "" {
			return fmt.Errorf("no robbery yet")
		}
		firstSighting, firstArrival, chaseEnd = 0, 0, 0
		for _, e := range inc.Timeline {
			if e.Type == api.EntrySighting && firstSighting == 0 {
				firstSighting = e.TS
			}
			if e.Type == api.EntryArrived && firstArrival == 0 {
				firstArrival = e.TS
			}
			// The chase: from the first sighting to the first unit on
			// scene after it (a unit may reach the place first reported
			// before the cameras see the suspects elsewhere).
			if e.Type == api.EntryArrived && firstSighting != 0 && chaseEnd == 0 {
				chaseEnd = e.TS
			}
		}
		if firstSighting == 0 || firstArrival == 0 {
			return fmt.Errorf("%s: first sighting %d, first arrival %d", inc.ID, firstSighting, firstArrival)
		}
		if age := time.Since(time.UnixMilli(inc.Created)); age < replayAge {
			return fmt.Errorf("%s is %v old", inc.ID, age)
		}
		if chaseEnd == 0 {
			chaseEnd = inc.Timeline[len(inc.Timeline)-1].TS // still on: up to the latest step
			if chaseEnd-firstSighting < 10_000 {
				return fmt.Errorf("%s: sighted just now", inc.ID)
			}
		}
		return nil
	})
	t.Logf("%s: sighted %v after the report, first reached %v after; the chase to +%v", inc.ID,
		time.Duration(firstSighting-inc.Created)*time.Millisecond, time.Duration(firstArrival-inc.Created)*time.Millisecond,
		time.Duration(chaseEnd-inc.Created)*time.Millisecond)

	b.signIn(h.URL+"/", person(t, h, "wang", api.RoleDispatcher))
	b.waitJS("the robbery in the queue", fmt.Sprintf(`document.querySelector('#queue li.incident[data-id=%q]') !== null`, inc.ID), 30*time.Second)
	b.clickLive("open the robbery", fmt.Sprintf(`#queue li.incident[data-id=%q]`, inc.ID))
	b.do("the robbery open", 10*time.Second, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#incident-detail[data-id=%q]`, inc.ID))))

	// Replay: loaded, from the report on.
	clicked := time.Now()
	b.clickLive("replay", "#replay-open")
	b.waitJS("the replay loaded", fmt.Sprintf(`window.kuaifanReplay && kuaifanReplay.incident === %q && document.querySelector('#view-replay[data-loaded="true"] #replay-slider') !== null`, inc.ID), 30*time.Second)
	r := b.replay()
	t.Logf("replay shown %v after the click (fetch and decode %.0f ms): %d units, %s to %s", time.Since(clicked).Round(time.Millisecond),
		r.LoadMS, r.Total, time.UnixMilli(r.From).Format("15:04:05"), time.UnixMilli(r.To).Format("15:04:05"))
	if r.From != inc.Created || r.To < firstArrival {
		t.Errorf("the replay covers %d..%d; the robbery was created at %d and reached at %d", r.From, r.To, inc.Created, firstArrival)
	}

	// Mid-chase: after the first sighting, before a unit reached the
	// suspects.
	mid := (firstSighting + chaseEnd) / 2
	b.setValue("#replay-slider", fmt.Sprint(mid))
	b.waitJS("the slider's time", fmt.Sprintf(`kuaifanReplay.t === %d`, mid), 5*time.Second)
	time.Sleep(300 * time.Millisecond) // a frame or two
	b.screenshot("replay-mid-chase")
	r = b.replay()
	// The hub's replay says which units had a position by then.
	var hubReplay api.Replay
	if code := h.Do(http.MethodGet, "/api/incidents/"+inc.ID+"/replay?radius_m=2000", nil, &hubReplay); code != http.StatusOK {
		t.Fatalf("GET replay: %d", code)
	}
	positioned := 0
	for _, u := range hubReplay.Units {
		if len(u.T) > 0 && hubReplay.From+u.T[0] <= mid {
			positioned++
		}
	}
	// The hub's replay, asked again now, may hold units that came near
	// since the page asked: then the page's are some of them.
	switch {
	case r.Drawn == 0 || r.Drawn > r.Units:
		t.Errorf("mid-chase: %d units positioned, %d drawn", r.Units, r.Drawn)
	case len(hubReplay.Units) == r.Total && r.Units != positioned,
		len(hubReplay.Units) != r.Total && r.Units > positioned:
		t.Errorf("mid-chase: %d of %d units positioned; the hub's replay has %d of %d with a position by then",
			r.Units, r.Total, positioned, len(hubReplay.Units))
	}
	t.Logf("mid-chase (+%v): %d of %d units positioned, %d drawn, the robbery %s", time.Duration(mid-inc.Created)*time.Millisecond,
		r.Units, r.Total, r.Drawn, r.Status)
	if want := statusAt(&inc, mid); r.Status != want {
		t.Errorf("mid-chase the robbery is %q, want %q", r.Status, want)
	}
	trail := eval[int](b, `(window.kuaifanStats && kuaifanStats.trail) || 0`)
	if trail < 1 {
		t.Errorf("mid-chase the map draws %d sightings", trail)
	}

	// Play at 60×: time runs, the map keeps up.
	b.setValue("#replay-speed", "60")
	b.clickLive("play", "#replay-play")
	b.waitJS("playing", `kuaifanReplay.playing === true`, 5*time.Second)
	time.Sleep(1500 * time.Millisecond)
	r = b.replay()
	if r.T < mid+45_000 {
		t.Errorf("1.5 s at 60× moved the replay from %d to %d", mid, r.T)
	}
	if r.FPS <= 0 {
		t.Errorf("no frame rate while playing: %+v", r)
	}
	t.Logf("playing at 60×: %.0f fps, t +%v in 1.5 s", r.FPS, time.Duration(r.T-mid)*time.Millisecond)
	if eval[bool](b, `kuaifanReplay.playing`) {
		b.clickLive("pause", "#replay-play")
	}
	b.waitJS("paused", `kuaifanReplay.playing === false && document.getElementById("replay-play").dataset.playing === "false"`, 5*time.Second)

	// A step of the timeline: the first sighting.
	at := eval[string](b, `document.querySelector('.replay-entry[data-type="sighting"]').dataset.t`)
	b.clickLive("the first sighting", `.replay-entry[data-type="sighting"]`)
	b.waitJS("the jump", fmt.Sprintf(`kuaifanReplay.t === %s`, at), 5*time.Second)
	if at != fmt.Sprint(firstSighting) {
		t.Errorf("the first sighting's entry is at %s, the hub's at %d", at, firstSighting)
	}
	b.waitJS("the slider follows", fmt.Sprintf(`document.getElementById("replay-slider").value === %q`, at), 5*time.Second)

	// 中文.
	en := eval[string](b, `document.getElementById("replay-play").textContent`)
	b.clickLive("中文", "#lang")
	b.waitJS("Chinese", `document.getElementById("replay-play").textContent.includes("播放") && document.getElementById("replay-title").textContent === "警情回放"`, 5*time.Second)
	b.screenshot("replay-zh")
	b.clickLive("English", "#lang")
	b.waitJS("English again", fmt.Sprintf(`document.getElementById("replay-play").textContent === %q`, en), 5*time.Second)

	// Back to live.
	b.clickLive("back to live", "#replay-back")
	b.waitJS("live", `document.querySelector("main.console #map") !== null && document.getElementById("view-replay") === null`, 10*time.Second)

	// The day of the unit sent first.
	unit := inc.Assignments[0].Unit
	b.do("search the unit", 10*time.Second, chromedp.SendKeys(chromedp.CSS("#unit-search"), unit))
	b.clickLive("select the unit", fmt.Sprintf(`.unit[data-id=%q]`, unit))
	b.clickLive("its day", fmt.Sprintf(`#unitday-open[data-unit=%q]`, unit))
	b.waitJS("the day loaded", fmt.Sprintf(`document.querySelector('#view-unitday[data-unit=%q][data-loaded="true"]') !== null`, unit), 30*time.Second)
	points := eval[int](b, `Number(document.getElementById("unitday-points").dataset.n)`)
	listed := eval[[]string](b, `Array.from(document.querySelectorAll(".unitday-incident")).map(e => e.dataset.id)`)
	if points == 0 {
		t.Errorf("%s's day has no track", unit)
	}
	// The whole day fitted on the map, its track drawn in speed colours.
	b.waitJS("the track drawn", `(window.kuaifanStats || {}).paths > 1`, 10*time.Second)
	b.screenshot("unitday-track")
	found := false
	for _, id := range listed {
		found = found || id == inc.ID
	}
	if !found {
		t.Errorf("%s's day lists %v, not %s; note: %q", unit, listed, inc.ID,
			eval[string](b, `(document.getElementById("unitday-incnote") || {}).textContent || ""`))
	}
	b.clickLive("centre on the robbery", fmt.Sprintf(`.unitday-incident[data-id=%q]`, inc.ID))
	time.Sleep(300 * time.Millisecond)
	b.screenshot("unitday")
	t.Logf("%s's day: %d positions, %s driven, %d stops, incidents %v", unit, points,
		eval[string](b, `document.getElementById("unitday-distance").textContent`),
		eval[int](b, `document.querySelectorAll(".unitday-stop").length`), listed)

	// GPX: fetched with the token and handed to the browser as a file.
	b.clickLive("export GPX", "#unitday-gpx")
	b.waitJS("the download", `(window.kuaifanDownloads || []).some(d => d.name.endsWith(".gpx"))`, 15*time.Second)
	dl := eval[struct {
		Name string `json:"name"`
		Type string `json:"type"`
		Size int    `json:"size"`
	}](b, `kuaifanDownloads.find(d => d.name.endsWith(".gpx"))`)
	if !strings.HasPrefix(dl.Name, unit+"-") || !strings.Contains(dl.Type, "gpx") || dl.Size == 0 {
		t.Errorf("the GPX download: %+v", dl)
	}
	// The same call again, from here: it is GPX.
	path := eval[string](b, `document.getElementById("unitday-gpx").dataset.path`)
	req, _ := http.NewRequest(http.MethodGet, h.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+h.AdminToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body[:min(len(body), 512)]), "<gpx") {
		t.Errorf("GET %s: %d, %.200q", path, resp.StatusCode, body)
	}
	t.Logf("GPX %s: %d bytes (the page saved %d)", dl.Name, len(body), dl.Size)
}
