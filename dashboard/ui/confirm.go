package ui

import (
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

// Every consequential action — sending a unit (the hub's offer too),
// turning an offer down, closing an incident, reopening one, sending a unit
// on a move-up — waits for the
// dispatcher's confirmation in a dialog that names what it will act on. The
// action's identity is taken when the button is pressed and shown in the
// dialog; the confirmation acts on exactly that, whatever the lists have
// done since.

// Pending actions.
const (
	ActDispatch = "dispatch"
	ActClose    = "close"
	ActReopen   = "reopen"
	ActDismiss  = "dismiss" // turn the hub's offer of a better-placed unit down
	ActMoveUp   = "moveup"  // send a free unit on a move-up the hub suggested (coverage.go)
)

// Pending is an action waiting for confirmation.
type Pending struct {
	Action   string // ActDispatch, ActClose, ActReopen, ActDismiss or ActMoveUp
	Incident string
	Unit     string      // ActDispatch, ActDismiss: the offered unit
	Offer    *api.Offer  // the hub's offer the dispatch or dismissal answers, as the card showed it
	MoveUp   *api.MoveUp // ActMoveUp: the suggestion as its row showed it
	Note     string      // the reason for a reopening (required), a closing, dismissing or move-up note (optional)
	Busy     bool        // sent, waiting for the hub
	Err      string      // what was wrong with it, shown in the dialog
}

// MaxNote is the longest note or reason the hub takes.
const MaxNote = 512

// Ask opens the confirmation of an action (replacing one not yet
// confirmed), if the person's role allows it (ActionRole).
func (c *Console) Ask(p Pending) {
	if !c.May(ActionRole(p.Action)) {
		return
	}
	c.Confirm = &p
}

// ActionRole is the least role that may carry out a confirmed action:
// sending a unit (on an incident or a move-up), closing and turning an
// offer down are a dispatcher's, reopening a supervisor's.
func ActionRole(action string) string {
	switch action {
	case ActDispatch, ActClose, ActDismiss, ActMoveUp:
		return api.RoleDispatcher
	case ActReopen:
		return api.RoleSupervisor
	}
	return api.RoleAdmin // an action this list does not know: the most
}

// CancelConfirm closes the dialog without acting.
func (c *Console) CancelConfirm() {
	c.Confirm = nil
}

// UnitName is what a person reads for a unit: its callsign (湘A-…), or its
// id when it has none.
func (s *Store) UnitName(id string) string {
	if u := s.Units[id]; u != nil && u.Callsign != "" {
		return u.Callsign
	}
	return id
}

// IncidentName is an incident as a dialog names it: "P1 robbery
// inc-20261206-0007".
func IncidentName(lang Lang, inc *Incident) string {
	return Tf(lang, "inc.p", inc.Priority) + " " + KindName(lang, inc.Kind) + " " + inc.ID
}

// ConfirmDialog is the modal #confirm: what will be done, to what, and two
// buttons; Enter confirms (the OK button has the focus), Esc cancels.
type ConfirmDialog struct {
	app.Compo
	Ctl *Controller
	Rev int64
}

// OnMount (browser only) puts the focus in the dialog, so that Enter
// confirms (or the reason can be typed at once) and not the button behind it
// that opened the dialog.
func (d *ConfirmDialog) OnMount(ctx app.Context) {
	ctx.Defer(func(app.Context) {
		id := "confirm-ok"
		if p := d.Ctl.C.Confirm; p != nil && p.Action != ActDispatch && p.Action != ActMoveUp {
			id = "confirm-note"
		}
		if el := app.Window().GetElementByID(id); el.Truthy() {
			el.Call("focus")
		}
	})
}

// Render draws the dialog for the console's pending action (the page mounts
// it only while one is pending).
func (d *ConfirmDialog) Render() app.UI {
	c := d.Ctl.C
	p := c.Confirm
	if p == nil {
		return app.Div().ID("confirm-none").Class("hidden")
	}
	lang := c.Lang
	inc := c.Store.Incident(p.Incident)
	incName := p.Incident
	if inc != nil {
		incName = IncidentName(lang, inc)
	}
	var title, question, ok, offer string
	okCls := "primary"
	switch p.Action {
	case ActDispatch:
		title = T(lang, "confirm.dispatch.title")
		question = Tf(lang, "confirm.dispatch", c.Store.UnitName(p.Unit), p.Unit, incName)
		ok = Tf(lang, "inc.dispatch.unit", c.Store.UnitName(p.Unit))
		okCls = "dispatch"
		if p.Offer != nil {
			title = T(lang, "offer.send.title")
			offer = Tf(lang, "offer.confirm", FormatSeconds(lang, p.Offer.ETAS), FormatSeconds(lang, OfferSooner(p.Offer)),
				FormatSeconds(lang, p.Offer.BestETAS))
		}
	case ActDismiss:
		title = T(lang, "offer.dismiss.title")
		question = Tf(lang, "offer.dismiss.confirm", c.Store.UnitName(p.Unit), p.Unit, incName)
		ok = T(lang, "offer.dismiss")
	case ActClose:
		title = T(lang, "confirm.close.title")
		question = Tf(lang, "confirm.close", incName)
		if inc != nil {
			if n := ActiveAssignments(inc); n > 0 {
				question += " " + Tf(lang, "confirm.close.units", n, activeUnitNames(c.Store, inc))
			}
		}
		ok = T(lang, "inc.close")
		okCls = "danger"
	case ActReopen:
		title = T(lang, "confirm.reopen.title")
		question = Tf(lang, "confirm.reopen", incName)
		ok = T(lang, "inc.reopen")
	case ActMoveUp:
		title, question, ok = moveUpText(c, p)
	}
	withNote := p.Action == ActClose || p.Action == ActReopen || p.Action == ActDismiss || p.Action == ActMoveUp
	noteLabel := T(lang, "confirm.note")
	switch p.Action {
	case ActReopen:
		noteLabel = T(lang, "confirm.reason")
	case ActMoveUp:
		noteLabel = T(lang, "mu.note")
	}
	return app.Div().ID("confirm-backdrop").Class("backdrop").Body(
		app.Form().ID("confirm").Class("card", "dialog").Attr("role", "dialog").Aria("modal", "true").
			DataSet("action", p.Action).DataSet("incident", p.Incident).DataSet("unit", p.Unit).
			OnSubmit(d.onSubmit).Body(
			app.H3().Text(title),
			app.P().ID("confirm-text").Text(question),
			maybe(offer != "", app.P().ID("confirm-offer").Class("offer-note").Text(offer)),
			app.If(withNote, func() app.UI {
				return app.Div().Class("note").Body(
					app.Label().For("confirm-note").Text(noteLabel),
					app.Textarea().ID("confirm-note").MaxLength(MaxNote).Rows(2).Required(p.Action == ActReopen).
						Text(p.Note).OnInput(d.onNote),
				)
			}),
			maybe(p.Err != "", app.P().ID("confirm-error").Class("error").Text(p.Err)),
			app.Div().Class("buttons").Body(
				app.Button().ID("confirm-ok").Type("submit").Class(okCls).
					Disabled(p.Busy).Text(ok),
				app.Button().ID("confirm-cancel").Type("button").Class("ghost").Text(T(lang, "inc.cancel")).
					OnClick(d.onCancel),
			),
		),
	)
}

func (d *ConfirmDialog) onSubmit(ctx app.Context, e app.Event) {
	e.PreventDefault()
	d.Ctl.ConfirmPending()
}

func (d *ConfirmDialog) onCancel(ctx app.Context, e app.Event) {
	d.Ctl.C.CancelConfirm()
}

func (d *ConfirmDialog) onNote(ctx app.Context, e app.Event) {
	if p := d.Ctl.C.Confirm; p != nil {
		p.Note = ctx.JSSrc().Get("value").String()
		ctx.PreventUpdate() // the field shows what was typed
	}
}

// activeUnitNames lists the units still on an incident, as people read them.
func activeUnitNames(s *Store, inc *Incident) string {
	var names []string
	for _, a := range inc.Assignments {
		if api.AssignmentActive(a.State) {
			names = append(names, s.UnitName(a.Unit))
		}
	}
	return strings.Join(names, ", ")
}
