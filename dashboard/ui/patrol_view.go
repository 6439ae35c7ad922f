package ui

import (
	"strconv"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// The patrol plans on the page: the layer's button under the map's
// controls (#patrol-toggle) and, while the layer shows, its box over the
// map (#patrol-box): the states' colours, then for each plan its shift now
// and each unit's progress in it, the worst first (a click on the unit
// centres the map on it; ▸ shows its tasks' figures).

// patrolToggle is the layer's button (every role: it is read only).
func (m *MapView) patrolToggle(pv PatrolView) app.UI {
	title := T(m.Lang, "patrol.toggle")
	cls := "patrols"
	if pv.On {
		cls += " on"
	}
	return app.Button().ID("patrol-toggle").Class(cls).DataSet("on", pv.On).Title(title).
		Aria("label", title).Aria("pressed", pv.On).Text("◎").OnClick(m.onPatrols)
}

func (m *MapView) onPatrols(ctx app.Context, e app.Event) { m.Ctl.TogglePatrols() }

// mapBoxes are the layers' boxes over the map's top left, one above the
// other (none while the sighting form has the map).
func (m *MapView) mapBoxes(form bool) app.UI {
	cover, patrols := m.Cover.On && !form, m.Patrol.On && !form
	if !cover && !patrols {
		return nil
	}
	var cb, pb app.UI
	if cover {
		cb = m.coverageBox(m.Cover)
	}
	if patrols {
		pb = m.patrolBox(m.Patrol)
	}
	return app.Div().Class("map-boxes").Body(cb, pb)
}

// patrolBox is the layer's box.
func (m *MapView) patrolBox(pv PatrolView) app.UI {
	lang := m.Lang
	legend := make([]app.UI, numPatrolStates)
	for i := range legend {
		k := numPatrolStates - 1 - i // met first
		legend[i] = app.Span().Class("sw").Style("--c", Palette[patrolColours[k]]).Text(T(lang, "patrol.state."+strconv.Itoa(k)))
	}
	var state app.UI
	switch {
	case pv.NA:
		state = para("patrol-na", "muted", T(lang, "patrol.na"))
	case pv.Err != "":
		state = para("patrol-error", "error", Tf(lang, "err.api", pv.Err))
	case pv.Busy && len(pv.Plans) == 0:
		state = para("patrol-state", "muted", T(lang, "mu.loading"))
	case len(pv.Plans) == 0:
		state = para("patrol-none", "empty", T(lang, "patrol.none"))
	}
	plans := pv.Plans
	return app.Div().ID("patrol-box").Class("card", "patrol-box").DataSet("busy", pv.Busy).Body(
		para("", "title", T(lang, "patrol.title")),
		app.Div().Class("cover-legend").Body(legend...),
		state,
		app.Range(plans).Slice(func(i int) app.UI { return m.patrolPlan(plans[i]) }),
	)
}

// patrolPlan is a plan's part of the box: its name, shift and tally, and
// its units.
func (m *MapView) patrolPlan(pv PlanView) app.UI {
	lang := m.Lang
	units := pv.Units
	return app.Div().Class("patrol-plan").DataSet("plan", pv.ID).Body(
		para("", "head", pv.Name),
		maybe(pv.Shift != "", para("", "patrol-shift", pv.Shift+" · "+pv.Met)),
		maybe(pv.Err != "", para("", "muted", pv.Err)),
		maybe(pv.Err == "" && pv.Shift != "" && len(units) == 0, para("", "empty", T(lang, "patrol.nounits"))),
		app.Ol().Class("patrol-units").Body(
			app.Range(units).Slice(func(i int) app.UI { return m.patrolRow(units[i]) }),
		),
	)
}

// patrolRow is a unit's progress: ▸ (its tasks), its name (the map
// centres on it), met of total; opened, its tasks' figures.
func (m *MapView) patrolRow(r *PatrolUnitRow) app.UI {
	lang, plan, unit := m.Lang, r.Plan, r.Unit
	open := "▸"
	if r.Open {
		open = "▾"
	}
	progress, cls := strconv.Itoa(r.Met)+"/"+strconv.Itoa(r.Total), "patrol-unit"
	if r.Met >= r.Total {
		progress, cls = progress+" ✓", "patrol-unit done"
	}
	var tasks app.UI
	if r.Open {
		items := make([]app.UI, len(r.Tasks))
		for j, t := range r.Tasks {
			mark := ""
			if t.Met {
				mark = " ✓"
			}
			items[j] = app.Li().Class("patrol-task").DataSet("task", t.Task).DataSet("met", t.Met).Body(
				textSpan("patrol-task-name", t.Name+" ("+t.Kind+")"), app.Text(" "+t.Figure+mark))
		}
		tasks = app.Ul().Class("patrol-tasks").Body(items...)
	}
	return app.Li().Class(cls).DataSet("plan", plan).DataSet("unit", unit).DataSet("met", r.Met).
		DataSet("total", r.Total).DataSet("open", r.Open).Body(
		app.Button().Class("ghost", "patrol-expand").Title(T(lang, "patrol.tasks")).Text(open).
			OnClick(func(ctx app.Context, e app.Event) { m.Ctl.C.TogglePatrolUnit(plan, unit) }, app.EventScope(plan, unit)),
		app.Button().Class("ghost", "patrol-go").Title(T(lang, "patrol.go")).Text(r.Glyph+" "+r.Name).
			OnClick(func(ctx app.Context, e app.Event) { m.Ctl.PatrolUnit(unit) }, app.EventScope(unit)),
		textSpan("patrol-progress", progress),
		maybe(r.NoFixes, textSpan("patrol-nofixes", T(lang, "patrol.nofixes"))),
		tasks,
	)
}
