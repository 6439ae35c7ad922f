package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// sosIncident is an open officer_help incident of officer unit at its
// seq-th press.
func sosIncident(id, unit string, seq uint64, lat float64, now int64) Incident {
	inc := incidentAt(id, 1, now)
	inc.Kind, inc.SOS, inc.SOSSeq, inc.Lat = api.KindOfficerHelp, unit, seq, lat
	inc.Timeline = []Entry{{TS: now, Type: api.EntryCreated, Actor: unit, Reason: api.ReasonReported,
		Params: &api.Params{Kind: api.KindOfficerHelp, Priority: 1}}}
	return inc
}

// The SOS alarm's rule, step by step: raised once per press of the
// officer's SOS, kept when the incident is opened, a reconnection or a
// re-render, cleared only by Acknowledge (or the close), raised again by a
// new press but not by the officer's moves.
func TestSOSAlarm(t *testing.T) {
	now := time.Now().UnixMilli()
	c := NewConsole(EN)
	var seq uint64
	var conn uint64 = 1
	frame := func(typ string, incs ...Incident) func() {
		return func() {
			seq++
			if typ == api.FrameSnapshot {
				conn++ // a reconnection's snapshot
			}
			c.ApplyFrames([]*Frame{{Frame: api.Frame{Type: typ, Seq: seq, TS: now, Incidents: incs}, conn: conn, received: now}}, Link{}, false)
		}
	}
	moved := func(inc Incident) Incident {
		inc.Lat += 0.001
		inc.Timeline = append(inc.Timeline, Entry{TS: now, Type: api.EntrySighting, Actor: inc.SOS, Reason: api.ReasonSighted,
			Params: &api.Params{Source: "sos", Lat: fp(inc.Lat), Lon: fp(inc.Lon)}})
		return inc
	}
	closed := func(inc Incident) Incident { inc.Status = api.IncidentClosed; return inc }
	a1 := sosIncident("sos-1", "car-9", 3, 28.2, now)
	a1again := sosIncident("sos-1", "car-9", 4, 28.2, now)
	b := sosIncident("sos-2", "moto-7", 1, 28.21, now)
	steps := []struct {
		name string
		do   func()
		want string // the standing SOS alarms, oldest first
	}{
		{"the first snapshot raises an open SOS", frame(api.FrameSnapshot, a1, incidentAt("p1", 1, now)), "sos-1:3"},
		{"seen again unchanged: raised once", frame(api.FrameDelta, a1), "sos-1:3"},
		{"opened: it stays", func() { c.SelectIncident("sos-1") }, "sos-1:3"},
		{"the officer's position moves it: nothing new", frame(api.FrameDelta, moved(a1)), "sos-1:3"},
		{"muted: still standing", func() { c.Mute = true }, "sos-1:3"},
		{"acknowledged", func() { c.AckSOS("sos-1") }, ""},
		{"moved again after the acknowledgement: no alarm", frame(api.FrameDelta, moved(moved(a1))), ""},
		{"a reconnection's snapshot: no alarm", frame(api.FrameSnapshot, moved(a1)), ""},
		{"the officer presses SOS again: raised again", frame(api.FrameDelta, moved(a1again)), "sos-1:4"},
		{"a second officer", frame(api.FrameDelta, b), "sos-1:4 sos-2:1"},
		{"a reconnection keeps what stands", frame(api.FrameSnapshot, a1again, b), "sos-1:4 sos-2:1"},
		{"one closed while away: gone with the snapshot", frame(api.FrameSnapshot, a1again), "sos-1:4"},
		{"closed: gone", frame(api.FrameDelta, closed(a1again)), ""},
		{"reopened, no new press: no alarm", frame(api.FrameDelta, a1again), ""},
		{"signed in again: the open SOS alarms again", func() {
			c.SignedOut(Link{})
			frame(api.FrameSnapshot, a1again)()
		}, "sos-1:4"},
	}
	for _, s := range steps {
		s.do()
		var got []string
		for _, a := range c.SOS {
			got = append(got, fmt.Sprintf("%s:%d", a.Incident, a.Seq))
		}
		if g := strings.Join(got, " "); g != s.want {
			t.Fatalf("%s: SOS %q, want %q", s.name, g, s.want)
		}
		if c.SOSAlarming() != (s.want != "") || (s.want != "" && !c.Alarming()) {
			t.Errorf("%s: SOSAlarming %v, Alarming %v", s.name, c.SOSAlarming(), c.Alarming())
		}
		for _, a := range c.Alerts {
			if strings.HasPrefix(a.Incident, "sos-") && a.Reason == AlertP1 {
				t.Errorf("%s: an SOS raised the ordinary P1 alert too", s.name)
			}
		}
	}
}

// The banner says who and where, in both languages; Open leaves it, a
// re-render keeps it, Acknowledge clears it.
func TestSOSBanner(t *testing.T) {
	for _, lang := range []Lang{EN, ZH} {
		t.Run(string(lang), func(t *testing.T) {
			now := time.Now().UnixMilli()
			ct := NewController(NewConsole(lang), "http://hub.invalid")
			ct.api = &API{Base: "http://hub.invalid"}
			officer := unitAt("car-9", protocol.TypeCar, protocol.StatusAvailable, 28.2, 112.98, now)
			officer.Callsign = "湘A-009"
			ct.C.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: []Unit{officer},
				Incidents: []Incident{sosIncident("sos-1", "car-9", 1, 28.2, now)}}, conn: 1, received: now}}, Link{}, false)

			html := app.HTMLString(&Dashboard{ctl: ct})
			es := parseElems(html)
			one(t, es, "div", map[string]string{"id": "sos", "data-count": "1"})
			one(t, es, "div", map[string]string{"class": "sos-item", "data-incident": "sos-1", "data-unit": "car-9", "data-callsign": "湘A-009", "data-seq": "1"})
			one(t, es, "button", map[string]string{"id": "sos-ack"})
			for _, want := range []string{T(lang, "sos.title"), "湘A-009 (car-9)", "28.20000, 112.98000", T(lang, "sos.ack")} {
				if !strings.Contains(html, want) {
					t.Errorf("the banner lacks %q", want)
				}
			}
			if len(find(es, "button", map[string]string{"class": "alert-item"})) != 0 {
				t.Error("the SOS is in the ordinary alerts too")
			}

			m := mount(t, func(rev int64) app.Composer { return &SOSBanner{Ctl: ct, Rev: rev} })
			m.nodes("button", "sos-open")[0].click(t)
			if ct.C.Scene.SelInc != "sos-1" {
				t.Errorf("Open selected %q", ct.C.Scene.SelInc)
			}
			m.rerender()
			acks := m.nodes("button", "sos-ack")
			if len(acks) != 1 || acks[0].attrs["id"] != "sos-ack" || len(ct.C.SOS) != 1 {
				t.Fatalf("after Open and a re-render: %d ack buttons, %d standing", len(acks), len(ct.C.SOS))
			}
			acks[0].click(t)
			m.rerender()
			if len(ct.C.SOS) != 0 || len(m.nodes("div", "sos-item")) != 0 {
				t.Errorf("acknowledged, yet %d standing, %d shown", len(ct.C.SOS), len(m.nodes("div", "sos-item")))
			}
		})
	}
}

// An SOS incident's timeline reads as what happened, in both languages: the
// officer created it, and the hub's sightings are the officer's position.
func TestSOSTimeline(t *testing.T) {
	name := func(id string) string { return map[string]string{"car-9": "湘A-009"}[id] }
	created := Entry{Type: api.EntryCreated, Actor: "car-9", Reason: api.ReasonReported, Params: &api.Params{Kind: api.KindOfficerHelp, Priority: 1}}
	sighted := Entry{Type: api.EntrySighting, Actor: "car-9", Reason: api.ReasonSighted, Params: &api.Params{Source: "sos", Lat: fp(28.2), Lon: fp(112.98)}}
	for _, c := range []struct {
		lang     Lang
		e        Entry
		want     string
		notWant  string
		actorWas string
	}{
		{EN, created, "officer needs help, P1", "officer_help", "湘A-009"},
		{ZH, created, "民警求助", "officer_help", "湘A-009"},
		{EN, sighted, "the officer calling for help is at 28.20000, 112.98000", "seen by", "湘A-009"},
		{ZH, sighted, "求助民警位于 28.20000, 112.98000", "sos", "湘A-009"},
	} {
		got := EntryText(c.lang, c.e, name, nil)
		if !strings.Contains(got, c.want) || strings.Contains(got, c.notWant) {
			t.Errorf("%s %s: %q, want %q without %q", c.lang, c.e.Type, got, c.want, c.notWant)
		}
		html := app.HTMLString(entry(c.e, c.lang, name, nil))
		if !strings.Contains(html, `<span class="actor">`+c.actorWas+`</span>`) {
			t.Errorf("%s %s: the actor is not the officer's callsign: %s", c.lang, c.e.Type, html)
		}
	}
	// A role still reads as the role.
	if html := app.HTMLString(entry(Entry{Type: api.EntryCreated, Actor: "dispatcher"}, ZH, name, nil)); !strings.Contains(html, "调度员") {
		t.Errorf("the dispatcher's entry: %s", html)
	}
}

// The names an SOS and a phone need exist in both languages.
func TestSOSMessages(t *testing.T) {
	keys := []string{"src.sos", "chase.src.sos", "why.sighted.sos", "unit.report", "unit.report.default"}
	for _, p := range []api.ReportProtocol{api.ReportKuaifan, api.ReportOwnTracks, api.ReportOsmAnd} {
		keys = append(keys, "unit.proto."+string(p))
	}
	for _, lang := range []Lang{EN, ZH} {
		for _, k := range keys {
			if _, ok := messages[lang][k]; !ok {
				t.Errorf("%s lacks %q", lang, k)
			}
		}
		for _, k := range api.Kinds {
			if _, ok := messages[lang]["kind."+k]; !ok {
				t.Errorf("%s: kind %q has no name", lang, k)
			}
		}
	}
	if KindName(ZH, api.KindOfficerHelp) != "民警求助" || KindName(EN, api.KindOfficerHelp) != "officer needs help" {
		t.Errorf("officer_help reads %q, %q", KindName(ZH, api.KindOfficerHelp), KindName(EN, api.KindOfficerHelp))
	}
}

// The units panel shows each unit's commanded interval and marks phones.
func TestUnitsPanelReporting(t *testing.T) {
	now := time.Now().UnixMilli()
	agent := unitAt("car-1", protocol.TypeCar, protocol.StatusAvailable, 28.2, 112.98, now)
	agent.ReportS = 5
	ot := unitAt("foot-21", protocol.TypeFoot, protocol.StatusAvailable, 28.2, 112.98, now)
	ot.Protocol, ot.ReportS = api.ReportOwnTracks, 60
	os := unitAt("os-22", protocol.TypeFoot, protocol.StatusAvailable, 28.2, 112.98, now)
	os.Protocol = api.ReportOsmAnd
	plain := unitAt("moto-2", protocol.TypeMotorcycle, protocol.StatusAvailable, 28.2, 112.98, now)
	for _, lang := range []Lang{EN, ZH} {
		ct := NewController(NewConsole(lang), "")
		ct.C.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: []Unit{agent, ot, os, plain}}, conn: 1, received: now}}, Link{}, false)
		ct.C.SelectUnit("foot-21", false)
		html := app.HTMLString(&UnitsPanel{Ctl: ct, Shown: ct.C.UnitsView(now)})
		es := parseElems(html)
		for _, c := range []struct {
			id, reportS, protocol string
			phone                 bool
		}{
			{"car-1", "5", "", false},
			{"foot-21", "60", "owntracks", true},
			{"os-22", "0", "osmand", true},
			{"moto-2", "0", "", false},
		} {
			one(t, es, "li", map[string]string{"data-id": c.id, "data-report-s": c.reportS, "data-protocol": c.protocol})
		}
		if n := len(find(es, "span", map[string]string{"class": "phone"})); n != 2 {
			t.Errorf("%s: %d phone badges, want 2", lang, n)
		}
		if n := len(find(es, "span", map[string]string{"class": "report"})); n != 2 {
			t.Errorf("%s: %d intervals shown, want 2 (the units the hub commanded)", lang, n)
		}
		for _, want := range []string{"↻ " + Interval(lang, 5), "↻ " + Interval(lang, 60),
			Tf(lang, "unit.report", Interval(lang, 60)) + " · " + T(lang, "unit.proto.owntracks")} {
			if !strings.Contains(html, want) {
				t.Errorf("%s: the panel lacks %q", lang, want)
			}
		}
	}
	if got := ReportText(EN, 0, ""); got != "reports at its own default rate" {
		t.Errorf("no interval: %q", got)
	}
	for sec, want := range map[float64]string{1: "1 s", 5: "5 s", 2.5: "2.5 s", 60: "1 min 00 s"} {
		if got := Interval(EN, sec); got != want {
			t.Errorf("Interval(%v) = %q, want %q", sec, got, want)
		}
	}
}
