package ui

import (
	"strconv"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// IncidentsPanel is the queue of open incidents (priority, then age), the
// new-incident form (#incident-form) and the selected incident: its
// recommendations with a Dispatch button each, its assignments, figures and
// timeline.
type IncidentsPanel struct {
	app.Compo
	Ctl *Controller
	Rev int64 // changes when the console may have changed
}

// Render draws the panel.
func (p *IncidentsPanel) Render() app.UI {
	c := p.Ctl.C
	lang := c.Lang
	now := time.Now()
	hubNow := c.Store.HubNow(now)
	queue := Queue(c.Store.Incidents)
	newCls := "primary"
	if c.Creating {
		newCls += " active"
	}
	return app.Section().ID("incidents").Class("panel", "incidents").Body(
		app.Header().Class("panel-head").Body(
			app.H2().Text(T(lang, "inc.title")),
			app.Span().Class("count").Text(strconv.Itoa(len(queue))),
			app.Button().ID("new-incident").Class(newCls).Text(T(lang, "inc.new")).
				OnClick(func(ctx app.Context, e app.Event) { c.StartCreating() }),
		),
		app.If(c.Form.Open, func() app.UI { return p.form(lang) }),
		app.If(len(queue) == 0, func() app.UI {
			return app.P().Class("empty").Text(T(lang, "inc.empty"))
		}).Else(func() app.UI {
			return app.Ul().ID("queue").Class("queue").Body(
				app.Range(queue).Slice(func(i int) app.UI { return p.row(queue[i], lang, hubNow) }),
			)
		}),
		app.If(c.Selected() != nil, func() app.UI { return p.detail(c.Selected(), lang, hubNow) }),
	)
}

func (p *IncidentsPanel) row(inc *Incident, lang Lang, hubNow int64) app.UI {
	cls := []string{"incident", "p" + strconv.Itoa(inc.Priority)}
	if inc.Uncovered {
		cls = append(cls, "uncovered")
	}
	if inc.ID == p.Ctl.C.Scene.SelInc {
		cls = append(cls, "selected")
	}
	id := inc.ID
	return app.Li().Class(cls...).DataSet("id", inc.ID).DataSet("priority", inc.Priority).
		DataSet("status", inc.Status).DataSet("uncovered", inc.Uncovered).
		OnClick(func(ctx app.Context, e app.Event) { p.Ctl.SelectIncident(id) }).Body(
		app.Span().Class("badge", "p"+strconv.Itoa(inc.Priority)).Text(Tf(lang, "inc.p", inc.Priority)),
		app.Span().Class("kind").Text(KindName(lang, inc.Kind)),
		app.If(inc.Uncovered, func() app.UI {
			return app.Span().Class("flag", "uncovered").Text(T(lang, "ev.uncovered"))
		}),
		app.Span().Class("status").Text(lookup(lang, "inc.status.", inc.Status)),
		app.Span().Class("age").Text(Tf(lang, "inc.age", FormatAge(lang, time.Duration(hubNow-inc.Created)*time.Millisecond))),
		app.If(ActiveAssignments(inc) > 0, func() app.UI {
			return app.Span().Class("assigned").Text(Tf(lang, "inc.assigned", ActiveAssignments(inc)))
		}),
	)
}

func (p *IncidentsPanel) form(lang Lang) app.UI {
	c := p.Ctl.C
	f := c.Form
	return app.Form().ID("incident-form").Class("card", "form").OnSubmit(func(ctx app.Context, e app.Event) {
		e.PreventDefault()
		p.Ctl.CreateIncident()
	}).Body(
		app.Div().Class("at").Text(Tf(lang, "inc.at", f.Lat, f.Lon)),
		app.Label().For("incident-kind").Text(T(lang, "inc.kind")),
		app.Select().ID("incident-kind").OnChange(func(ctx app.Context, e app.Event) {
			c.Form.Kind = ctx.JSSrc().Get("value").String()
		}).Body(
			app.Range(Kinds).Slice(func(i int) app.UI {
				k := Kinds[i]
				return app.Option().Value(k).Selected(k == f.Kind).Text(KindName(lang, k))
			}),
		),
		app.Label().For("incident-priority").Text(T(lang, "inc.priority")),
		app.Select().ID("incident-priority").OnChange(func(ctx app.Context, e app.Event) {
			if n, err := strconv.Atoi(ctx.JSSrc().Get("value").String()); err == nil {
				c.Form.Priority = n
			}
		}).Body(
			app.Range([]int{1, 2, 3}).Slice(func(i int) app.UI {
				return app.Option().Value(i + 1).Selected(i+1 == f.Priority).Text(Tf(lang, "inc.p", i+1))
			}),
		),
		app.Label().For("incident-summary").Text(T(lang, "inc.summary")),
		app.Input().ID("incident-summary").Type("text").MaxLength(1024).Value(f.Summary).
			OnInput(func(ctx app.Context, e app.Event) { c.Form.Summary = ctx.JSSrc().Get("value").String() }),
		app.Label().For("incident-needs").Text(T(lang, "inc.needs")),
		app.Input().ID("incident-needs").Type("text").Value(f.Needs).Placeholder("armed, medical").
			OnInput(func(ctx app.Context, e app.Event) { c.Form.Needs = ctx.JSSrc().Get("value").String() }),
		app.Div().Class("buttons").Body(
			app.Button().ID("incident-submit").Type("submit").Class("primary").Disabled(f.Busy).Text(T(lang, "inc.create")),
			app.Button().ID("incident-cancel").Type("button").Class("ghost").Text(T(lang, "inc.cancel")).
				OnClick(func(ctx app.Context, e app.Event) { c.CancelForm() }),
		),
	)
}

func (p *IncidentsPanel) detail(inc *Incident, lang Lang, hubNow int64) app.UI {
	closed := inc.Status == IncClosed
	id := inc.ID
	cls := []string{"card", "detail"}
	if inc.Uncovered && !closed {
		cls = append(cls, "uncovered")
	}
	return app.Div().ID("incident-detail").Class(cls...).DataSet("id", inc.ID).DataSet("status", inc.Status).Body(
		app.H3().Body(
			app.Span().Class("badge", "p"+strconv.Itoa(inc.Priority)).Text(Tf(lang, "inc.p", inc.Priority)),
			app.Text(" "+KindName(lang, inc.Kind)+" "),
			app.Small().Class("id").Text(inc.ID),
		),
		app.Div().Class("meta").Text(lookup(lang, "inc.status.", inc.Status)+" · "+FormatClock(inc.Created, nil)+
			" · "+Tf(lang, "inc.age", FormatAge(lang, time.Duration(hubNow-inc.Created)*time.Millisecond))),
		app.If(inc.Uncovered && !closed, func() app.UI {
			return app.Div().Class("alert", "uncovered").Text(T(lang, "inc.uncovered"))
		}),
		app.If(inc.Summary != "", func() app.UI { return app.P().Class("summary").Text(inc.Summary) }),
		app.Div().Class("buttons").Body(
			app.Button().ID("incident-close").Class("danger").Disabled(closed).Text(T(lang, "inc.close")).
				OnClick(func(ctx app.Context, e app.Event) { p.Ctl.CloseIncident(id) }),
			app.Button().ID("incident-deselect").Class("ghost").Text(T(lang, "inc.deselect")).
				OnClick(func(ctx app.Context, e app.Event) { p.Ctl.SelectIncident("") }),
		),
		figures(inc, lang),
		app.H4().Text(T(lang, "inc.assignments")),
		app.If(len(inc.Assignments) == 0, func() app.UI {
			return app.P().Class("empty").Text(T(lang, "inc.assign.none"))
		}).Else(func() app.UI {
			return app.Ul().ID("assignments").Class("assignments").Body(
				app.Range(inc.Assignments).Slice(func(i int) app.UI { return assignment(inc.Assignments[i], lang) }),
			)
		}),
		app.If(inc.Offer != nil && !closed, func() app.UI { return p.offer(inc, lang) }),
		app.If(!closed, func() app.UI { return p.recommendations(inc, lang) }),
		app.H4().Text(T(lang, "inc.timeline")),
		app.Ol().ID("timeline").Class("timeline").Body(
			app.Range(inc.Timeline).Slice(func(i int) app.UI { return entry(inc.Timeline[i], lang) }),
		),
	)
}

func figures(inc *Incident, lang Lang) app.UI {
	f := inc.Figures
	fig := func(key string, v *float64) app.UI {
		val := T(lang, "bar.none")
		if v != nil {
			val = FormatSeconds(lang, *v)
		}
		return app.Div().Class("fig").DataSet("figure", key).Body(
			app.Dt().Text(T(lang, "inc.fig."+key)),
			app.Dd().Text(val),
		)
	}
	return app.Div().Class("figures-wrap").Body(
		app.H4().Text(T(lang, "inc.figures")),
		app.Dl().ID("figures").Class("figures").Body(
			fig("dispatch", f.ToDispatchS), fig("ack", f.ToAckS), fig("arrival", f.ToArrivalS), fig("close", f.ToCloseS),
		),
	)
}

func assignment(a Assignment, lang Lang) app.UI {
	cls := []string{"assignment", "s-" + a.State}
	if !activeAssignment(a.State) {
		cls = append(cls, "ended")
	}
	return app.Li().Class(cls...).DataSet("unit", a.Unit).DataSet("state", a.State).Body(
		app.Span().Class("unit-id").Text(a.Unit),
		app.Span().Class("state").Text(lookup(lang, "asg.", a.State)),
		app.If(a.Tier > 0, func() app.UI { return app.Span().Class("tier").Text(lookup(lang, "tier.", strconv.Itoa(a.Tier))) }),
		app.Span().Class("by").Text(lookup(lang, "actor.", a.By)),
		app.Span().Class("at").Text(FormatClock(a.Dispatched, nil)),
	)
}

func entry(e Entry, lang Lang) app.UI {
	return app.Li().Class("entry").DataSet("type", e.Type).Body(
		app.Span().Class("at").Text(FormatClock(e.TS, nil)),
		app.Span().Class("type").Text(lookup(lang, "ev.", e.Type)),
		app.If(e.Unit != "", func() app.UI { return app.Span().Class("unit-id").Text(e.Unit) }),
		app.Span().Class("actor").Text(lookup(lang, "actor.", e.Actor)),
		app.If(e.Detail != "", func() app.UI { return app.Span().Class("detail").Text(e.Detail) }),
	)
}

func (p *IncidentsPanel) offer(inc *Incident, lang Lang) app.UI {
	o := inc.Offer
	id, unit := inc.ID, o.Unit
	return app.Div().Class("offer").DataSet("unit", o.Unit).Body(
		app.Span().Text(Tf(lang, "inc.offer", o.Unit, FormatSeconds(lang, o.ETAS), FormatSeconds(lang, o.BestETAS))),
		app.Button().Class("dispatch").DataSet("unit", o.Unit).Text(T(lang, "inc.dispatch")).
			OnClick(func(ctx app.Context, e app.Event) { p.Ctl.Assign(id, unit) }),
	)
}

// recommendations is the ranked list from the last detail fetch: unit,
// type, ETA, circle, distance, fix age (stale flagged), Dispatch.
func (p *IncidentsPanel) recommendations(inc *Incident, lang Lang) app.UI {
	c := p.Ctl.C
	head := app.H4().Text(T(lang, "inc.recs"))
	if c.Detail == nil || c.Detail.ID != inc.ID {
		return app.Div().Class("recs").Body(head, app.P().Class("empty").Text(T(lang, "inc.recs.loading")))
	}
	recs := c.Detail.Recommendations
	if len(recs) == 0 {
		return app.Div().Class("recs").Body(head, app.P().Class("empty").Text(T(lang, "inc.recs.none")))
	}
	assigned := map[string]bool{}
	for _, a := range inc.Assignments {
		if activeAssignment(a.State) {
			assigned[a.Unit] = true
		}
	}
	id := inc.ID
	return app.Div().Class("recs").Body(
		head,
		app.Table().ID("recommendations").Body(
			app.THead().Body(app.Tr().Body(
				app.Th().Text("#"),
				app.Th().Text(T(lang, "inc.rec.unit")),
				app.Th().Text(T(lang, "inc.rec.eta")),
				app.Th().Text(T(lang, "inc.rec.tier")),
				app.Th().Text(T(lang, "inc.rec.dist")),
				app.Th().Text(T(lang, "inc.rec.fix")),
				app.Th(),
			)),
			app.TBody().Body(app.Range(recs).Slice(func(i int) app.UI {
				r := recs[i]
				unit := r.Unit
				cls := []string{"recommendation", "tier" + strconv.Itoa(r.Tier)}
				if r.Stale {
					cls = append(cls, "stale")
				}
				fix := FormatSeconds(lang, r.FixAgeS)
				if r.Stale {
					fix += " · " + T(lang, "inc.rec.stale")
				}
				return app.Tr().Class(cls...).DataSet("unit", r.Unit).DataSet("stale", r.Stale).Body(
					app.Td().Text(strconv.Itoa(i+1)),
					app.Td().Class("unit-id").Body(
						app.Span().Class("glyph", string(r.Type)).Text(typeGlyph(r.Type)),
						app.Text(" "+r.Unit),
					),
					app.Td().Class("eta").Text(FormatSeconds(lang, r.ETAS)),
					app.Td().Class("tier").Text(lookup(lang, "tier.", strconv.Itoa(r.Tier))),
					app.Td().Class("dist").Text(FormatDistance(lang, r.DistanceM)),
					app.Td().Class("fix").Text(fix),
					app.Td().Body(app.Button().Class("dispatch").DataSet("unit", r.Unit).
						Disabled(assigned[r.Unit]).Text(T(lang, "inc.dispatch")).
						OnClick(func(ctx app.Context, e app.Event) { p.Ctl.Assign(id, unit) })),
				)
			})),
		),
	)
}
