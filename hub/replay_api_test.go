package hub_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	wire "kuaifan/protocol/api"
)

// replaySent is a fix a test sent, as the replay should give it back.
type replaySent struct {
	ts       int64
	lat, lon float64
	status   protocol.Status
}

// GET /api/incidents/{id}/replay holds exactly the units that came within
// the radius of where the incident was at the time, and the assigned one
// wherever it was, with their tracks from creation to close.
func TestReplayAPI(t *testing.T) {
	h := hubtest.Start(t, nil)
	const aLat, aLon = 28.2000, 112.9800 // reported here
	const bLat, bLon = 28.2300, 112.9800 // sighted here, 3.3 km north

	devs := map[string]*hubtest.Device{}
	seqs := map[string]uint64{}
	sent := map[string][]replaySent{}
	send := func(id string, ts time.Time, lat, lon float64, st protocol.Status) {
		t.Helper()
		seqs[id]++
		d := devs[id]
		fix := d.Fix(seqs[id], ts, lat, lon, st)
		d.Send(fix)
		d.WaitAcked(seqs[id])
		sent[id] = append(sent[id], replaySent{fix.TS, lat, lon, st})
	}
	for _, id := range []string{"near-1", "near-2", "far-3", "asg-4", "pre-5"} {
		devs[id] = hubtest.Connect(t, h.MQTTURL(), id, h.Enrol(id, "car"), hubtest.DeviceOptions{})
	}
	avail, enroute := protocol.StatusAvailable, protocol.StatusEnroute

	// Before the incident: pre-5 is right at the place, asg-4 far away.
	before := time.Now().Add(-time.Minute)
	send("pre-5", before, aLat, aLon, avail)
	send("asg-4", time.Now(), 28.10, aLon, avail)

	var inc wire.Incident
	if st := h.Do(http.MethodPost, "/api/incidents", map[string]any{"lat": aLat, "lon": aLon, "kind": "theft", "priority": 3}, &inc); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	time.Sleep(2 * time.Millisecond)
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/assign", map[string]any{"unit": "asg-4"}, nil); st != http.StatusOK {
		t.Fatalf("assign: %d", st)
	}
	step := func() time.Time { time.Sleep(3 * time.Millisecond); return time.Now() }

	// While the incident is at A.
	send("near-1", step(), aLat+0.001, aLon, avail)   // 111 m
	send("near-1", step(), aLat+0.003, aLon, enroute) // 334 m
	send("near-2", step(), bLat+0.002, bLon, avail)   // 3.5 km from A: not yet near
	send("far-3", step(), 28.30, aLon, avail)         // 11 km
	send("asg-4", step(), 28.11, aLon, enroute)       // 10 km

	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/sightings", map[string]any{"lat": bLat, "lon": bLon, "source": "test"}, nil); st != http.StatusOK {
		t.Fatalf("sighting: %d", st)
	}
	// While it is at B.
	send("near-2", step(), bLat+0.002, bLon+0.001, enroute) // 240 m from B
	send("pre-5", step(), aLat, aLon, avail)                // at A, which it no longer is
	send("far-3", step(), 28.31, aLon, avail)
	send("asg-4", step(), 28.12, aLon, enroute)
	send("near-1", step(), aLat+0.004, aLon, enroute)

	step()
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/close", nil, &inc); st != http.StatusOK {
		t.Fatalf("close: %d", st)
	}
	step()
	send("near-1", step(), aLat, aLon, avail) // after the close

	status, body := historyBody(t, h, "/api/incidents/"+inc.ID+"/replay", "")
	if status != http.StatusOK {
		t.Fatalf("replay: %d %s", status, body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var rp wire.Replay
	if err := dec.Decode(&rp); err != nil {
		t.Fatalf("replay: %v in %s", err, body)
	}
	again, _ := json.Marshal(rp)
	if !bytes.Equal(body, append(again, '\n')) {
		t.Fatalf("the body is not json.Marshal of its Replay:\n got %s\nwant %s", body, again)
	}
	if rp.Incident.ID != inc.ID || rp.From != inc.Created || rp.To != inc.Closed || rp.Truncated || rp.RadiusM != 2000 {
		t.Fatalf("head: id %s from %d to %d truncated %v radius %d; incident created %d closed %d",
			rp.Incident.ID, rp.From, rp.To, rp.Truncated, rp.RadiusM, inc.Created, inc.Closed)
	}
	if !slices.ContainsFunc(rp.Incident.Timeline, func(e wire.Entry) bool { return e.Type == wire.EntrySighting }) {
		t.Errorf("the incident has no sighting on its timeline: %+v", rp.Incident.Timeline)
	}
	var ids []string
	for _, u := range rp.Units {
		ids = append(ids, u.Unit)
	}
	// The assigned one first, then nearest first: near-1 (111 m), near-2 (240 m).
	if want := []string{"asg-4", "near-1", "near-2"}; !slices.Equal(ids, want) {
		t.Fatalf("units %v, want %v", ids, want)
	}
	for _, u := range rp.Units {
		if u.Assigned != (u.Unit == "asg-4") || u.Type != "car" {
			t.Errorf("%s: assigned %v type %q", u.Unit, u.Assigned, u.Type)
		}
		if (u.NearestM == nil) != (u.Unit == "asg-4") {
			t.Errorf("%s: nearest_m %v", u.Unit, u.NearestM)
		}
		var want []replaySent
		for _, s := range sent[u.Unit] {
			if s.ts >= inc.Created && s.ts <= inc.Closed {
				want = append(want, s)
			}
		}
		if len(u.T) != len(want) || len(u.Lat) != len(want) || len(u.Lon) != len(want) {
			t.Fatalf("%s: %d/%d/%d positions, want %d", u.Unit, len(u.T), len(u.Lat), len(u.Lon), len(want))
		}
		for i, w := range want {
			got := replaySent{rp.From + u.T[i], u.Lat[i], u.Lon[i], u.StatusAt(i)}
			w.lat, w.lon = math.Round(w.lat*1e6)/1e6, math.Round(w.lon*1e6)/1e6
			if got != w {
				t.Errorf("%s position %d: %+v, want %+v", u.Unit, i, got, w)
			}
		}
	}
	if d := *rp.Units[1].NearestM; d < 100 || d > 120 {
		t.Errorf("near-1 came within %d m, want 111", d)
	}

	// A smaller radius leaves near-2 (240 m from B) out.
	var small wire.Replay
	if st := h.Do(http.MethodGet, "/api/incidents/"+inc.ID+"/replay?radius_m=200", nil, &small); st != http.StatusOK {
		t.Fatalf("radius_m=200: %d", st)
	}
	if len(small.Units) != 2 || small.Units[1].Unit != "near-1" || small.RadiusM != 200 {
		t.Errorf("radius_m=200: %+v", small.Units)
	}

	for _, q := range []string{"?radius_m=99", "?radius_m=20001", "?radius_m=abc", "?radius_m=1.5"} {
		if st, b := historyBody(t, h, "/api/incidents/"+inc.ID+"/replay"+q, ""); st != http.StatusBadRequest || !strings.Contains(string(b), "radius_m") {
			t.Errorf("%s: %d %s, want 400", q, st, b)
		}
	}
	if st, b := historyBody(t, h, "/api/incidents/no-such/replay", ""); st != http.StatusNotFound {
		t.Errorf("unknown incident: %d %s", st, b)
	}
	if st, b := historyBody(t, h, "/api/incidents/"+inc.ID+"/replay", "-"); st != http.StatusUnauthorized {
		t.Errorf("no token: %d %s", st, b)
	}
	if st, b := historyBody(t, h, "/api/incidents/"+inc.ID+"/replay", "wrong"); st != http.StatusUnauthorized {
		t.Errorf("wrong token: %d %s", st, b)
	}
}

// gpxBack is what the test reads back of a GPX file.
type gpxBack struct {
	XMLName xml.Name `xml:"http://www.topografix.com/GPX/1/1 gpx"`
	Version string   `xml:"version,attr"`
	Name    string   `xml:"trk>name"`
	Pts     []struct {
		Lat    float64  `xml:"lat,attr"`
		Lon    float64  `xml:"lon,attr"`
		Time   string   `xml:"time"`
		Speed  *float64 `xml:"extensions>TrackPointExtension>speed"`
		Course *float64 `xml:"extensions>TrackPointExtension>course"`
	} `xml:"trk>trkseg>trkpt"`
}

// GET /api/units/{id}/track?format=gpx|geojson exports the same track as
// the JSON one.
func TestTrackFormatAPI(t *testing.T) {
	h := hubtest.Start(t, nil)
	d := hubtest.Connect(t, h.MQTTURL(), "car-1", h.Enrol("car-1", "car"), hubtest.DeviceOptions{})
	start := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	var seqs []uint64
	for i := range 6 {
		fix := d.Fix(uint64(i+1), start.Add(time.Duration(i)*time.Second), 28.2+float64(i)*1e-4, 112.98+float64(i)*2e-4, protocol.StatusEnroute)
		if i%2 == 0 {
			sp, hd := float64(i)+0.5, float64(i*10)
			fix.SpeedMPS, fix.HeadingDeg = &sp, &hd
		}
		d.Send(fix)
		seqs = append(seqs, fix.Seq)
	}
	d.WaitAcked(seqs...)
	var track []wire.TrackPoint
	if st := h.Do(http.MethodGet, "/api/units/car-1/track", nil, &track); st != http.StatusOK || len(track) != 6 {
		t.Fatalf("json track: %d, %d points", st, len(track))
	}
	get := func(q string) (int, http.Header, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, h.URL+"/api/units/car-1/track"+q, nil)
		req.Header.Set("Authorization", "Bearer "+h.AdminToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, resp.Header, b.Bytes()
	}
	day := start.UTC().Format("2006-01-02")

	st, hd, body := get(fmt.Sprintf("?format=gpx&since=%d", start.UnixMilli()))
	if st != http.StatusOK || hd.Get("Content-Type") != "application/gpx+xml" ||
		hd.Get("Content-Disposition") != `attachment; filename="car-1-`+day+`.gpx"` {
		t.Fatalf("gpx: %d %v %s", st, hd, body)
	}
	var g gpxBack
	if err := xml.Unmarshal(body, &g); err != nil {
		t.Fatalf("gpx: %v in %s", err, body)
	}
	if g.Version != "1.1" || g.Name != "car-1" || len(g.Pts) != len(track) {
		t.Fatalf("gpx: version %q name %q %d points, want 6: %s", g.Version, g.Name, len(g.Pts), body)
	}
	for i, p := range g.Pts {
		tm, err := time.Parse(time.RFC3339Nano, p.Time)
		w := track[i]
		if err != nil || tm.UnixMilli() != w.TS || p.Lat != w.Lat || p.Lon != w.Lon {
			t.Errorf("gpx point %d: %+v (%v), want %+v", i, p, err, w)
		}
		if (p.Speed == nil) != (w.SpeedMPS == nil) || p.Speed != nil && (*p.Speed != *w.SpeedMPS || *p.Course != *w.HeadingDeg) {
			t.Errorf("gpx point %d: speed %v course %v, want %v %v", i, p.Speed, p.Course, w.SpeedMPS, w.HeadingDeg)
		}
	}

	st, hd, body = get("?format=geojson")
	if st != http.StatusOK || hd.Get("Content-Type") != "application/geo+json" ||
		hd.Get("Content-Disposition") != `attachment; filename="car-1-`+day+`.geojson"` {
		t.Fatalf("geojson: %d %v %s", st, hd, body)
	}
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Type     string `json:"type"`
			Geometry struct {
				Type        string       `json:"type"`
				Coordinates [][2]float64 `json:"coordinates"`
			} `json:"geometry"`
			Properties struct {
				Unit   string            `json:"unit"`
				Times  []int64           `json:"times"`
				Status []protocol.Status `json:"status"`
			} `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(body, &fc); err != nil {
		t.Fatalf("geojson: %v in %s", err, body)
	}
	if fc.Type != "FeatureCollection" || len(fc.Features) != 1 || fc.Features[0].Geometry.Type != "LineString" ||
		len(fc.Features[0].Geometry.Coordinates) != 6 || len(fc.Features[0].Properties.Times) != 6 {
		t.Fatalf("geojson: %s", body)
	}
	for i, w := range track {
		f := fc.Features[0]
		if f.Geometry.Coordinates[i] != [2]float64{w.Lon, w.Lat} || f.Properties.Times[i] != w.TS || f.Properties.Status[i] != w.Status {
			t.Errorf("geojson point %d: %v %d, want %+v", i, f.Geometry.Coordinates[i], f.Properties.Times[i], w)
		}
	}

	// Nothing in the range: an empty segment, no features.
	if st, _, body = get("?format=geojson&since=1&until=2"); st != http.StatusOK || !strings.Contains(string(body), `"features":[]`) {
		t.Errorf("empty geojson: %d %s", st, body)
	}
	if st, _, body = get("?format=kml"); st != http.StatusBadRequest {
		t.Errorf("format=kml: %d %s", st, body)
	}
	if st, _, body = get("?format=json"); st != http.StatusOK || !strings.HasPrefix(string(body), "[") {
		t.Errorf("format=json: %d %s", st, body)
	}
}
