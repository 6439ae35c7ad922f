package ui

import (
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

// Alerts are what the dispatcher must not miss: a new priority-1 incident,
// and an incident that has just become uncovered. Each stands — a banner and
// a sound — until a dispatcher opens the incident (or it closes). They are
// this browser's: another dispatcher's screen alerts on its own.

// Alert reasons.
const (
	AlertP1        = "p1"
	AlertUncovered = "uncovered"
)

// Alert is one standing alert.
type Alert struct {
	Incident string
	Reason   string    // AlertP1 or AlertUncovered
	At       time.Time // local clock when raised
}

// noteAlerts raises alerts for what frame f brings, before it is applied:
// incidents it is the first to show at priority 1, and incidents it shows
// uncovered that were not. The first snapshot of a session raises them for
// what is waiting: every open uncovered incident, and priority 1 nobody has
// been sent to.
func (c *Console) noteAlerts(f *Frame, now time.Time) {
	c.noteSOS(f, now)
	first := !c.Store.Synced
	if c.alertKnown == nil {
		c.alertKnown = map[string]bool{}
	}
	for i := range f.Incidents {
		inc := &f.Incidents[i]
		old := c.Store.Incident(inc.ID)
		known := c.alertKnown[inc.ID] || old != nil
		c.alertKnown[inc.ID] = true
		if inc.Status == api.IncidentClosed {
			c.dropAlerts(inc.ID)
			continue
		}
		switch {
		case inc.SOS != "":
			// An officer's SOS has its own alarm (sos.go), not this one too.
		case first && inc.Priority == 1 && inc.Status == api.IncidentOpen:
			c.raise(inc.ID, AlertP1, now)
		case !first && !known && inc.Priority == 1:
			c.raise(inc.ID, AlertP1, now)
		}
		if inc.Uncovered && (old == nil || !old.Uncovered || old.Status == api.IncidentClosed) {
			c.raise(inc.ID, AlertUncovered, now)
		}
		if !inc.Uncovered {
			c.dropAlert(inc.ID, AlertUncovered)
		}
	}
	for _, id := range f.RemovedIncidents {
		c.dropAlerts(id)
	}
}

func (c *Console) raise(id, reason string, now time.Time) {
	if id == c.Scene.SelInc {
		return // on screen already: opened
	}
	for _, a := range c.Alerts {
		if a.Incident == id && a.Reason == reason {
			return
		}
	}
	c.Alerts = append(c.Alerts, Alert{Incident: id, Reason: reason, At: now})
}

// Seen clears the alerts of an incident a dispatcher has opened.
func (c *Console) Seen(id string) {
	if id != "" {
		c.dropAlerts(id)
	}
}

func (c *Console) dropAlerts(id string) { c.dropAlert(id, "") }

// dropAlert removes an incident's alert for reason ("" every reason).
func (c *Console) dropAlert(id, reason string) {
	out := c.Alerts[:0]
	for _, a := range c.Alerts {
		if a.Incident != id || (reason != "" && a.Reason != reason) {
			out = append(out, a)
		}
	}
	clear(c.Alerts[len(out):])
	c.Alerts = out
}

// Alarming reports whether an alert or an SOS stands (the sound keeps going).
func (c *Console) Alarming() bool { return len(c.Alerts) > 0 || len(c.SOS) > 0 }

// IncidentAlerts are an incident's standing alerts together.
type IncidentAlerts struct {
	Incident string
	Reasons  []string // in the order raised
}

// AlertsByIncident groups the alerts by incident, the most recently alerted
// incident first.
func AlertsByIncident(alerts []Alert) []IncidentAlerts {
	var out []IncidentAlerts
	at := map[string]int{}
	for i := len(alerts) - 1; i >= 0; i-- {
		a := alerts[i]
		k, ok := at[a.Incident]
		if !ok {
			k = len(out)
			at[a.Incident] = k
			out = append(out, IncidentAlerts{Incident: a.Incident})
		}
		out[k].Reasons = append([]string{a.Reason}, out[k].Reasons...)
	}
	return out
}

// AlertBanner is #alerts: one button per incident with standing alerts,
// the newest first; opening the incident clears them.
type AlertBanner struct {
	app.Compo
	Ctl *Controller
	Rev int64
}

// Render draws the banner.
func (b *AlertBanner) Render() app.UI {
	c := b.Ctl.C
	lang := c.Lang
	items := AlertsByIncident(c.Alerts)
	return app.Div().ID("alerts").Class("alerts").Attr("role", "alert").DataSet("count", len(items)).Body(
		app.Span().Class("count").Text(Tf(lang, "alert.count", len(items))),
		app.Range(items).Slice(func(i int) app.UI {
			a := items[i]
			name := a.Incident
			if inc := c.Store.Incident(a.Incident); inc != nil {
				name = IncidentName(lang, inc)
			}
			var why []string
			for _, r := range a.Reasons {
				why = append(why, T(lang, "alert."+r))
			}
			id := a.Incident
			return app.Button().Class(append([]string{"alert-item"}, a.Reasons...)...).DataSet("id", id).
				DataSet("reason", strings.Join(a.Reasons, " ")).
				Text(strings.Join(why, T(lang, "list.sep"))+": "+name).
				OnClick(func(ctx app.Context, e app.Event) {
					b.Ctl.OpenIncident(id)
					b.Ctl.C.Tab = TabIncidents
				}, app.EventScope(id))
		}),
	)
}
