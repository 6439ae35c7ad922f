package ui

import "github.com/maxence-charriere/go-app/v10/pkg/app"

// The console's screens. The live one is the dispatcher's map and queues;
// the others look at the past. Whichever is shown, the stream keeps the
// live store current and the alarm banner stays above every view: a new
// priority-1 incident must reach a dispatcher who is reading last week's
// figures.
const (
	ScreenLive    = ""        // incidents, map, units
	ScreenArchive = "archive" // search the stored incidents (archive.go)
	ScreenKPI     = "kpi"     // response figures and charts (kpi_view.go)
	ScreenReport  = "report"  // the printable daily report (report.go)
	ScreenReplay  = "replay"  // an incident replayed on the map (replay.go)
	ScreenUnitDay = "unitday" // a unit's day on the map (unitday.go)
	ScreenEnrol   = "units"   // enrol and revoke units (enrol.go)
)

// Screens are the views the top bar switches between; a replay and a
// unit's day open from an incident or a unit.
var Screens = []string{ScreenLive, ScreenArchive, ScreenKPI, ScreenReport, ScreenEnrol}

// screenKey is a view's name in the message tables.
func screenKey(v string) string {
	if v == ScreenLive {
		return "view.live"
	}
	return "view." + v
}

// ShowScreen switches the console to a view.
func (c *Console) ShowScreen(v string) {
	c.Screen = v
	c.sceneRev.Add(1)
}

// screenBar is the top bar's switch between the page views.
func (d *Dashboard) screenBar(lang Lang) app.UI {
	cur := d.ctl.C.Screen
	return app.Nav().ID("views").Class("views").Body(
		app.Range(Screens).Slice(func(i int) app.UI {
			v := Screens[i]
			cls := "view-tab"
			if cur == v {
				cls += " active"
			}
			return app.Button().Class(cls).DataSet("view", v).Text(T(lang, screenKey(v))).
				OnClick(func(ctx app.Context, e app.Event) { d.ctl.C.ShowScreen(v) }, app.EventScope("view-"+v))
		}),
	)
}

// screenBody is the main area of a view other than the live one.
func (d *Dashboard) screenBody() app.UI {
	switch d.ctl.C.Screen {
	case ScreenArchive:
		return &ArchiveView{Ctl: d.ctl, Lang: d.ctl.C.Lang}
	case ScreenKPI:
		return &KPIView{Ctl: d.ctl, Lang: d.ctl.C.Lang}
	case ScreenReport:
		return &ReportView{Ctl: d.ctl, Lang: d.ctl.C.Lang}
	case ScreenReplay:
		return &ReplayView{Ctl: d.ctl}
	case ScreenUnitDay:
		return &UnitDayView{Ctl: d.ctl}
	case ScreenEnrol:
		return &EnrolView{Ctl: d.ctl, Lang: d.ctl.C.Lang}
	}
	return nil
}
