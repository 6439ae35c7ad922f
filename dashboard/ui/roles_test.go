package ui

import (
	"fmt"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

// roleActions are the elements each action is offered by, and the least
// role that may take it (hub/README.md, "People").
var roleActions = []struct {
	what, need string
	tag        string
	attrs      map[string]string
}{
	{"new incident", api.RoleCallTaker, "button", map[string]string{"id": "new-incident"}},
	{"the incident form", api.RoleCallTaker, "form", map[string]string{"id": "incident-form"}},
	{"report a sighting", api.RoleCallTaker, "button", map[string]string{"id": "sighting-new"}},
	{"dispatch a recommendation", api.RoleDispatcher, "button", map[string]string{"class": "dispatch", "data-unit": "moto-2"}},
	{"send the offered unit", api.RoleDispatcher, "button", map[string]string{"id": "offer-send"}},
	{"dismiss the offer", api.RoleDispatcher, "button", map[string]string{"id": "offer-dismiss"}},
	{"close", api.RoleDispatcher, "button", map[string]string{"id": "incident-close"}},
}

// Each role sees only the actions it may take: the others are not in the
// page at all (not merely disabled). Everyone sees the incidents, the
// recommendations, the offer and the timeline.
func TestRoleGating(t *testing.T) {
	for _, role := range api.Roles {
		t.Run(role, func(t *testing.T) {
			ct := consoleFixture(EN)
			ct.who.Role, ct.C.Role = role, role
			ct.C.Store.Incidents["inc-1"].Offer = &api.Offer{Unit: "vol-4", ETAS: 40, BestETAS: 300, Sighting: 1}
			es := render(t, &Dashboard{ctl: ct})
			for _, a := range roleActions {
				got, want := len(find(es, a.tag, a.attrs)), 0
				if api.RoleAtLeast(role, a.need) {
					want = 1
				}
				if got != want {
					t.Errorf("%s: %d × %s, want %d", role, got, a.what, want)
				}
			}
			// What everyone reads.
			one(t, es, "span", map[string]string{"id": "who", "data-role": role})
			one(t, es, "div", map[string]string{"id": "offer", "data-unit": "vol-4"})
			one(t, es, "ul", map[string]string{"id": "queue"})
			if n := len(find(es, "tr", map[string]string{"class": "recommendation"})); n != 3 {
				t.Errorf("%s: %d recommendations", role, n)
			}
			if n := len(find(es, "li", map[string]string{"class": "entry"})); n != 3 {
				t.Errorf("%s: %d timeline entries", role, n)
			}
			// The Dispatch column goes with its buttons.
			if got, want := len(find(es, "th", nil)), 4; api.RoleAtLeast(role, api.RoleDispatcher) && got != want+1 || !api.RoleAtLeast(role, api.RoleDispatcher) && got != want {
				t.Errorf("%s: %d columns", role, got)
			}

			// A closed incident: reopening is a supervisor's.
			closed := incidentAt("old-1", 2, time.Now().UnixMilli()-3_600_000)
			closed.Status, closed.Closed = api.IncidentClosed, time.Now().UnixMilli()
			ct.C.Store.AddHistory([]Incident{closed})
			ct.C.SelectIncident("old-1")
			es = render(t, &Dashboard{ctl: ct})
			reopen := len(find(es, "button", map[string]string{"id": "incident-reopen"}))
			if want := b2i(api.RoleAtLeast(role, api.RoleSupervisor)); reopen != want {
				t.Errorf("%s: %d reopen buttons, want %d", role, reopen, want)
			}
			one(t, es, "div", map[string]string{"id": "incident-detail", "data-id": "old-1"})

			// The units screen: the fleet for everyone; enrolling,
			// its one-time card and revoking for an admin.
			p := newEnrolPage()
			p.Units, p.Listed = []Unit{unitAt("car-1", "car", "available", 28.2, 112.98, 0)}, true
			p.Card = &Setup{How: HowAgent, Unit: "car-9", Secret: "s3cr3t", Agent: "agent -unit car-9"}
			es = parseElems(app.HTMLString(&EnrolView{Ctl: ct, page: p}))
			one(t, es, "tr", map[string]string{"class": "enrol-unit", "data-unit": "car-1"})
			admin := b2i(role == api.RoleAdmin)
			for _, id := range []string{"enrol-form", "enrol-submit", "enrol-card", "enrol-secret"} {
				if n := len(find(es, "", map[string]string{"id": id})); n != admin {
					t.Errorf("%s: %d × #%s, want %d", role, n, id, admin)
				}
			}
			if n := len(find(es, "button", map[string]string{"class": "revoke"})); n != admin {
				t.Errorf("%s: %d revoke buttons, want %d", role, n, admin)
			}
		})
	}
}

// The console's own transitions follow the role too: a click on an empty
// spot of the map, the keys N, S and D, and the confirmations.
func TestRoleGatingActions(t *testing.T) {
	for _, role := range append([]string{""}, api.Roles...) {
		t.Run(fmt.Sprintf("role %q", role), func(t *testing.T) {
			now := int64(1_800_000_000_000)
			ct := NewController(NewConsole(EN), "http://hub.invalid")
			ct.api = &API{Base: "http://hub.invalid"} // signed in; calls go nowhere
			c := ct.C
			c.Role = role
			c.Store = testStore(now)
			c.Scene.View = View{Lat: 28.2, Lon: 112.98, Zoom: 14, W: 1000, H: 800}
			creates := api.RoleAtLeast(role, api.RoleCallTaker)
			sends := api.RoleAtLeast(role, api.RoleDispatcher)

			x, y := c.Scene.View.ToScreen(28.23, 112.94) // nothing there
			c.Click(x, y)
			if c.Form.Open != creates {
				t.Errorf("an empty spot clicked: form open %v", c.Form.Open)
			}
			c.CancelForm()
			if r := ct.Key("n", "body", false); r.Handled != creates || c.Creating != creates {
				t.Errorf("N: %+v, creating %v", r, c.Creating)
			}
			c.CancelForm()

			c.SelectIncident("i1")
			if got := c.StartSighting(); got != creates || c.Sighting.Open != creates {
				t.Errorf("a sighting: %v", got)
			}
			c.CancelSighting()
			c.Detail = &Incident{ID: "i1", Status: api.IncidentOpen,
				Recommendations: []api.Recommendation{{Candidate: api.Candidate{Unit: "u1", ETAS: 30, Tier: 1}}}}
			if r := ct.Key("d", "body", false); r.Handled != sends || (c.Confirm != nil) != sends {
				t.Errorf("D: %+v, confirm %+v", r, c.Confirm)
			}
			c.CancelConfirm()
			for _, p := range []Pending{{Action: ActDispatch, Incident: "i1", Unit: "u1"}, {Action: ActClose, Incident: "i1"},
				{Action: ActDismiss, Incident: "i1", Unit: "u1"}, {Action: ActReopen, Incident: "i1"}, {Action: "unknown"}} {
				c.Ask(p)
				if want := api.RoleAtLeast(role, ActionRole(p.Action)); (c.Confirm != nil) != want {
					t.Errorf("asking to %s: %v, want %v", p.Action, c.Confirm != nil, want)
				}
				c.CancelConfirm()
			}
		})
	}
	if ActionRole("unknown") != api.RoleAdmin || ActionRole(ActReopen) != api.RoleSupervisor {
		t.Error("ActionRole")
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
