package ui

import (
	"slices"
	"strconv"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

// An officer's SOS (an incident with Incident.SOS set, kind officer_help)
// is not one more priority-1 alert: an officer in trouble is the call a
// dispatcher must never lose in a busy queue. It raises its own banner
// (#sos, above the alerts) and its own, faster siren, and both stand until
// a dispatcher presses Acknowledge (#sos-ack). Opening the incident does not
// clear it, unlike an alert: a click on a busy queue is no proof that
// somebody took the officer's call in. Mute silences the siren, never the
// banner. Like the alerts, the acknowledgement is this browser's own: every
// other dispatcher's screen sounds until acknowledged there, and signing in
// again (a reload) raises every open SOS once more.
//
// What raises it again once acknowledged: a new press of the officer's SOS
// (the incident's sos_seq grows) — the officer is asking again, it may have
// got worse. The officer's position moving the incident (a sighting with
// source sos, same sos_seq) does not: the incident on screen follows the
// officer anyway, and a siren every few metres would teach the dispatcher
// to acknowledge without looking.

// SOSAlarm is one officer's call for help standing on this screen.
type SOSAlarm struct {
	Incident string
	Unit     string    // the officer
	Seq      uint64    // the incident's sos_seq when raised
	At       time.Time // local clock when raised (again)
}

// noteSOS raises and drops SOS alarms for what frame f brings, before it is
// applied. A reconnection's snapshot repeats what was seen (the same
// sos_seq) and raises nothing again; an SOS incident missing from a
// snapshot has closed meanwhile.
func (c *Console) noteSOS(f *Frame, now time.Time) {
	if c.sosSeen == nil {
		c.sosSeen = map[string]uint64{}
	}
	if f.Type == api.FrameSnapshot {
		in := make(map[string]bool, len(f.Incidents))
		for i := range f.Incidents {
			in[f.Incidents[i].ID] = true
		}
		c.SOS = slices.DeleteFunc(c.SOS, func(a SOSAlarm) bool { return !in[a.Incident] })
	}
	for i := range f.Incidents {
		inc := &f.Incidents[i]
		if inc.SOS == "" {
			continue
		}
		if inc.Status == api.IncidentClosed {
			c.AckSOS(inc.ID)
			continue
		}
		seq := max(inc.SOSSeq, 1) // an incident without one is one press
		if seq <= c.sosSeen[inc.ID] {
			continue // seen: a position update, a reconnection, a reopening
		}
		c.sosSeen[inc.ID] = seq
		c.SOS = slices.DeleteFunc(c.SOS, func(a SOSAlarm) bool { return a.Incident == inc.ID })
		c.SOS = append(c.SOS, SOSAlarm{Incident: inc.ID, Unit: inc.SOS, Seq: seq, At: now})
	}
	for _, id := range f.RemovedIncidents {
		c.AckSOS(id)
	}
}

// AckSOS clears an incident's SOS alarm: a dispatcher has taken the
// officer's call in (or it closed).
func (c *Console) AckSOS(id string) {
	c.SOS = slices.DeleteFunc(c.SOS, func(a SOSAlarm) bool { return a.Incident == id })
}

// SOSAlarming reports whether an SOS stands (the siren, not the beeps).
func (c *Console) SOSAlarming() bool { return len(c.SOS) > 0 }

// SOSView is one standing SOS as the banner shows it.
type SOSView struct {
	Incident, Unit, Callsign string
	Seq                      uint64
	Place                    string // district and coordinates of the incident (the officer's position)
	At                       string // when raised, local clock
}

// SOSViews are the standing SOS alarms, the newest first.
func (c *Console) SOSViews() []SOSView {
	out := make([]SOSView, 0, len(c.SOS))
	for i := len(c.SOS) - 1; i >= 0; i-- {
		a := c.SOS[i]
		v := SOSView{Incident: a.Incident, Unit: a.Unit, Seq: a.Seq, At: a.At.Format("15:04:05")}
		if u := c.Store.Units[a.Unit]; u != nil {
			v.Callsign = u.Callsign
		}
		if inc := c.Store.Incident(a.Incident); inc != nil {
			v.Place = strconv.FormatFloat(inc.Lat, 'f', 5, 64) + ", " + strconv.FormatFloat(inc.Lon, 'f', 5, 64)
			if d := districtAt(c.Store.Districts, inc.Lat, inc.Lon); d >= 0 {
				v.Place = c.Store.Districts[d].Name(c.Lang) + " · " + v.Place
			}
		}
		out = append(out, v)
	}
	return out
}

// SOSBanner is #sos: one row per officer calling for help, the newest
// first, each with Open (the incident; the alarm stays) and Acknowledge
// (.sos-ack; the newest one's is #sos-ack).
type SOSBanner struct {
	app.Compo
	Ctl *Controller
	Rev int64
}

// Render draws the banner.
func (b *SOSBanner) Render() app.UI {
	c := b.Ctl.C
	lang := c.Lang
	items := c.SOSViews()
	return app.Div().ID("sos").Class("sos-banner").Attr("role", "alert").DataSet("count", len(items)).Body(
		app.Range(items).Slice(func(i int) app.UI {
			v := items[i]
			who := v.Unit
			if v.Callsign != "" {
				who = v.Callsign + " (" + v.Unit + ")"
			}
			id := v.Incident
			ack := app.Button().Class("sos-ack").DataSet("incident", id).Text(T(lang, "sos.ack")).
				OnClick(func(ctx app.Context, e app.Event) { b.Ctl.C.AckSOS(id) }, app.EventScope(id))
			if i == 0 {
				ack = ack.ID("sos-ack")
			}
			return app.Div().Class("sos-item").DataSet("incident", id).DataSet("unit", v.Unit).
				DataSet("callsign", v.Callsign).DataSet("seq", v.Seq).Body(
				app.Strong().Class("sos-title").Text(T(lang, "sos.title")),
				app.Span().Class("sos-who").Text(who),
				maybe(v.Place != "", app.Span().Class("sos-where").Text(Tf(lang, "sos.where", v.Place))),
				app.Span().Class("sos-at").Text(Tf(lang, "sos.at", v.At)),
				app.Button().Class("sos-open").DataSet("incident", id).Text(T(lang, "sos.open")).
					OnClick(func(ctx app.Context, e app.Event) {
						b.Ctl.OpenIncident(id)
						b.Ctl.C.Tab = TabIncidents
					}, app.EventScope(id)),
				ack,
			)
		}),
	)
}
