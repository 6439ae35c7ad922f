package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/testkit/dashboardtest"
)

// sos sends the officer's SOS over MQTT, from dm metres north of the spot,
// on the device's own sequence, and waits for the hub to take it.
func (d *unitDevice) sos(t *testing.T, dm float64) {
	t.Helper()
	d.mu.Lock()
	d.seq++
	seq := d.seq
	d.mu.Unlock()
	lat, lon := north(dm)
	payload, err := protocol.Encode(protocol.Event{Unit: d.ID, Seq: seq, TS: time.Now().UnixMilli(), Type: protocol.EventSOS, Lat: &lat, Lon: &lon})
	if err != nil {
		t.Fatal(err)
	}
	d.Publish(protocol.KindEvents, payload)
	d.WaitAcked(seq)
}

// enrolPhone enrols a unit that reports from a phone app and returns its secret.
func enrolPhone(t *testing.T, h *hubtest.Hub, id, callsign string, p api.ReportProtocol) string {
	t.Helper()
	var out api.Enrolled
	if code := h.Do(http.MethodPost, "/api/units", map[string]any{"id": id, "type": "foot", "callsign": callsign,
		"capabilities": []string{}, "protocol": p}, &out); code != http.StatusCreated {
		t.Fatalf("enrol %s for %s: %d", id, p, code)
	}
	return out.Secret
}

// phoneReport sends one position as the phone app would: OwnTracks' HTTP
// mode, or Traccar Client's OsmAnd query.
func phoneReport(t *testing.T, h *hubtest.Hub, p api.ReportProtocol, id, secret string, lat, lon float64, at time.Time) {
	t.Helper()
	var req *http.Request
	var err error
	switch p {
	case api.ReportOwnTracks:
		body := fmt.Sprintf(`{"_type":"location","lat":%f,"lon":%f,"tst":%d,"acc":12,"batt":80}`, lat, lon, at.Unix())
		req, err = http.NewRequest(http.MethodPost, h.URL+"/api/phones/owntracks", strings.NewReader(body))
		if err == nil {
			req.SetBasicAuth(id, secret)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Limit-U", id)
		}
	default:
		q := url.Values{"id": {id}, "secret": {secret}, "lat": {strconv.FormatFloat(lat, 'f', 6, 64)},
			"lon": {strconv.FormatFloat(lon, 'f', 6, 64)}, "timestamp": {strconv.FormatInt(at.Unix(), 10)}, "speed": {"1"}}
		req, err = http.NewRequest(http.MethodGet, h.URL+"/api/phones/osmand?"+q.Encode(), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s report: %v", p, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s report of %s: %d", p, id, resp.StatusCode)
	}
}

// An officer's SOS in Chromium against the real hub: the officer presses
// SOS over MQTT; the SOS banner names the officer and sounds its siren; the
// hub's officer_help incident is in the queue with units sent; opening it
// leaves the banner, Acknowledge clears it; the officer's moves do not
// raise it again, another press does. Then two phones, OwnTracks over HTTP
// and Traccar Client's OsmAnd query, move their units on the map, marked as
// phones in the units panel.
func TestSOS(t *testing.T) {
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	b.do("desktop size", 5*time.Second, chromedp.EmulateViewport(1440, 900))
	officer := enrolDevice(t, h, "kf-o1", "湘A-SOS1")
	officer.moveTo(0)
	helpers := []*unitDevice{enrolDevice(t, h, "kf-h1", "湘A-H01"), enrolDevice(t, h, "kf-h2", "湘A-H02"),
		enrolDevice(t, h, "kf-h3", "湘A-H03"), enrolDevice(t, h, "kf-h4", "湘A-H04")}
	for i, d := range helpers {
		d.moveTo(float64(300 * (i + 1)))
	}
	b.signIn(h.URL+"/", person(t, h, "wang", api.RoleDispatcher))
	b.waitJS("the units", `document.querySelectorAll("#unit-list li.unit").length === 5`, 20*time.Second)
	if eval[bool](b, `document.querySelector("#sos") !== null`) {
		t.Fatal("an SOS banner before any SOS")
	}

	// The SOS: banner, siren, incident, units sent.
	officer.sos(t, 0)
	b.waitJS("the SOS banner", `document.querySelector('#sos .sos-item[data-unit="kf-o1"]') !== null`, 10*time.Second)
	inc := eval[string](b, `document.querySelector("#sos .sos-item").dataset.incident`)
	if txt := eval[string](b, `document.querySelector("#sos").textContent`); !strings.Contains(txt, "湘A-SOS1") || !strings.Contains(txt, "kf-o1") {
		t.Errorf("the banner says %q: not who needs help", txt)
	}
	lat, lon := north(0)
	if txt := eval[string](b, `document.querySelector("#sos .sos-where").textContent`); !strings.Contains(txt, strconv.FormatFloat(lat, 'f', 5, 64)) ||
		!strings.Contains(txt, strconv.FormatFloat(lon, 'f', 5, 64)) {
		t.Errorf("the banner's place %q, want %.5f, %.5f", txt, lat, lon)
	}
	b.waitJS("the siren", `window.kuaifanAlarm && kuaifanAlarm.sosBeeps >= 2 && kuaifanAlarm.sos === 1`, 10*time.Second)
	b.waitJS("the incident in the queue", fmt.Sprintf(`document.querySelector('#queue li.incident[data-id=%q][data-priority="1"]') !== null`, inc), 10*time.Second)
	if got := eval[bool](b, fmt.Sprintf(`document.querySelector('#alerts .alert-item[data-id=%q]') !== null`, inc)); got {
		t.Error("the SOS is in the ordinary alerts as well")
	}
	var sent []string
	hubtest.WaitFor(t, 10*time.Second, func() error {
		hi := getIncident(t, h, inc)
		if sent = hi.assigned(); len(sent) != 3 {
			return fmt.Errorf("%s has %v, want 3 units sent", inc, sent)
		}
		return nil
	})
	for _, d := range helpers {
		for _, u := range sent {
			if u == d.ID {
				d.WaitCommand(protocol.CmdDispatch, inc)
				d.event(protocol.EventAck, inc)
			}
		}
	}

	// Opened: the banner stays (and sounds); the units are on it.
	b.clickLive("open from the banner", "#sos .sos-open")
	b.waitJS("the incident open", fmt.Sprintf(`document.querySelector("#incident-detail") && document.querySelector("#incident-detail").dataset.id === %q`, inc), 10*time.Second)
	b.waitJS("its units", `document.querySelectorAll('#incident-detail .assignment[data-state="enroute"]').length === 3`, 10*time.Second)
	b.waitJS("the created entry by the officer", `Array.from(document.querySelectorAll('#timeline li.entry[data-type="created"] .actor')).some(e => e.textContent === "湘A-SOS1")`, 5*time.Second)
	beeps := eval[int](b, `kuaifanAlarm.sosBeeps`)
	b.waitJS("the siren going on", fmt.Sprintf(`kuaifanAlarm.sosBeeps > %d && document.querySelector("#sos-ack") !== null`, beeps+1), 10*time.Second)
	b.waitJS("the officer on the assigned rate", `document.querySelector('.unit[data-id="kf-o1"]').dataset.reportS === "1"`, 10*time.Second)
	b.screenshot("sos-alarm")

	// Acknowledged: gone, and silent.
	b.clickLive("acknowledge", "#sos-ack")
	b.waitJS("the banner gone", `document.querySelector("#sos") === null`, 5*time.Second)
	beeps = eval[int](b, `kuaifanAlarm.beeps`)
	time.Sleep(2500 * time.Millisecond)
	if got := eval[int](b, `kuaifanAlarm.beeps`); got != beeps {
		t.Errorf("%d beeps after the acknowledgement, %d before", got, beeps)
	}

	// The officer runs 60 m: the incident follows (a sighting from the
	// officer's position) without alarming again.
	officer.moveTo(60)
	b.waitJS("the incident following the officer", `Array.from(document.querySelectorAll('#timeline li.entry[data-type="sighting"] .detail')).some(e => e.textContent.includes("officer calling for help"))`, 20*time.Second)
	time.Sleep(1500 * time.Millisecond)
	if eval[bool](b, `document.querySelector("#sos") !== null`) {
		t.Error("the officer's move raised the SOS again")
	}
	// Another press: raised again.
	officer.sos(t, 60)
	b.waitJS("the SOS again", fmt.Sprintf(`document.querySelector('#sos .sos-item[data-incident=%q]') !== null && +document.querySelector("#sos .sos-item").dataset.seq > 1`, inc), 10*time.Second)
	b.clickLive("acknowledge again", "#sos-ack")
	b.waitJS("the banner gone again", `document.querySelector("#sos") === null`, 5*time.Second)

	// Phones: enrolled, marked, and moved by their reports.
	otSecret := enrolPhone(t, h, "ph-ot", "巡逻21", api.ReportOwnTracks)
	osSecret := enrolPhone(t, h, "ph-os", "巡逻22", api.ReportOsmAnd)
	for _, p := range []struct {
		proto api.ReportProtocol
		id, s string
	}{{api.ReportOwnTracks, "ph-ot", otSecret}, {api.ReportOsmAnd, "ph-os", osSecret}} {
		b.waitJS("the phone's row", fmt.Sprintf(`(() => {
			const r = document.querySelector('.unit[data-id=%q]');
			return r && r.dataset.protocol === %q && r.querySelector(".phone") !== null;
		})()`, p.id, p.proto), 10*time.Second)
		for k, dm := range []float64{1500, 900} {
			plat, plon := north(dm)
			at := time.Now().Add(time.Duration(k-1) * time.Second)
			phoneReport(t, h, p.proto, p.id, p.s, plat, plon, at)
			// Selected from the row, the map centres on the position the
			// dashboard holds: the one just reported.
			b.waitJS(fmt.Sprintf("%s at %.0f m", p.id, dm), fmt.Sprintf(`(() => {
				const row = document.querySelector('.unit[data-id=%q]');
				if (!row || row.dataset.fresh !== "true") return false;
				row.click();
				const r = document.getElementById("map").getBoundingClientRect(), q = window.kuaifanMapPoint(%g, %g);
				return Math.abs(q.x - (r.left + r.width / 2)) < 2 && Math.abs(q.y - (r.top + r.height / 2)) < 2;
			})()`, p.id, plat, plon), 15*time.Second)
		}
	}
	// The last one selected is the OsmAnd phone (both report the same
	// places, so the map's centre alone does not say which is selected).
	b.waitJS("the selected phone's line", `(() => {
		const l = document.querySelector('#unit-track[data-unit="ph-os"]');
		return l !== null && l.textContent.includes("OsmAnd");
	})()`, 10*time.Second)
}
