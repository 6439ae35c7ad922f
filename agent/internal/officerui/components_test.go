package officerui

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// render mounts p in go-app's test engine and returns its HTML.
func render(t *testing.T, p *Page) string {
	t.Helper()
	e := app.NewTestEngine()
	if err := e.Load(p); err != nil {
		t.Fatal(err)
	}
	e.ConsumeAll()
	return app.HTMLString(p)
}

var tagRE = regexp.MustCompile(`<([a-z][a-z0-9]*)((?:\s+[^\s=>]+(?:="[^"]*")?)*)\s*/?>`)
var attrRE = regexp.MustCompile(`([^\s=>]+)(?:="([^"]*)")?`)

// byID returns the attributes of the element with id, nil if there is none.
func byID(html, id string) map[string]string {
	for _, m := range tagRE.FindAllStringSubmatch(html, -1) {
		attrs := map[string]string{}
		for _, a := range attrRE.FindAllStringSubmatch(m[2], -1) {
			v := a[2]
			if u, err := strconv.Unquote(`"` + v + `"`); err == nil {
				v = u
			}
			attrs[a[1]] = v
		}
		if attrs["id"] == id {
			return attrs
		}
	}
	return nil
}

// disabled reads go-app's rendering of a boolean attribute: the server's
// HTML writes disabled="false" for an enabled button (the browser's DOM,
// which go-app drives, has no attribute then).
func disabled(attrs map[string]string) bool {
	v, ok := attrs["disabled"]
	return ok && v != "false"
}

func fixture(state string) *Page {
	recv := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	p := &Page{lang: EN, have: true, st: State{Unit: "car-9", UnitType: "car", Status: "enroute", Connected: true,
		Now: recv.Add(time.Minute), Position: &Position{Lat: lat0, Lon: lon0},
		Actions: []Action{{Type: "ack", Incident: "inc-1", Seq: 4}}}}
	if state != "" {
		p.st.Assignment = &Assignment{Incident: "inc-1", Lat: lat0 + north(800), Lon: lon0, Priority: 1,
			Kind: "theft", Summary: "bag snatched", State: state, Received: recv}
	}
	return p
}

// The hooks the Chromium test relies on (agent/README.md, "The officer's
// page"), and the buttons each state enables.
func TestPageRendering(t *testing.T) {
	tests := []struct {
		state   string
		enabled map[string]bool
	}{
		{"", map[string]bool{"ack": false, "decline": false, "arrived": false, "cleared": false}},
		{StateDispatched, map[string]bool{"ack": true, "decline": true, "arrived": false, "cleared": false}},
		{StateEnroute, map[string]bool{"ack": false, "decline": true, "arrived": true, "cleared": false}},
		{StateOnScene, map[string]bool{"ack": false, "decline": false, "arrived": false, "cleared": true}},
	}
	for _, tc := range tests {
		t.Run("state "+tc.state, func(t *testing.T) {
			html := render(t, fixture(tc.state))
			for id, on := range tc.enabled {
				b := byID(html, id)
				if b == nil {
					t.Fatalf("no #%s", id)
				}
				if disabled(b) == on {
					t.Errorf("#%s disabled, want enabled=%v", id, on)
				}
			}
			card := byID(html, "card")
			if tc.state == "" {
				if !strings.Contains(card["class"], "empty") {
					t.Errorf("card %v without an assignment", card)
				}
				return
			}
			if card["data-incident"] != "inc-1" || card["data-state"] != tc.state {
				t.Errorf("card %v", card)
			}
			for _, id := range []string{"kind", "summary", "distance", "eta", "since", "place", "priority"} {
				if byID(html, id) == nil {
					t.Errorf("no #%s", id)
				}
			}
			if !strings.Contains(html, "800 m · N") || !strings.Contains(html, "~3 min") || !strings.Contains(html, "1:00") {
				t.Errorf("figures missing from the card")
			}
		})
	}
}

func TestPageLinkAndQueue(t *testing.T) {
	p := fixture(StateDispatched)
	html := render(t, p)
	if l := byID(html, "link"); l["data-state"] != "connected" {
		t.Errorf("link %v", l)
	}
	if la := byID(html, "last-action"); la["data-action"] != "ack" || la["data-state"] != "queued" || la["data-incident"] != "inc-1" {
		t.Errorf("last action %v", la)
	}
	p = fixture(StateDispatched)
	p.st.Connected, p.st.Queued, p.st.QueuedEvents = false, 12, 1
	p.st.Actions[0].Confirmed = true
	html = render(t, p)
	if l := byID(html, "link"); l["data-state"] != "offline" {
		t.Errorf("link %v", l)
	}
	if q := byID(html, "queue"); q["data-n"] != "12" || q["data-events"] != "1" {
		t.Errorf("queue %v", q)
	}
	if !strings.Contains(html, "1 actions waiting") {
		t.Error("queued actions not shown")
	}
	if la := byID(html, "last-action"); la["data-state"] != "confirmed" {
		t.Errorf("last action %v", la)
	}
	p = fixture("")
	p.have, p.down = false, "fetch failed"
	if l := byID(render(t, p), "link"); l["data-state"] != "agent" {
		t.Errorf("link %v with the agent away", l)
	}
}

func TestPageChineseAndForms(t *testing.T) {
	p := fixture(StateDispatched)
	p.lang, p.declineOpen, p.needToken = ZH, true, true
	p.reason = "too_far"
	html := render(t, p)
	for _, s := range []string{"签收", "拒绝原因", "距离太远", "800 米 · 北", "盗窃", "长按求助 SOS", "终端口令"} {
		if !strings.Contains(html, s) {
			t.Errorf("%q missing", s)
		}
	}
	for _, id := range []string{"decline-form", "reason", "decline-confirm", "decline-cancel", "token-form", "token", "sos"} {
		if byID(html, id) == nil {
			t.Errorf("no #%s", id)
		}
	}
	// The decline button is not offered twice while its form is open.
	if !disabled(byID(html, "decline")) {
		t.Error("#decline enabled with its form open")
	}
	if sos := byID(html, "sos"); sos["data-holding"] != "false" {
		t.Errorf("sos %v", sos)
	}
}

// The move-up card (调防, additive 2026-12) takes the empty card's place:
// its hooks and figures, its own Arrived (not while an action is on its
// way), the assignment's buttons all off, and both languages.
func TestPageMoveUp(t *testing.T) {
	moveUp := func() *Page {
		p := fixture("")
		p.st.Status = "available"
		p.st.Reposition = &Reposition{ID: "mu-20261207-0001", Lat: lat0, Lon: lon0 + east(800), Summary: "补芙蓉区覆盖空缺",
			Received: p.st.Now.Add(-2 * time.Minute)}
		return p
	}
	html := render(t, moveUp())
	card := byID(html, "moveup")
	if card == nil || card["data-id"] != "mu-20261207-0001" || !strings.Contains(card["class"], "moveup") {
		t.Fatalf("move-up card %v", card)
	}
	if byID(html, "card") != nil {
		t.Error("the empty assignment card beside the move-up")
	}
	for _, id := range []string{"mu-title", "mu-summary", "mu-distance", "mu-eta", "mu-since", "mu-place", "mu-hint", "mu-arrived"} {
		if byID(html, id) == nil {
			t.Errorf("no #%s", id)
		}
	}
	for _, s := range []string{"调防 Move up", "800 m · E", "~3 min", "2:00", "补芙蓉区覆盖空缺", "you stay available for dispatch"} {
		if !strings.Contains(html, s) {
			t.Errorf("%q missing", s)
		}
	}
	if disabled(byID(html, "mu-arrived")) {
		t.Error("#mu-arrived disabled")
	}
	for _, id := range []string{"ack", "decline", "arrived", "cleared"} {
		if !disabled(byID(html, id)) {
			t.Errorf("#%s enabled during a move-up", id)
		}
	}
	busy := moveUp()
	busy.busy = true
	if !disabled(byID(render(t, busy), "mu-arrived")) {
		t.Error("#mu-arrived enabled while an action is on its way")
	}
	zh := moveUp()
	zh.lang = ZH
	html = render(t, zh)
	for _, s := range []string{"调防", "800 米 · 东", "约 3 分钟", "已到位", "下达至今", "途中仍可接受派警"} {
		if !strings.Contains(html, s) {
			t.Errorf("%q missing", s)
		}
	}
	// A dispatch wins: the assignment's card, not the move-up's.
	both := moveUp()
	both.st.Assignment = fixture(StateDispatched).st.Assignment
	html = render(t, both)
	if byID(html, "moveup") != nil || byID(html, "card")["data-incident"] != "inc-1" {
		t.Error("the move-up card shown over an assignment")
	}
}
