package ui

import (
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

// IncidentsPanel is the queue of open incidents (priority, then age), the
// incidents closed today, the new-incident form (#incident-form) and the
// selected incident: its recommendations with a Dispatch button each, its
// assignments, figures and timeline.
//
// Every handler that acts on an incident or a unit is bound to it with
// app.EventScope: go-app reuses rows when a list re-renders and would
// otherwise keep the handler of whatever the row showed first
// (TestHandlersBindIdentity).
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
	closed := ClosedToday(c.Store, DayStart(now, c.Store.Skew))
	newCls := "primary"
	if c.Creating {
		newCls += " active"
	}
	return app.Section().ID("incidents").Class("panel", "incidents").Body(
		app.Header().Class("panel-head").Body(
			app.H2().Text(T(lang, "inc.title")),
			app.Span().Class("count").Text(strconv.Itoa(len(queue))),
			maybe(c.May(api.RoleCallTaker), app.Button().ID("new-incident").Class(newCls).Title(T(lang, "key.new")).Text(T(lang, "inc.new")).
				OnClick(p.onNew)),
		),
		app.If(c.Form.Open && c.May(api.RoleCallTaker), func() app.UI { return p.form(lang) }),
		app.If(len(queue) == 0, func() app.UI {
			return app.P().Class("empty").Text(T(lang, "inc.empty"))
		}).Else(func() app.UI {
			return app.Ul().ID("queue").Class("queue").Body(
				app.Range(queue).Slice(func(i int) app.UI { return p.row(queue[i], lang, hubNow) }),
			)
		}),
		app.If(len(closed) > 0, func() app.UI {
			return app.Details().ID("closed-today").Class("closed-today").Body(
				app.Summary().Text(Tf(lang, "inc.closed.today", len(closed))),
				app.Ul().Class("queue", "closed").Body(
					app.Range(closed).Slice(func(i int) app.UI { return p.row(closed[i], lang, hubNow) }),
				),
			)
		}),
		app.If(c.Selected() != nil, func() app.UI { return p.detail(c.Selected(), lang, hubNow) }),
	)
}

func (p *IncidentsPanel) onNew(ctx app.Context, e app.Event) { p.Ctl.C.StartCreating() }

// row is one incident of the queue (or of today's closed ones).
func (p *IncidentsPanel) row(inc *Incident, lang Lang, hubNow int64) app.UI {
	c := p.Ctl.C
	cls := []string{"incident", "p" + strconv.Itoa(inc.Priority)}
	if inc.Uncovered && inc.Status != api.IncidentClosed {
		cls = append(cls, "uncovered")
	}
	if inc.ID == c.Scene.SelInc {
		cls = append(cls, "selected")
	}
	if inc.ID == c.Cursor {
		cls = append(cls, "cursor")
	}
	id := inc.ID
	return app.Li().Class(cls...).DataSet("id", inc.ID).DataSet("priority", inc.Priority).
		DataSet("status", inc.Status).DataSet("uncovered", inc.Uncovered).
		OnClick(func(ctx app.Context, e app.Event) { p.Ctl.OpenIncident(id) }, app.EventScope(id)).Body(
		app.Span().Class("badge", "p"+strconv.Itoa(inc.Priority)).Text(Tf(lang, "inc.p", inc.Priority)),
		app.Span().Class("kind").Text(KindName(lang, inc.Kind)),
		app.If(inc.Uncovered && inc.Status != api.IncidentClosed, func() app.UI {
			return app.Span().Class("flag", "uncovered").Text(T(lang, "ev.uncovered"))
		}),
		app.If(inc.Offer != nil && inc.Status != api.IncidentClosed, func() app.UI {
			return app.Span().Class("flag", "offer").Text(T(lang, "offer.flag"))
		}),
		app.Span().Class("status").Text(lookup(lang, "inc.status.", inc.Status)),
		app.Span().Class("age").Text(Tf(lang, "inc.age", FormatAge(lang, time.Duration(hubNow-inc.Created)*time.Millisecond))),
		app.If(ActiveAssignments(inc) > 0, func() app.UI {
			return app.Span().Class("assigned").Text(Tf(lang, "inc.assigned", ActiveAssignments(inc)))
		}),
		app.Small().Class("id").Text(inc.ID),
	)
}

func (p *IncidentsPanel) form(lang Lang) app.UI {
	f := p.Ctl.C.Form
	return app.Form().ID("incident-form").Class("card", "form").OnSubmit(p.onCreate).Body(
		app.Div().Class("at").Text(Tf(lang, "inc.at", f.Lat, f.Lon)),
		app.Label().For("incident-kind").Text(T(lang, "inc.kind")),
		app.Select().ID("incident-kind").OnChange(p.onKind).Body(
			app.Range(Kinds).Slice(func(i int) app.UI {
				k := Kinds[i]
				return app.Option().Value(k).Selected(k == f.Kind).Text(KindName(lang, k))
			}),
		),
		app.Label().For("incident-priority").Text(T(lang, "inc.priority")),
		app.Select().ID("incident-priority").OnChange(p.onPriority).Body(
			app.Range([]int{1, 2, 3}).Slice(func(i int) app.UI {
				return app.Option().Value(i + 1).Selected(i+1 == f.Priority).Text(Tf(lang, "inc.p", i+1))
			}),
		),
		app.Label().For("incident-summary").Text(T(lang, "inc.summary")),
		app.Input().ID("incident-summary").Type("text").MaxLength(1024).Value(f.Summary).OnInput(p.onSummary),
		app.Label().For("incident-needs").Text(T(lang, "inc.needs")),
		app.Input().ID("incident-needs").Type("text").Value(f.Needs).Placeholder("armed, medical").OnInput(p.onNeeds),
		app.Div().Class("buttons").Body(
			app.Button().ID("incident-submit").Type("submit").Class("primary").Disabled(f.Busy).Text(T(lang, "inc.create")),
			app.Button().ID("incident-cancel").Type("button").Class("ghost").Text(T(lang, "inc.cancel")).
				OnClick(p.onCancelForm),
		),
	)
}

func (p *IncidentsPanel) onCreate(ctx app.Context, e app.Event) {
	e.PreventDefault()
	p.Ctl.CreateIncident()
}

func (p *IncidentsPanel) onKind(ctx app.Context, e app.Event) {
	p.Ctl.C.Form.Kind = ctx.JSSrc().Get("value").String()
}

func (p *IncidentsPanel) onPriority(ctx app.Context, e app.Event) {
	if n, err := strconv.Atoi(ctx.JSSrc().Get("value").String()); err == nil {
		p.Ctl.C.Form.Priority = n
	}
}

func (p *IncidentsPanel) onSummary(ctx app.Context, e app.Event) {
	p.Ctl.C.Form.Summary = ctx.JSSrc().Get("value").String()
}

func (p *IncidentsPanel) onNeeds(ctx app.Context, e app.Event) {
	p.Ctl.C.Form.Needs = ctx.JSSrc().Get("value").String()
}

func (p *IncidentsPanel) onCancelForm(ctx app.Context, e app.Event) { p.Ctl.C.CancelForm() }

func (p *IncidentsPanel) detail(inc *Incident, lang Lang, hubNow int64) app.UI {
	c := p.Ctl.C
	closed := inc.Status == api.IncidentClosed
	id := inc.ID
	cls := []string{"card", "detail"}
	if inc.Uncovered && !closed {
		cls = append(cls, "uncovered")
	}
	name, cam := c.Store.UnitName, c.Store.CameraName
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
		app.If(inc.Offer != nil && !closed, func() app.UI { return p.offer(inc, lang) }),
		maybe(inc.Summary != "", app.P().Class("summary").Text(inc.Summary)),
		app.Div().Class("buttons").Body(
			maybe(!closed && c.May(api.RoleCallTaker), app.Button().ID("sighting-new").Class("primary").DataSet("incident", id).
				Title(T(lang, "key.sighting")).Text(T(lang, "sight.new")).OnClick(p.onSighting)),
			maybe(!closed && c.May(ActionRole(ActClose)), app.Button().ID("incident-close").Class("danger").DataSet("incident", id).Text(T(lang, "inc.close")).
				OnClick(func(ctx app.Context, e app.Event) { p.Ctl.AskClose(id) }, app.EventScope(id))),
			maybe(closed && c.May(ActionRole(ActReopen)), app.Button().ID("incident-reopen").Class("primary").DataSet("incident", id).Text(T(lang, "inc.reopen")).
				OnClick(func(ctx app.Context, e app.Event) { p.Ctl.AskReopen(id) }, app.EventScope(id))),
			app.Button().ID("replay-open").Class("ghost").DataSet("incident", id).Text(T(lang, "replay.open")).
				OnClick(func(ctx app.Context, e app.Event) { p.Ctl.OpenReplay(id) }, app.EventScope(id)),
			app.Button().ID("incident-deselect").Class("ghost").Text(T(lang, "inc.deselect")).OnClick(p.onDeselect),
		),
		figures(inc, lang),
		app.H4().Text(T(lang, "inc.assignments")),
		app.If(len(inc.Assignments) == 0, func() app.UI {
			return app.P().Class("empty").Text(T(lang, "inc.assign.none"))
		}).Else(func() app.UI {
			return app.Ul().ID("assignments").Class("assignments").Body(
				app.Range(inc.Assignments).Slice(func(i int) app.UI { return p.assignment(inc.Assignments[i], lang) }),
			)
		}),
		app.If(!closed, func() app.UI { return p.recommendations(inc, lang) }),
		app.H4().Text(T(lang, "inc.timeline")),
		app.Ol().ID("timeline").Class("timeline").Body(
			app.Range(inc.Timeline).Slice(func(i int) app.UI { return entry(inc.Timeline[i], lang, name, cam) }),
		),
	)
}

func (p *IncidentsPanel) onDeselect(ctx app.Context, e app.Event) { p.Ctl.SelectIncident("") }

// onSighting opens the sighting form for the incident shown (the map comes
// forward on a narrow screen).
func (p *IncidentsPanel) onSighting(ctx app.Context, e app.Event) { p.Ctl.C.StartSighting() }

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

// unitName is a unit as a person reads it — its callsign, with the id on
// hover (title) and in data-unit.
func unitName(s *Store, id string) app.UI {
	return app.Span().Class("unit-id").DataSet("unit", id).Title(id).Text(s.UnitName(id))
}

// assignment is one unit sent; a click selects it and centres the map on it.
func (p *IncidentsPanel) assignment(a api.Assignment, lang Lang) app.UI {
	cls := []string{"assignment", "s-" + a.State}
	if !api.AssignmentActive(a.State) {
		cls = append(cls, "ended")
	}
	unit := a.Unit
	return app.Li().Class(cls...).DataSet("unit", a.Unit).DataSet("state", a.State).DataSet("by", a.By).
		OnClick(func(ctx app.Context, e app.Event) { p.Ctl.SelectUnit(unit, true) }, app.EventScope(unit)).Body(
		unitName(p.Ctl.C.Store, a.Unit),
		app.Span().Class("state").Text(lookup(lang, "asg.", a.State)),
		maybe(a.Tier > 0, app.Span().Class("tier").Text(lookup(lang, "tier.", strconv.Itoa(a.Tier)))),
		app.Span().Class("by").Text(ActorName(lang, a.By, p.Ctl.C.Store.UnitName)),
		app.Span().Class("at").Text(FormatClock(a.Dispatched, nil)),
	)
}

// ActorName is who acted on a timeline entry or sent a unit, as a person
// reads it: a person's name (user:NAME), a machine's token's name marked as
// a token (token:NAME), a role of before accounts (dispatcher) or of the
// hub (auto, system) in the page's language, and anything else a unit —
// its callsign: the unit answered itself, or the officer whose SOS created
// the incident or moved it.
func ActorName(lang Lang, actor string, name func(string) string) string {
	if who, ok := strings.CutPrefix(actor, api.ActorUserPrefix); ok {
		return who
	}
	if tok, ok := strings.CutPrefix(actor, api.ActorTokenPrefix); ok {
		return Tf(lang, "token.mark", tok)
	}
	if _, role := messages[EN]["actor."+actor]; role || actor == "" {
		return lookup(lang, "actor.", actor)
	}
	return name(actor)
}

func entry(e Entry, lang Lang, name, camera func(string) string) app.UI {
	actor := ActorName(lang, e.Actor, name)
	if e.Actor != "" && e.Actor == e.Unit {
		actor = name(e.Actor) // the unit answered itself
	}
	text := EntryText(lang, e, name, camera)
	return app.Li().Class("entry").DataSet("type", e.Type).DataSet("reason", e.Reason).DataSet("actor", e.Actor).Body(
		app.Span().Class("at").Text(FormatClock(e.TS, nil)),
		app.Span().Class("type").Text(lookup(lang, "ev.", e.Type)),
		app.If(e.Unit != "", func() app.UI {
			return app.Span().Class("unit-id").DataSet("unit", e.Unit).Title(e.Unit).Text(name(e.Unit))
		}),
		app.Span().Class("actor").Text(actor),
		maybe(text != "", app.Span().Class("detail").Text(text)),
	)
}

// offer is the hub's offer of a better-placed unit after a sighting, at
// the top of the detail: the unit (callsign, id), its ETA, how much sooner
// it would be there than the best unit on its way; Send (after the
// confirmation every dispatch has) or Dismiss (after one too, with an
// optional note). Both end up on the timeline.
func (p *IncidentsPanel) offer(inc *Incident, lang Lang) app.UI {
	o := *inc.Offer
	id := inc.ID
	s := p.Ctl.C.Store
	name := s.UnitName(o.Unit)
	typ := ""
	if u := s.Units[o.Unit]; u != nil {
		typ = typeGlyph(u.Type) + " "
	}
	sooner := FormatSeconds(lang, OfferSooner(&o))
	return app.Div().ID("offer").Class("offer").Attr("role", "alert").
		DataSet("unit", o.Unit).DataSet("incident", id).DataSet("sighting", o.Sighting).Body(
		app.Div().Class("offer-head").Text(T(lang, "offer.title")),
		app.Div().Class("offer-unit").Body(
			app.Span().Class("callsign").Title(o.Unit).Text(typ+name),
			maybe(name != o.Unit, app.Small().Class("id").Text(o.Unit)),
		),
		app.Div().Class("offer-sooner").Text(Tf(lang, "offer.sooner", sooner)),
		app.Div().Class("offer-eta").Text(Tf(lang, "offer.eta", FormatSeconds(lang, o.ETAS), FormatSeconds(lang, o.BestETAS))),
		maybe(p.Ctl.C.May(ActionRole(ActDispatch)), p.offerButtons(id, o, name, lang)),
	)
}

// offerButtons are the offer's Send and Dismiss, for a role that may send.
func (p *IncidentsPanel) offerButtons(id string, o api.Offer, name string, lang Lang) app.UI {
	return app.Div().Class("buttons").Body(
		app.Button().ID("offer-send").Class("dispatch").DataSet("unit", o.Unit).Title(o.Unit).
			Text(Tf(lang, "inc.dispatch.unit", name)).
			OnClick(func(ctx app.Context, e app.Event) { p.Ctl.AskOffer(id, o) }, app.EventScope(id, o.Unit, o.Sighting)),
		app.Button().ID("offer-dismiss").Class("ghost").DataSet("unit", o.Unit).Text(T(lang, "offer.dismiss")).
			OnClick(func(ctx app.Context, e app.Event) { p.Ctl.AskDismiss(id, o) }, app.EventScope(id, o.Unit, o.Sighting)),
	)
}

// recommendations is the ranked list from the last detail fetch: unit,
// type, ETA, circle, distance, fix age (stale flagged), Dispatch. It holds
// still while the pointer or the focus is in it (RecsHold).
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
		if api.AssignmentActive(a.State) {
			assigned[a.Unit] = true
		}
	}
	id := inc.ID
	send := c.May(ActionRole(ActDispatch)) // the Dispatch column, for a role that may send
	return app.Div().ID("recs").Class("recs").
		OnMouseEnter(p.onRecsEnter).OnMouseLeave(p.onRecsLeave).
		On("focusin", p.onRecsFocus).On("focusout", p.onRecsBlur).Body(
		app.Div().Class("recs-head").Body(
			head,
			app.If(c.Recs.Next != nil, func() app.UI {
				return app.Button().ID("recs-refresh").Class("ghost", "updated").Text(T(lang, "inc.recs.updated")).
					OnClick(p.onRecsRefresh)
			}),
		),
		app.Table().ID("recommendations").Body(
			app.THead().Body(app.Tr().Body(
				app.Th().Text(T(lang, "inc.rec.unit")),
				app.Th().Text(T(lang, "inc.rec.eta")+" · "+T(lang, "inc.rec.tier")),
				app.Th().Text(T(lang, "inc.rec.dist")),
				app.Th().Text(T(lang, "inc.rec.fix")),
				maybe(send, app.Th()),
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
				callsign := c.Store.UnitName(r.Unit)
				return app.Tr().Class(cls...).DataSet("unit", r.Unit).DataSet("stale", r.Stale).DataSet("rank", i+1).Body(
					app.Td().Class("unit-id").Title(r.Unit).Body(
						app.Span().Class("glyph", string(r.Type)).Text(typeGlyph(r.Type)),
						app.Text(" "+callsign),
					),
					app.Td().Class("eta").Body(
						app.Text(FormatSeconds(lang, r.ETAS)+" "),
						app.Span().Class("tier").Text(lookup(lang, "tier.", strconv.Itoa(r.Tier))),
					),
					app.Td().Class("dist").Text(FormatDistance(lang, r.DistanceM)),
					app.Td().Class("fix").Text(fix),
					maybe(send, app.Td().Body(app.Button().Class("dispatch").DataSet("unit", r.Unit).Title(r.Unit).
						Disabled(assigned[r.Unit]).Text(Tf(lang, "inc.dispatch.unit", callsign)).
						OnClick(func(ctx app.Context, e app.Event) { p.Ctl.AskDispatch(id, unit) }, app.EventScope(id, unit)))),
				)
			})),
		),
	)
}

func (p *IncidentsPanel) onRecsEnter(ctx app.Context, e app.Event) { p.hold(ctx, true, true) }
func (p *IncidentsPanel) onRecsLeave(ctx app.Context, e app.Event) { p.hold(ctx, true, false) }
func (p *IncidentsPanel) onRecsFocus(ctx app.Context, e app.Event) { p.hold(ctx, false, true) }
func (p *IncidentsPanel) onRecsBlur(ctx app.Context, e app.Event)  { p.hold(ctx, false, false) }

// hold re-renders only when a waiting ranking is shown, not on every move
// of the pointer in and out of the list.
func (p *IncidentsPanel) hold(ctx app.Context, pointer, in bool) {
	if !p.Ctl.C.HoldRecs(pointer, in) {
		ctx.PreventUpdate()
	}
}

func (p *IncidentsPanel) onRecsRefresh(ctx app.Context, e app.Event) { p.Ctl.C.RefreshRecs() }
