package ui

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	goqr "github.com/piglig/go-qr"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

func TestEnrolFormRequest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		form    EnrolForm
		want    string // the JSON body; "" when refused
		problem string // part of the message when refused
	}{
		{"a phone", EnrolForm{ID: " foot-21 ", Type: "foot", Callsign: " 巡逻21 ", How: HowResponder},
			`{"id":"foot-21","type":"foot","callsign":"巡逻21","capabilities":[],"protocol":"kuaifan"}`, ""},
		{"the agent, capabilities", EnrolForm{ID: "car_017", Type: "car", Capabilities: "medic, k9，medic  taser", How: HowAgent},
			`{"id":"car_017","type":"car","callsign":"","capabilities":["medic","k9","taser"],"protocol":"kuaifan"}`, ""},
		{"owntracks", EnrolForm{ID: "ot-1", Type: "volunteer", How: HowOwnTracks},
			`{"id":"ot-1","type":"volunteer","callsign":"","capabilities":[],"protocol":"owntracks"}`, ""},
		{"traccar", EnrolForm{ID: "os-22", Type: "motorcycle", How: HowTraccar},
			`{"id":"os-22","type":"motorcycle","callsign":"","capabilities":[],"protocol":"osmand"}`, ""},
		{"32 characters", EnrolForm{ID: strings.Repeat("a", 32), Type: "car", How: HowAgent},
			`{"id":"` + strings.Repeat("a", 32) + `","type":"car","callsign":"","capabilities":[],"protocol":"kuaifan"}`, ""},
		{"no id", EnrolForm{Type: "car", How: HowAgent}, "", "1 to 32 letters"},
		{"33 characters", EnrolForm{ID: strings.Repeat("a", 33), Type: "car", How: HowAgent}, "", "1 to 32 letters"},
		{"a space", EnrolForm{ID: "car 1", Type: "car", How: HowAgent}, "", "1 to 32 letters"},
		{"a slash", EnrolForm{ID: "car/1", Type: "car", How: HowAgent}, "", "1 to 32 letters"},
		{"not ascii", EnrolForm{ID: "巡逻1", Type: "car", How: HowAgent}, "", "1 to 32 letters"},
		{"no type", EnrolForm{ID: "car-1", How: HowAgent}, "", "type"},
		{"unknown type", EnrolForm{ID: "car-1", Type: "tank", How: HowAgent}, "", "type"},
		{"no way to report", EnrolForm{ID: "car-1", Type: "car"}, "", "how the unit reports"},
		{"long callsign", EnrolForm{ID: "car-1", Type: "car", Callsign: strings.Repeat("警", 22), How: HowAgent}, "", "64 bytes"},
		{"bad capability", EnrolForm{ID: "car-1", Type: "car", Capabilities: "Medic", How: HowAgent}, "", `"Medic"`},
		{"17 capabilities", EnrolForm{ID: "car-1", Type: "car", How: HowAgent,
			Capabilities: "a b c d e f g h i j k l m n o p q"}, "", "16"},
	} {
		e, problem := tc.form.Request(EN)
		if tc.want == "" {
			if problem == "" || !strings.Contains(problem, tc.problem) {
				t.Errorf("%s: problem %q, want one with %q", tc.name, problem, tc.problem)
			}
			continue
		}
		if problem != "" {
			t.Errorf("%s: refused: %s", tc.name, problem)
			continue
		}
		b, _ := json.Marshal(e)
		if string(b) != tc.want {
			t.Errorf("%s: body\n %s\nwant\n %s", tc.name, b, tc.want)
		}
	}
}

func TestEnrolSetup(t *testing.T) {
	const origin = "https://hub.example:8443/"
	for _, tc := range []struct {
		how, secret string
		want        Setup
	}{
		{HowResponder, "AbC-_9", Setup{Link: "https://hub.example:8443/responder/#u=foot-21&s=AbC-_9"}},
		// Not base64url: escaped, so that "+" is not read as a space.
		{HowResponder, "a+b/c=&d", Setup{Link: "https://hub.example:8443/responder/#u=foot-21&s=a%2Bb%2Fc%3D%26d"}},
		{HowOwnTracks, "AbC-_9", Setup{URL: "https://hub.example:8443/api/phones/owntracks", MQTT: "hub.example:1883"}},
		{HowTraccar, "AbC-_9", Setup{URL: "https://hub.example:8443/api/phones/osmand?secret=AbC-_9"}},
		{HowTraccar, "a+b/c=&d", Setup{URL: "https://hub.example:8443/api/phones/osmand?secret=a%2Bb%2Fc%3D%26d"}},
		{HowAgent, "AbC-_9", Setup{Agent: "agent -unit foot-21 -secret AbC-_9 -broker tcp://hub.example:1883 -gps gpsd:127.0.0.1:2947"}},
		{HowAgent, "it's", Setup{Agent: `agent -unit foot-21 -secret 'it'\''s' -broker tcp://hub.example:1883 -gps gpsd:127.0.0.1:2947`}},
	} {
		tc.want.How, tc.want.Unit, tc.want.Secret = tc.how, "foot-21", tc.secret
		if got := NewSetup(origin, tc.how, "foot-21", tc.secret); got != tc.want {
			t.Errorf("%s %q:\n got %+v\nwant %+v", tc.how, tc.secret, got, tc.want)
		}
	}
}

// qrImage draws a QR code as a picture, 4 pixels a module, with its quiet
// zone, as a camera would see the screen.
func qrImage(q QR) image.Image {
	const px = 4
	side := (q.Size() + 2*QRQuiet) * px
	img := image.NewGray(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			mx, my := x/px-QRQuiet, y/px-QRQuiet
			c := color.Gray{Y: 255}
			if mx >= 0 && my >= 0 && mx < q.Size() && my < q.Size() && q.Dark[my][mx] {
				c.Y = 0
			}
			img.SetGray(x, y, c)
		}
	}
	return img
}

// The QR code of an enrolment link decodes back to the link (by another
// library's decoder), at level M, and the SVG draws exactly its dark runs.
func TestQREncodesTheLink(t *testing.T) {
	for _, link := range []string{
		NewSetup("http://127.0.0.1:8080", HowResponder, "f", "x").Link,
		NewSetup("https://hub.example:8443", HowResponder, "foot-21", "Zq3x0mJ2c1lV9bTQe7yX_kR4pW-8sHuDg6aNfLoC5vE").Link,
		NewSetup("https://dispatch.changsha.police.example", HowResponder, strings.Repeat("u", 32), strings.Repeat("S", 43)).Link,
	} {
		q, err := QRFrom(hubQR(t, link))
		if err != nil {
			t.Fatalf("%s: %v", link, err)
		}
		if q.Size() != 17+4*q.Version || q.Version < 1 || q.Version > 10 {
			t.Errorf("%s: size %d, version %d", link, q.Size(), q.Version)
		}
		for _, row := range q.Dark {
			if len(row) != q.Size() {
				t.Fatalf("%s: a row of %d modules in a %d code", link, len(row), q.Size())
			}
		}
		res, err := goqr.DecodeDetailed(qrImage(q))
		if err != nil {
			t.Fatalf("%s: decoding: %v", link, err)
		}
		if res.Text != link || res.Version != q.Version || res.Ecc != goqr.Medium {
			t.Errorf("decoded %q version %d level %v, want %q version %d level M", res.Text, res.Version, res.Ecc, link, q.Version)
		}

		es := parseElems(app.HTMLString(qrSVG("qr", q, 200)))
		if es[0].tag != "svg" || es[0].attrs["data-dark"] == "" {
			t.Fatalf("the QR's svg: %+v", es[0])
		}
		side := q.Size() + 2*QRQuiet
		if es[0].attrs["viewBox"] != "0 0 "+itoa(side)+" "+itoa(side) {
			t.Errorf("viewBox %q for a %d code", es[0].attrs["viewBox"], q.Size())
		}
		// Redraw the modules from the SVG's runs.
		drawn := make([][]bool, q.Size())
		for i := range drawn {
			drawn[i] = make([]bool, q.Size())
		}
		runs := 0
		for _, e := range es[1:] {
			if e.tag != "rect" {
				t.Fatalf("an element of the QR's SVG: %+v", e)
			}
			if e.attrs["class"] != "qr-run" {
				if e.attrs["fill"] != "#fff" || e.attrs["width"] != itoa(side) {
					t.Errorf("the background: %+v", e)
				}
				continue
			}
			runs++
			x, y, w := atoi(e.attrs["x"])-QRQuiet, atoi(e.attrs["y"])-QRQuiet, atoi(e.attrs["width"])
			if e.attrs["fill"] != "#000" || e.attrs["height"] != "1" || w < 1 {
				t.Errorf("a run: %+v", e)
			}
			for i := range w {
				if drawn[y][x+i] {
					t.Errorf("module %d,%d drawn twice", x+i, y)
				}
				drawn[y][x+i] = true
			}
		}
		if runs != len(q.runs()) || !slices.EqualFunc(drawn, q.Dark, slices.Equal) {
			t.Errorf("%s: the SVG's %d runs draw another code", link, runs)
		}
		if q.DarkModules() == 0 || es[0].attrs["data-dark"] != itoa(q.DarkModules()) {
			t.Errorf("dark modules %d, data-dark %q", q.DarkModules(), es[0].attrs["data-dark"])
		}
	}
}

// A known code: "kuaifan" at level M is version 1, and its finder patterns
// are where the standard puts them.
func TestQRFinders(t *testing.T) {
	q, err := QRFrom(hubQR(t, "kuaifan"))
	if err != nil {
		t.Fatal(err)
	}
	if q.Version != 1 || q.Size() != 21 {
		t.Fatalf("version %d, size %d", q.Version, q.Size())
	}
	finder := []string{"#######", "#.....#", "#.###.#", "#.###.#", "#.###.#", "#.....#", "#######"}
	for _, at := range [][2]int{{0, 0}, {14, 0}, {0, 14}} {
		for dy, row := range finder {
			for dx, c := range row {
				if q.Dark[at[1]+dy][at[0]+dx] != (c == '#') {
					t.Fatalf("the finder at %v differs at %d,%d", at, dx, dy)
				}
			}
		}
	}
	// The timing pattern alternates along row 6 between the finders.
	for x := 8; x < 13; x++ {
		if q.Dark[6][x] != (x%2 == 0) {
			t.Errorf("timing module %d", x)
		}
	}
}

// hubQR is POST /api/qr's answer for text, as the hub encodes it (the same
// library, at level M).
func hubQR(t testing.TB, text string) api.QRCode {
	t.Helper()
	c, err := goqr.EncodeText(text, goqr.Medium)
	if err != nil {
		t.Fatal(err)
	}
	n := c.Size()
	out := api.QRCode{Version: (n - 17) / 4, Size: n}
	for y := range n {
		var row []byte
		for x := range n {
			row = append(row, map[bool]byte{true: '1', false: '0'}[c.Module(x, y)])
		}
		out.Rows = append(out.Rows, string(row))
	}
	return out
}

// A QR code from the hub with the wrong shape or a stray character is
// refused, not drawn wrong.
func TestQRFromRefuses(t *testing.T) {
	good := hubQR(t, "kuaifan")
	short := good
	short.Rows = good.Rows[1:]
	bent := good
	bent.Rows = append([]string{good.Rows[0][1:]}, good.Rows[1:]...)
	stray := good
	stray.Rows = append([]string{"2" + good.Rows[0][1:]}, good.Rows[1:]...)
	wrongSize := good
	wrongSize.Size = 25
	for name, c := range map[string]api.QRCode{"a row missing": short, "a short row": bent, "a stray character": stray,
		"size not the version's": wrongSize, "nothing": {}} {
		if _, err := QRFrom(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// unitsHub is the hub's units API as the screen uses it.
type unitsHub struct {
	srv      *httptest.Server
	mu       sync.Mutex
	units    map[string]api.Unit
	requests []string
	bodies   []string
}

func newUnitsHub(t *testing.T) *unitsHub {
	h := &unitsHub{units: map[string]api.Unit{"car-1": {ID: "car-1", Type: protocol.TypeCar, Capabilities: []string{}}}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.requests = append(h.requests, r.Method+" "+r.URL.Path)
		if r.Header.Get("Authorization") != "Bearer units-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case r.Method == "POST" && r.URL.Path == "/api/units":
			var e api.Enrolment
			d := json.NewDecoder(r.Body)
			d.DisallowUnknownFields()
			if err := d.Decode(&e); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(api.Error{Error: err.Error()})
				return
			}
			b, _ := json.Marshal(e)
			h.bodies = append(h.bodies, string(b))
			if _, ok := h.units[e.ID]; ok {
				w.WriteHeader(http.StatusConflict)
				json.NewEncoder(w).Encode(api.Error{Error: `unit "` + e.ID + `" is already enrolled`})
				return
			}
			h.units[e.ID] = api.Unit{ID: e.ID, Type: e.Type, Callsign: e.Callsign, Capabilities: e.Capabilities}
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(api.Enrolled{ID: e.ID, Secret: "s3cr3t-" + e.ID})
		case r.Method == "POST" && r.URL.Path == "/api/qr":
			var in api.QRRequest
			json.NewDecoder(r.Body).Decode(&in)
			json.NewEncoder(w).Encode(hubQR(t, in.Text))
		case r.Method == "GET" && r.URL.Path == "/api/units":
			us := []api.Unit{}
			for _, u := range h.units {
				us = append(us, u)
			}
			slices.SortFunc(us, func(a, b api.Unit) int { return strings.Compare(a.ID, b.ID) })
			json.NewEncoder(w).Encode(us)
		case r.Method == "DELETE" && strings.HasPrefix(r.URL.Path, "/api/units/"):
			id := strings.TrimPrefix(r.URL.Path, "/api/units/")
			if _, ok := h.units[id]; !ok {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			delete(h.units, id)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *unitsHub) calls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.requests)
}

func TestEnrolPage(t *testing.T) {
	h := newUnitsHub(t)
	ct := NewController(NewConsole(EN), h.srv.URL)
	l := newTestLoop()
	ct.Attach(l)
	sess, cancel := context.WithCancel(context.Background())
	ct.api, ct.sess, ct.stop = &API{Base: h.srv.URL, Token: "units-token"}, sess, cancel
	ct.C.Role = api.RoleAdmin // enrols and revokes
	t.Cleanup(func() {
		ct.SignOut()
		l.wg.Wait()
	})
	p := newEnrolPage()
	p.Refresh(ct, l, EN)
	l.until(t, "the list", func() bool { return p.Listed && !p.list.busy() })
	if len(p.Units) != 1 {
		t.Fatalf("listed %v", p.Units)
	}

	// A bad form: refused, no call.
	n := len(h.calls())
	p.Form = EnrolForm{ID: "foot 21", Type: "foot", How: HowResponder}
	p.Submit(ct, l, EN)
	if p.Err == "" || p.enrol.busy() || len(h.calls()) != n {
		t.Errorf("bad id: err %q, %d calls", p.Err, len(h.calls())-n)
	}

	// A phone: the card with the link and its QR code; the list refreshed.
	p.Form = EnrolForm{ID: "foot-21", Type: "foot", Callsign: "巡逻21", How: HowResponder}
	p.Submit(ct, l, EN)
	l.until(t, "the enrolment and its QR code", func() bool {
		return p.Card != nil && p.Listed && len(p.Units) == 2 && !p.list.busy() && p.QR.Size() > 0
	})
	want := h.srv.URL + "/responder/#u=foot-21&s=s3cr3t-foot-21"
	if p.Err != "" || p.Card.Link != want || p.Card.Secret != "s3cr3t-foot-21" || p.QR.Size() == 0 {
		t.Errorf("after enrolling: err %q, card %+v, QR %d", p.Err, p.Card, p.QR.Size())
	}
	html := app.HTMLString(&EnrolView{Ctl: ct, page: p})
	for _, s := range []string{`id="enrol-qr"`, `id="enrol-secret"`, ">s3cr3t-foot-21<", ">" + strings.ReplaceAll(want, "&", "&amp;") + "<", `data-unit="foot-21"`, "shown this once"} {
		if !strings.Contains(strings.ToLower(html), strings.ToLower(s)) {
			t.Errorf("the page lacks %s", s)
		}
	}

	// The hub's refusal is shown in the form; the card of the last
	// enrolment is gone with it.
	p.Form = EnrolForm{ID: "car-1", Type: "car", How: HowTraccar}
	p.Submit(ct, l, EN)
	l.until(t, "the refusal", func() bool { return !p.enrol.busy() })
	if !strings.Contains(p.Err, "409") || !strings.Contains(p.Err, "already enrolled") || p.Card != nil {
		t.Errorf("a taken id: err %q, card %+v", p.Err, p.Card)
	}
	if b := h.bodies[len(h.bodies)-1]; b != `{"id":"car-1","type":"car","callsign":"","capabilities":[],"protocol":"osmand"}` {
		t.Errorf("the body sent: %s", b)
	}

	// Revoke after confirmation; leaving the screen forgets the secret.
	p.Form = EnrolForm{ID: "ot-9", Type: "foot", How: HowOwnTracks}
	p.Submit(ct, l, EN)
	l.until(t, "the second enrolment", func() bool { return p.Card != nil && !p.list.busy() })
	if p.Card.URL != h.srv.URL+"/api/phones/owntracks" {
		t.Errorf("owntracks card %+v", p.Card)
	}
	p.Revoke = "car-1"
	html = app.HTMLString(&EnrolView{Ctl: ct, page: p})
	if !strings.Contains(html, "Revoke car-1?") || strings.Count(html, "revoke-yes") != 1 {
		t.Error("no confirmation step in car-1's row")
	}
	p.ConfirmRevoke(ct, l, EN)
	l.until(t, "the revocation", func() bool { return p.Revoke == "" && len(p.Units) == 2 && !p.list.busy() })
	if !slices.Contains(h.calls(), "DELETE /api/units/car-1") || p.RevokeErr != "" {
		t.Errorf("calls %v, err %q", h.calls(), p.RevokeErr)
	}
	p.stop()
	if p.Card != nil || p.QR.Size() != 0 {
		t.Error("the card outlives the screen")
	}
}

// Every way of reporting has its name in both languages.
func TestEnrolMessages(t *testing.T) {
	for _, l := range []Lang{EN, ZH} {
		for _, how := range Hows {
			if _, ok := messages[l]["enrol.how."+how]; !ok {
				t.Errorf("%s lacks enrol.how.%s", l, how)
			}
		}
		if _, ok := messages[l][screenKey(ScreenEnrol)]; !ok {
			t.Errorf("%s lacks the screen's tab", l)
		}
	}
}
