package hub_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol/api"
)

// enrolPhone enrols a unit that reports by proto and returns its secret.
func enrolPhone(t *testing.T, h *hubtest.Hub, id string, proto api.ReportProtocol) string {
	t.Helper()
	var out api.Enrolled
	status := h.Do(http.MethodPost, "/api/units", api.Enrolment{ID: id, Type: "foot", Capabilities: []string{},
		Protocol: proto}, &out)
	if status != http.StatusCreated || out.Secret == "" {
		t.Fatalf("enrol %s as %s: %d", id, proto, status)
	}
	return out.Secret
}

// phoneCall is one request as a phone app makes it: no admin token.
type phoneCall struct {
	method, path string
	body         string
	contentType  string
	user, pass   string // Basic credentials if user != ""
	header       map[string]string
}

func (c phoneCall) do(t *testing.T, h *hubtest.Hub) (int, string) {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, h.URL+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func unitOf(t *testing.T, h *hubtest.Hub, id string) api.Unit {
	t.Helper()
	var u api.Unit
	if status := h.Do(http.MethodGet, "/api/units/"+id, nil, &u); status != http.StatusOK {
		t.Fatalf("GET unit %s: %d", id, status)
	}
	return u
}

func trackOf(t *testing.T, h *hubtest.Hub, id string) []api.TrackPoint {
	t.Helper()
	var pts []api.TrackPoint
	if status := h.Do(http.MethodGet, "/api/units/"+id+"/track", nil, &pts); status != http.StatusOK {
		t.Fatalf("GET track %s: %d", id, status)
	}
	return pts
}

// at says where a unit's live marker is: "lat,lon@ts#seq", or "none".
func at(u api.Unit) string {
	if u.Lat == nil || u.TS == nil || u.Seq == nil {
		return "none"
	}
	return fmt.Sprintf("%v,%v@%d#%d", *u.Lat, *u.Lon, *u.TS, *u.Seq)
}

func ownTracksLocation(tst int64, lat, lon float64, extra string) string {
	return fmt.Sprintf(`{"_type":"location","acc":12,"alt":48,"batt":68,"bs":1,"conn":"m","lat":%v,"lon":%v,"t":"u","tid":"17","tst":%d,"vel":36,"cog":271%s}`,
		lat, lon, tst, extra)
}

func TestPhonesEnrolProtocol(t *testing.T) {
	h := hubtest.Start(t, nil)
	enrolPhone(t, h, "ot-0", api.ReportOwnTracks)
	if u := unitOf(t, h, "ot-0"); u.Protocol != api.ReportOwnTracks {
		t.Errorf("protocol %q", u.Protocol)
	}
	h.Enrol("car-0", "car")
	if u := unitOf(t, h, "car-0"); u.Protocol != "" {
		t.Errorf("a kuaifan unit shows protocol %q", u.Protocol)
	}
	// A phone's unit reports only the way it was enrolled: not as kuaifan's agent.
	secret := enrolPhone(t, h, "os-0", api.ReportOsmAnd)
	d := hubtest.Connect(t, h.MQTTURL(), "os-0", secret, hubtest.DeviceOptions{NoState: true})
	d.Send(d.Fix(1, time.Now(), 28.1, 112.9, "available"))
	hubtest.WaitFor(t, 5*time.Second, func() error {
		resp, err := http.Get(h.URL + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(data), `kuaifan_ingest_rejected_total{reason="unknown_unit"} 1`) {
			return fmt.Errorf("the agent's telemetry of an OsmAnd unit is not rejected yet")
		}
		return nil
	})
	if got := at(unitOf(t, h, "os-0")); got != "none" {
		t.Errorf("an OsmAnd unit moved by MQTT telemetry: %s", got)
	}
	var e api.Error
	if status := h.Do(http.MethodPost, "/api/units", map[string]any{"id": "x-1", "type": "foot",
		"capabilities": []string{}, "protocol": "gpsd"}, &e); status != http.StatusBadRequest || !strings.Contains(e.Error, "protocol") {
		t.Errorf("unknown protocol: %d %q", status, e.Error)
	}
}

func TestPhonesOwnTracksHTTP(t *testing.T) {
	h := hubtest.Start(t, nil)
	secret := enrolPhone(t, h, "ot-1", api.ReportOwnTracks)
	other := enrolPhone(t, h, "ot-2", api.ReportOwnTracks)
	carSecret := h.Enrol("car-1", "car")

	tst := time.Now().Add(-10 * time.Second).Unix()
	post := func(user, pass, body string, header map[string]string) (int, string) {
		return phoneCall{method: http.MethodPost, path: "/api/phones/owntracks", body: body,
			contentType: "application/json", user: user, pass: pass, header: header}.do(t, h)
	}
	limits := map[string]string{"X-Limit-U": "ot-1", "X-Limit-D": "phone"}
	loc := ownTracksLocation(tst, 28.1941, 112.9823, `,"topic":"owntracks/ot-1/phone"`)

	// Stored before the answer: the unit has moved when the 200 comes.
	if status, body := post("ot-1", secret, loc, limits); status != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Fatalf("location: %d %s", status, body)
	}
	u := unitOf(t, h, "ot-1")
	want := fmt.Sprintf("28.1941,112.9823@%d#%d", tst*1000, tst*1000_000)
	if at(u) != want || u.Status != "available" || u.Battery == nil || *u.Battery != 0.68 ||
		u.SpeedMPS == nil || *u.SpeedMPS != 10 || u.HeadingDeg == nil || *u.HeadingDeg != 271 {
		t.Fatalf("unit after the location: %s %+v", at(u), u)
	}

	elsewhere := ownTracksLocation(tst+5, 28.3, 113.1, "")
	refusals := []struct {
		name, user, pass, body string
		header                 map[string]string
		status                 int
	}{
		{"wrong secret", "ot-1", other, elsewhere, nil, http.StatusUnauthorized},
		{"no credentials", "", "", elsewhere, nil, http.StatusUnauthorized},
		{"unknown unit", "ghost", secret, elsewhere, nil, http.StatusUnauthorized},
		{"another unit's X-Limit-U", "ot-2", other, elsewhere, limits, http.StatusForbidden},
		{"another unit's topic", "ot-2", other, ownTracksLocation(tst+5, 28.3, 113.1, `,"topic":"owntracks/ot-1/phone"`), nil, http.StatusForbidden},
		{"a kuaifan unit", "car-1", carSecret, elsewhere, nil, http.StatusForbidden},
		{"lat 91", "ot-1", secret, ownTracksLocation(tst+5, 91, 113.1, ""), nil, http.StatusBadRequest},
		{"lat a string", "ot-1", secret, `{"_type":"location","lat":"NaN","lon":113.1,"tst":` + fmt.Sprint(tst+5) + `}`, nil, http.StatusBadRequest},
		{"no tst", "ot-1", secret, `{"_type":"location","lat":28.3,"lon":113.1}`, nil, http.StatusBadRequest},
		{"future tst", "ot-1", secret, ownTracksLocation(time.Now().Add(time.Hour).Unix(), 28.3, 113.1, ""), nil, http.StatusBadRequest},
		{"not JSON", "ot-1", secret, `tst=1`, nil, http.StatusBadRequest},
	}
	for _, r := range refusals {
		status, body := post(r.user, r.pass, r.body, r.header)
		if status != r.status {
			t.Errorf("%s: %d %s, want %d", r.name, status, body, r.status)
		}
		if !strings.Contains(body, `"error"`) {
			t.Errorf("%s: no error message: %s", r.name, body)
		}
	}
	// A stranger hears the same whether the unit exists or not.
	_, wrong := post("ot-1", "nope", elsewhere, nil)
	_, ghost := post("ghost", "nope", elsewhere, nil)
	if wrong != ghost {
		t.Errorf("wrong secret %q, unknown unit %q", wrong, ghost)
	}
	// Nothing refused changed anything.
	if got := at(unitOf(t, h, "ot-1")); got != want {
		t.Errorf("after the refusals ot-1 is at %s, want %s", got, want)
	}
	if got := at(unitOf(t, h, "ot-2")); got != "none" {
		t.Errorf("ot-2 moved: %s", got)
	}
	if got := at(unitOf(t, h, "car-1")); got != "none" {
		t.Errorf("car-1 moved: %s", got)
	}

	// The app resends what it did not hear back about: a duplicate, stored once.
	if status, body := post("ot-1", secret, loc, limits); status != http.StatusOK {
		t.Fatalf("resend: %d %s", status, body)
	}
	// Other message types are accepted and ignored.
	for _, msg := range []string{
		`{"_type":"transition","event":"enter","desc":"station","lat":28.3,"lon":113.1,"tst":` + fmt.Sprint(tst+7) + `,"wtst":1,"acc":5,"t":"c","tid":"17"}`,
		`{"_type":"lwt","tst":` + fmt.Sprint(tst+8) + `}`,
		`{"_type":"waypoint","desc":"station","lat":28.3,"lon":113.1,"rad":50,"tst":1}`,
	} {
		if status, body := post("ot-1", secret, msg, limits); status != http.StatusOK || strings.TrimSpace(body) != "[]" {
			t.Errorf("%s: %d %s", msg, status, body)
		}
	}
	if pts := trackOf(t, h, "ot-1"); len(pts) != 1 {
		t.Errorf("track after a resend and other types: %d points, want 1: %+v", len(pts), pts)
	}
	if got := at(unitOf(t, h, "ot-1")); got != want {
		t.Errorf("ot-1 at %s, want %s", got, want)
	}

	// A later fix moves it.
	if status, body := post("ot-1", secret, ownTracksLocation(tst+9, 28.2, 112.99, ""), nil); status != http.StatusOK {
		t.Fatalf("second location: %d %s", status, body)
	}
	if u := unitOf(t, h, "ot-1"); u.Lat == nil || *u.Lat != 28.2 {
		t.Errorf("after the second location: %s", at(u))
	}
}

// ownTracksPhone connects like the OwnTracks app in MQTT mode: client id,
// username unit id, the secret, a Last Will on its own topic.
func ownTracksPhone(t *testing.T, h *hubtest.Hub, id, secret string, lost chan<- error) (mqtt.Client, error) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(h.MQTTURL()).SetClientID(id).SetUsername(id).SetPassword(secret).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5*time.Second).
		SetWriteTimeout(time.Second).
		SetWill("owntracks/"+id+"/phone", `{"_type":"lwt","tst":`+fmt.Sprint(time.Now().Unix())+`}`, 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			if lost != nil {
				lost <- err
			}
		})
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

func publish(c mqtt.Client, topic, payload string) error {
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(3 * time.Second) {
		return fmt.Errorf("no PUBACK for %s", topic)
	}
	return tok.Error()
}

func TestPhonesOwnTracksMQTT(t *testing.T) {
	h := hubtest.Start(t, nil)
	secret := enrolPhone(t, h, "ot-m", api.ReportOwnTracks)
	otherSecret := enrolPhone(t, h, "ot-n", api.ReportOwnTracks)
	carSecret := h.Enrol("car-k", "car")

	phone, err := ownTracksPhone(t, h, "ot-m", secret, nil)
	if err != nil {
		t.Fatalf("OwnTracks phone refused: %v", err)
	}
	tst := time.Now().Add(-5 * time.Second).Unix()
	loc := ownTracksLocation(tst, 28.1941, 112.9823, "")
	if err := publish(phone, "owntracks/ot-m/phone", loc); err != nil {
		t.Fatal(err)
	}
	// The PUBACK came after the commit: the unit has moved already.
	want := fmt.Sprintf("28.1941,112.9823@%d#%d", tst*1000, tst*1000_000)
	if got := at(unitOf(t, h, "ot-m")); got != want {
		t.Fatalf("after the PUBACK ot-m is at %s, want %s", got, want)
	}
	// The app's other topics and types are taken and ignored; a resend is a duplicate.
	for _, p := range []struct{ topic, payload string }{
		{"owntracks/ot-m/phone/event", `{"_type":"transition","event":"leave","lat":28,"lon":112,"tst":1,"wtst":1,"acc":5,"t":"c"}`},
		{"owntracks/ot-m/phone/info", `{"_type":"card","name":"Officer Li"}`},
		{"owntracks/ot-m/phone", `{"_type":"lwt","tst":1}`},
		{"owntracks/ot-m/phone", `{"_type":"location","lat":91,"lon":112,"tst":` + fmt.Sprint(tst+1) + `}`}, // bad: counted, dropped
		{"owntracks/ot-m/phone", loc},
	} {
		if err := publish(phone, p.topic, p.payload); err != nil {
			t.Fatalf("%s %s: %v", p.topic, p.payload, err)
		}
	}
	if pts := trackOf(t, h, "ot-m"); len(pts) != 1 || at(unitOf(t, h, "ot-m")) != want {
		t.Fatalf("after a resend and other types: %d points, at %s", len(pts), at(unitOf(t, h, "ot-m")))
	}

	// Publishing as another unit is refused: mochi ends a 3.1.1 connection
	// whose QoS 1 publish is denied, and nothing is stored.
	lost := make(chan error, 1)
	intruder, err := ownTracksPhone(t, h, "ot-n", otherSecret, lost)
	if err != nil {
		t.Fatal(err)
	}
	_ = publish(intruder, "owntracks/ot-m/phone", ownTracksLocation(tst+2, 30, 120, ""))
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Error("a publish to another unit's owntracks topic did not end the connection")
	}
	// A unit enrolled for kuaifan's agent may not speak OwnTracks.
	lostCar := make(chan error, 1)
	car, err := ownTracksPhone(t, h, "car-k", carSecret, lostCar)
	if err == nil {
		_ = publish(car, "owntracks/car-k/phone", ownTracksLocation(tst+2, 30, 120, ""))
		select {
		case <-lostCar:
		case <-time.After(5 * time.Second):
			t.Error("a kuaifan unit's OwnTracks publish did not end its connection")
		}
	}
	if got := at(unitOf(t, h, "ot-m")); got != want {
		t.Errorf("ot-m moved by another: %s", got)
	}
	for _, id := range []string{"ot-n", "car-k"} {
		if got := at(unitOf(t, h, id)); got != "none" {
			t.Errorf("%s moved: %s", id, got)
		}
	}
	// A wrong secret does not connect.
	if _, err := ownTracksPhone(t, h, "ot-m", otherSecret, nil); err == nil {
		t.Error("connected with another unit's secret")
	}
}

func TestPhonesOsmAnd(t *testing.T) {
	h := hubtest.Start(t, nil)
	secret := enrolPhone(t, h, "os-1", api.ReportOsmAnd)
	otSecret := enrolPhone(t, h, "ot-3", api.ReportOwnTracks)
	now := time.Now().Add(-20 * time.Second).Truncate(time.Second)
	query := func(id, secret string, ts time.Time, lat, lon float64) string {
		v := url.Values{"id": {id}, "timestamp": {fmt.Sprint(ts.Unix())}, "lat": {fmt.Sprint(lat)},
			"lon": {fmt.Sprint(lon)}, "speed": {"10"}, "bearing": {"90"}, "altitude": {"40"},
			"accuracy": {"5"}, "batt": {"80"}, "charge": {"false"}}
		if secret != "" {
			v.Set("secret", secret)
		}
		return v.Encode()
	}
	get := func(q string) (int, string) {
		return phoneCall{method: http.MethodGet, path: "/api/phones/osmand?" + q}.do(t, h)
	}

	// The query form, as Traccar Client sends it (the secret kept from the server URL).
	if status, body := get(query("os-1", secret, now, 28.1941, 112.9823)); status != http.StatusOK {
		t.Fatalf("query form: %d %s", status, body)
	}
	u := unitOf(t, h, "os-1")
	want := fmt.Sprintf("28.1941,112.9823@%d#%d", now.UnixMilli(), now.UnixMilli()*1000)
	if at(u) != want || u.SpeedMPS == nil || *u.SpeedMPS != 10*1852.0/3600 || *u.Battery != 0.8 {
		t.Fatalf("after the query form: %s %+v", at(u), u)
	}
	// Resent: a duplicate.
	if status, _ := get(query("os-1", secret, now, 28.1941, 112.9823)); status != http.StatusOK {
		t.Fatalf("resend: %d", status)
	}
	if pts := trackOf(t, h, "os-1"); len(pts) != 1 {
		t.Fatalf("after a resend: %d points", len(pts))
	}

	later := now.Add(10 * time.Second)
	refusals := []struct {
		name   string
		call   phoneCall
		status int
	}{
		{"wrong secret", phoneCall{method: http.MethodGet, path: "/api/phones/osmand?" + query("os-1", otSecret, later, 30, 120)}, http.StatusUnauthorized},
		{"no secret", phoneCall{method: http.MethodGet, path: "/api/phones/osmand?" + query("os-1", "", later, 30, 120)}, http.StatusUnauthorized},
		{"unknown id", phoneCall{method: http.MethodGet, path: "/api/phones/osmand?" + query("ghost", secret, later, 30, 120)}, http.StatusUnauthorized},
		{"another unit's id under Basic", phoneCall{method: http.MethodPost, path: "/api/phones/osmand?" + query("os-1", "", later, 30, 120),
			user: "ot-3", pass: otSecret}, http.StatusUnauthorized},
		{"an OwnTracks unit", phoneCall{method: http.MethodGet, path: "/api/phones/osmand?" + query("ot-3", otSecret, later, 30, 120)}, http.StatusForbidden},
		{"lat 91", phoneCall{method: http.MethodGet, path: "/api/phones/osmand?" + query("os-1", secret, later, 91, 120)}, http.StatusBadRequest},
		{"lat NaN", phoneCall{method: http.MethodGet, path: "/api/phones/osmand?" + strings.Replace(query("os-1", secret, later, 30, 120), "lat=30", "lat=NaN", 1)}, http.StatusBadRequest},
		{"no timestamp", phoneCall{method: http.MethodGet, path: "/api/phones/osmand?id=os-1&secret=" + url.QueryEscape(secret) + "&lat=30&lon=120"}, http.StatusBadRequest},
		{"JSON for another device", phoneCall{method: http.MethodPost, path: "/api/phones/osmand?secret=" + url.QueryEscape(secret), contentType: "application/json",
			body: `{"device_id":"ot-3","location":{"timestamp":"` + later.UTC().Format(time.RFC3339) + `","coords":{"latitude":30,"longitude":120}}}`}, http.StatusUnauthorized},
		{"DELETE", phoneCall{method: http.MethodDelete, path: "/api/phones/osmand?" + query("os-1", secret, later, 30, 120)}, http.StatusMethodNotAllowed},
	}
	for _, r := range refusals {
		if status, body := r.call.do(t, h); status != r.status || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s, want %d", r.name, status, body, r.status)
		}
	}
	if got := at(unitOf(t, h, "os-1")); got != want {
		t.Errorf("after the refusals os-1 is at %s, want %s", got, want)
	}
	if got := at(unitOf(t, h, "ot-3")); got != "none" {
		t.Errorf("ot-3 moved: %s", got)
	}

	// The JSON form of Traccar Client 9.
	jsonBody := `{"location":{"event":"motionchange","is_moving":true,"timestamp":"` + later.UTC().Format("2006-01-02T15:04:05.000Z") +
		`","odometer":12,"coords":{"latitude":28.2,"longitude":113,"accuracy":4.8,"speed":3,"heading":180,"altitude":48},` +
		`"activity":{"type":"on_foot"},"battery":{"is_charging":true,"level":0.5},"extras":{}},"device_id":"os-1"}`
	status, body := phoneCall{method: http.MethodPost, path: "/api/phones/osmand?secret=" + url.QueryEscape(secret),
		contentType: "application/json", body: jsonBody}.do(t, h)
	if status != http.StatusOK {
		t.Fatalf("JSON form: %d %s", status, body)
	}
	if u := unitOf(t, h, "os-1"); at(u) != fmt.Sprintf("28.2,113@%d#%d", later.UnixMilli(), later.UnixMilli()*1000) ||
		*u.SpeedMPS != 3 || *u.Battery != 0.5 {
		t.Fatalf("after the JSON form: %s %+v", at(u), u)
	}
	// A form body with Basic credentials (the OsmAnd app's POST).
	latest := later.Add(10 * time.Second)
	status, body = phoneCall{method: http.MethodPost, path: "/api/phones/osmand", contentType: "application/x-www-form-urlencoded",
		body: query("os-1", "", latest, 28.25, 113.05), user: "os-1", pass: secret}.do(t, h)
	if status != http.StatusOK {
		t.Fatalf("form with Basic: %d %s", status, body)
	}
	if u := unitOf(t, h, "os-1"); u.Lat == nil || *u.Lat != 28.25 {
		t.Fatalf("after the form: %s", at(u))
	}
	if pts := trackOf(t, h, "os-1"); len(pts) != 3 {
		t.Errorf("%d points stored, want 3", len(pts))
	}
}
