package e2e

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/testkit/dashboardtest"
)

// The map a dispatcher reads without internet, in Chromium against the real
// hub serving its own tile package: the home view fits every district, the
// basemap comes from the hub, three cars parked at one spot can each be
// picked, callsigns label the units at close zoom, and in new-incident mode
// a click on the pile places the incident.
func TestMapOffline(t *testing.T) {
	const lat, lon = 28.2, 112.98
	tiles := tilePackage(t, lat, lon)
	h := hubtest.Start(t, func(c *hub.Config) { c.TilesDir = tiles })
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	for i, id := range []string{"car-1", "car-2", "car-3"} {
		var out struct{ Secret string }
		if code := h.Do(http.MethodPost, "/api/units", map[string]any{"id": id, "type": "car",
			"callsign": fmt.Sprintf("湘A-00%d", i+1), "capabilities": []string{}}, &out); code != http.StatusCreated {
			t.Fatalf("enrol %s: %d", id, code)
		}
		d := hubtest.Connect(t, h.MQTTURL(), id, out.Secret, hubtest.DeviceOptions{})
		d.Send(d.Fix(1, time.Now(), lat+float64(i)*1e-6, lon, protocol.StatusAvailable))
	}
	b.signIn(h.URL+"/", person(t, h, "wang", api.RoleDispatcher))
	b.waitJS("units drawn", `window.kuaifanStats && kuaifanStats.drawn === 3 && kuaifanStats.frames > 0`, 20*time.Second)

	// Home: the whole city, every district's corner on the canvas.
	inView := eval[bool](b, `(function(){
		const r = document.getElementById("map").getBoundingClientRect();
		for (const p of [[28.08,112.85],[28.32,113.10],[28.08,113.10],[28.32,112.85]]) {
			const q = window.kuaifanMapPoint(p[0], p[1]);
			if (q.x < r.left || q.x > r.right || q.y < r.top || q.y > r.bottom) return false;
		}
		return true; })()`)
	if !inView {
		t.Error("the opening view does not show the whole city")
	}
	// The basemap from the hub's own package, with no token and no internet.
	b.waitJS("tiles from the hub", `performance.getEntriesByType("resource").some(r => r.name.includes("/tiles/") && r.responseStatus === 200)`, 20*time.Second)
	if n := eval[int](b, `kuaifanStats.labels`); n != 0 {
		t.Errorf("%d labels at the city's zoom", n)
	}

	open := func(what string) {
		x, y := b.mapPoint(lat, lon)
		b.do(what, 10*time.Second, chromedp.MouseClickXY(x, y), chromedp.WaitVisible(chromedp.CSS(`#pick[data-count="3"]`)))
	}
	open("open the picker")
	b.screenshot("map-1-picker")
	if n := eval[int](b, `document.querySelectorAll('#pick .pick-item[data-kind="unit"]').length`); n != 3 {
		t.Errorf("the picker lists %d units, want 3", n)
	}
	b.do("choose car-2", 10*time.Second,
		chromedp.Click(chromedp.CSS(`#pick .pick-item[data-kind="unit"][data-id="car-2"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#pick`)),
		chromedp.WaitVisible(chromedp.CSS(`.unit.selected[data-id="car-2"]`)))
	open("open again")
	b.do("Esc closes it", 10*time.Second, chromedp.KeyEvent(kb.Escape), chromedp.WaitNotPresent(chromedp.CSS(`#pick`)))
	if n := eval[int](b, `document.querySelectorAll(".unit.selected").length`); n != 1 {
		t.Error("Esc on the picker also dropped the selection")
	}
	open("open for a click elsewhere")
	x, y := b.mapPoint(lat+0.01, lon+0.01)
	b.do("a click elsewhere closes it", 10*time.Second, chromedp.MouseClickXY(x, y), chromedp.WaitNotPresent(chromedp.CSS(`#pick`)))
	if eval[bool](b, `!!document.getElementById("incident-form")`) {
		t.Error("the click that closed the picker opened the new-incident form")
	}
	open("open for a pan")
	b.do("a pan closes it", 10*time.Second, chromedp.DragAndDropXY(x, y, x+80, y+40, 5), chromedp.WaitNotPresent(chromedp.CSS(`#pick`)))

	// Close zoom: callsigns on the map.
	b.do("select car-1 from the list", 5*time.Second, chromedp.Click(chromedp.CSS(`.unit[data-id="car-1"]`)))
	b.do("zoom in", 5*time.Second, chromedp.Click(chromedp.CSS(`#zoom-in`)), chromedp.Click(chromedp.CSS(`#zoom-in`)))
	b.waitJS("callsign labels", `kuaifanStats.labels >= 1`, 5*time.Second)
	b.waitJS("the close zoom's tiles", `performance.getEntriesByType("resource").filter(r => r.name.includes("/tiles/16/") && r.responseStatus === 200).length >= 9`, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // the redraw after the last tile loaded, for the screenshot
	b.screenshot("map-2-labels-on-tiles")
	b.do("home", 5*time.Second, chromedp.Click(chromedp.CSS(`#home`)))
	b.waitJS("no labels at the city's zoom", `kuaifanStats.labels === 0`, 5*time.Second)

	// New-incident mode: a click on the pile places the incident there.
	b.do("new incident", 10*time.Second, chromedp.Click(chromedp.CSS("#new-incident")))
	x, y = b.mapPoint(lat, lon)
	b.do("place it on the pile", 10*time.Second, chromedp.MouseClickXY(x, y), chromedp.WaitVisible(chromedp.CSS("#incident-form")))
	if eval[bool](b, `!!document.getElementById("pick")`) {
		t.Error("the picker opened in new-incident mode")
	}
}

// tilePackage writes a z/x/y directory of PNG tiles (a plain colour per
// zoom) covering Changsha and the area around lat, lon at every zoom the
// map shows it.
func tilePackage(t *testing.T, lat, lon float64) string {
	t.Helper()
	dir := t.TempDir()
	for z := 8; z <= 17; z++ {
		cx, cy := tileXY(lat, lon, z)
		minX, minY := tileXY(28.4, 112.8, z)
		maxX, maxY := tileXY(28.0, 113.2, z)
		minX, minY, maxX, maxY = min(minX, cx-3), min(minY, cy-3), max(maxX, cx+3), max(maxY, cy+3)
		if z >= 14 { // close in: only around the spot
			minX, minY, maxX, maxY = cx-3, cy-3, cx+3, cy+3
		}
		img := image.NewRGBA(image.Rect(0, 0, 256, 256))
		c := color.RGBA{R: uint8(40 + 12*z), G: 70, B: 60, A: 255}
		for i := 0; i < 256*256*4; i += 4 {
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
		}
		for x := minX; x <= maxX; x++ {
			if err := os.MkdirAll(filepath.Join(dir, fmt.Sprint(z), fmt.Sprint(x)), 0o755); err != nil {
				t.Fatal(err)
			}
			for y := minY; y <= maxY; y++ {
				f, err := os.Create(filepath.Join(dir, fmt.Sprint(z), fmt.Sprint(x), fmt.Sprint(y)+".png"))
				if err != nil {
					t.Fatal(err)
				}
				if err := png.Encode(f, img); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
		}
	}
	return dir
}

// tileXY is the XYZ tile holding a place at zoom z (Web Mercator).
func tileXY(lat, lon float64, z int) (x, y int) {
	n := math.Exp2(float64(z))
	x = int((lon + 180) / 360 * n)
	r := lat * math.Pi / 180
	y = int((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n)
	return x, y
}
