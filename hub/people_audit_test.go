package hub_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/audit"
	wire "kuaifan/protocol/api"
)

var (
	auditSeed  = flag.Uint64("audit.seed", 0, "TestAuditCompleteness: the seed (0: a random one, logged)")
	auditCalls = flag.Int("audit.calls", 200, "TestAuditCompleteness: random calls a run")
)

// actorKind is what a model principal authenticates with.
type actorKind int

const (
	kindNone    actorKind = iota // nothing, or credentials the hub never issued
	kindBoot                     // the bootstrap admin token
	kindToken                    // an API token
	kindSession                  // a session cookie
)

// modelPrincipal is a caller as the test's model of the hub sees it.
type modelPrincipal struct {
	label    string
	kind     actorKind
	cred     cred
	sendCSRF bool
	name     string // the token's or the account's
	role     string // a token's
	tokenID  string
	ended    bool // a revoked token, a session signed out or ended
}

type modelAccount struct {
	role, password       string
	disabled, mustChange bool
}

// auditModel predicts, for every call, whether the hub lets it in and
// what its audit entry says.
type auditModel struct {
	t     *testing.T
	h     *hubtest.Hub
	rng   *rand.Rand
	rules map[string]hub.Rule

	pool      []*modelPrincipal
	accounts  map[string]*modelAccount
	incidents []string
	units     []string
	serial    int

	want  []wire.AuditEntry // the entries the log must hold, oldest first
	stats map[string]int
}

// principalOf is who the model says p is: the actor, the role, whether it
// authenticates, and whether it must change its password.
func (m *auditModel) principalOf(p *modelPrincipal) (actor, role string, ok, mustChange bool) {
	switch p.kind {
	case kindBoot:
		return "token:admin", wire.RoleAdmin, true, false
	case kindToken:
		return "token:" + p.name, p.role, !p.ended, false
	case kindSession:
		a := m.accounts[p.name]
		return "user:" + p.name, a.role, !p.ended && !a.disabled, a.mustChange
	}
	return "", "", false, false
}

// do makes one call as p of the route "METHOD pattern" on path and checks
// the answer against the model: a refusal (401, 403) where the model
// refuses, else the handler's answer, with the entry it must leave in the
// audit log. It answers the answer, and whether the call was let in.
func (m *auditModel) do(p *modelPrincipal, route, path string, body any) (answer, bool) {
	t := m.t
	t.Helper()
	rule, ok := m.rules[route]
	if !ok {
		t.Fatalf("no rule %s", route)
	}
	c := p.cred
	if !p.sendCSRF {
		c.csrf = ""
	}
	a := send(t, m.h, rule.Method, path, c, body)
	actor, role, authed, mustChange := m.principalOf(p)
	write := rule.Method != "GET"
	what := fmt.Sprintf("%s %s as %s: %v", rule.Method, path, p.label, a)

	if rule.Own { // the sign-in: audited when it signs in
		if a.status == http.StatusOK {
			m.want = append(m.want, wire.AuditEntry{Actor: "user:" + strings.ToLower(bodyName(body)), Action: route, Status: 200,
				Role: m.accounts[strings.ToLower(bodyName(body))].role, Target: strings.ToLower(bodyName(body))})
			m.stats["sign-in"]++
		} else {
			m.stats["sign-in refused"]++
		}
		return a, a.status == http.StatusOK
	}
	var refusal int
	switch {
	case !authed:
		refusal = http.StatusUnauthorized
		m.stats["refused 401"]++
	case !wire.RoleAtLeast(role, rule.Role):
		refusal = http.StatusForbidden
		m.stats["refused 403 role"]++
	case mustChange && !rule.Unchanged:
		refusal = http.StatusForbidden
		m.stats["refused 403 one-time password"]++
	case p.kind == kindSession && write && !p.sendCSRF:
		refusal = http.StatusForbidden
		m.stats["refused 403 CSRF"]++
	}
	if refusal != 0 {
		if a.status != refusal {
			t.Fatalf("%s; the model refuses it with %d", what, refusal)
		}
		return a, false
	}
	if a.status == http.StatusUnauthorized && rule.Path != "/api/session/password" || a.status == http.StatusForbidden {
		t.Fatalf("%s; the model lets it in", what)
	}
	if !rule.Audited {
		m.stats["let in, not audited"]++
		return a, true
	}
	m.stats[fmt.Sprintf("audited %dxx", a.status/100)]++
	e := wire.AuditEntry{Actor: actor, Role: role, Action: route, Status: a.status, Error: a.errorText()}
	if !secretRoutes[route] {
		switch b := body.(type) {
		case nil:
		case string:
			e.Body = strings.TrimSpace(b)
		default:
			e.Body = string(mustJSON(b))
		}
	}
	m.want = append(m.want, e)
	return a, true
}

// secretRoutes carry passwords or tokens: their entries keep no body.
var secretRoutes = map[string]bool{"POST /api/session/password": true, "POST /api/users": true,
	"POST /api/users/{name}/password": true, "POST /api/tokens": true}

func bodyName(body any) string {
	if s, ok := body.(wire.SignIn); ok {
		return s.Name
	}
	return ""
}

// pick picks a caller, three times in four one the model says is let in
// (ended sessions and revoked tokens pile up in the pool).
func (m *auditModel) pick() *modelPrincipal {
	if m.rng.IntN(4) != 0 {
		var live []*modelPrincipal
		for _, p := range m.pool {
			if _, _, ok, _ := m.principalOf(p); ok {
				live = append(live, p)
			}
		}
		if len(live) > 0 {
			return pickOf(m.rng, live)
		}
	}
	return m.pool[m.rng.IntN(len(m.pool))]
}

func pickOf[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func (m *auditModel) incident() string {
	if len(m.incidents) == 0 || m.rng.IntN(6) == 0 {
		return "inc-none"
	}
	return pickOf(m.rng, m.incidents)
}

func (m *auditModel) unit() string {
	if len(m.units) == 0 || m.rng.IntN(6) == 0 {
		return "unit-none"
	}
	return pickOf(m.rng, m.units)
}

func (m *auditModel) account() string {
	names := make([]string, 0, len(m.accounts))
	for n := range m.accounts {
		names = append(names, n)
	}
	slices.Sort(names)
	if m.rng.IntN(8) == 0 {
		return "nobody"
	}
	return pickOf(m.rng, names)
}

// signIn signs an account in (with its password, or now and then a wrong
// one) and adds the session to the pool.
func (m *auditModel) signIn(name string) {
	pw := "not the password"
	if a := m.accounts[name]; a != nil && m.rng.IntN(6) != 0 {
		pw = a.password
	}
	m.signInAs(name, pw, m.rng.IntN(5) != 0)
}

// signInAs signs name in with pw; a session, which sends its CSRF token or
// not, joins the pool.
func (m *auditModel) signInAs(name, pw string, csrf bool) *modelPrincipal {
	ans, ok := m.do(m.pool[0], "POST /api/session", "/api/session", wire.SignIn{Name: name, Password: pw})
	if !ok {
		return nil
	}
	var s wire.Session
	if err := json.Unmarshal(ans.body, &s); err != nil {
		m.t.Fatal(err)
	}
	p := &modelPrincipal{label: fmt.Sprintf("%s's session (csrf %v)", name, csrf), kind: kindSession,
		cred: cred{cookie: sessionCookie(ans).Value, csrf: s.CSRF}, sendCSRF: csrf, name: name}
	m.pool = append(m.pool, p)
	return p
}

// endSessions ends the sessions of an account but keep.
func (m *auditModel) endSessions(name string, keep *modelPrincipal) {
	for _, p := range m.pool {
		if p.kind == kindSession && p.name == name && p != keep {
			p.ended = true
		}
	}
}

// step makes one random call and moves the model on with its answer.
func (m *auditModel) step() {
	rng := m.rng
	p := m.pick()
	role := pickOf(rng, wire.Roles)
	m.serial++
	n := m.serial
	switch op := rng.IntN(19); op {
	case 0, 1: // a new incident, now and then a bad one
		body := any(wire.NewIncident{Lat: lat0 + rng.Float64()/100, Lon: lon0, Kind: "theft", Priority: 2 + rng.IntN(2)})
		if rng.IntN(4) == 0 {
			body = wire.NewIncident{Lat: 91, Lon: lon0, Kind: "theft", Priority: 2}
		}
		if a, ok := m.do(p, "POST /api/incidents", "/api/incidents", body); ok && a.status == http.StatusCreated {
			var inc wire.Incident
			json.Unmarshal(a.body, &inc)
			m.incidents = append(m.incidents, inc.ID)
			m.want[len(m.want)-1].Target = inc.ID
		}
	case 2:
		id := m.incident()
		m.doTarget(p, "POST /api/incidents/{id}/sightings", "/api/incidents/"+id+"/sightings", id,
			wire.Sighting{Lat: lat0 + 0.001, Lon: lon0, Source: "caller"})
	case 3:
		id := m.incident()
		m.doTarget(p, "POST /api/incidents/{id}/assign", "/api/incidents/"+id+"/assign", id, wire.Assign{Unit: m.unit()})
	case 4:
		id := m.incident()
		m.doTarget(p, "POST /api/incidents/{id}/close", "/api/incidents/"+id+"/close", id, pickOf(rng, []any{nil, wire.Close{Note: "done"}}))
	case 5:
		id := m.incident()
		m.doTarget(p, "POST /api/incidents/{id}/reopen", "/api/incidents/"+id+"/reopen", id, pickOf(rng, []any{wire.Reopen{Reason: "again"}, `{"reason":""}`}))
	case 6:
		id := m.incident()
		m.doTarget(p, "POST /api/incidents/{id}/offer/dismiss", "/api/incidents/"+id+"/offer/dismiss", id, nil)
	case 7: // enrol a unit (again: 409)
		id := fmt.Sprintf("pu-%d", rng.IntN(n/4+2))
		if a, ok := m.do(p, "POST /api/units", "/api/units", wire.Enrolment{ID: id, Type: "car", Callsign: id, Capabilities: []string{}}); ok {
			m.want[len(m.want)-1].Target = id
			if a.status == http.StatusCreated {
				m.units = append(m.units, id)
			}
		}
	case 8:
		id := m.unit()
		m.doTarget(p, "DELETE /api/units/{id}", "/api/units/"+id, id, nil)
	case 9:
		id := m.unit()
		m.doTarget(p, "POST /api/units/{id}/secret", "/api/units/"+id+"/secret", id, `{"push":false}`)
	case 10: // a token, which joins the pool
		name := fmt.Sprintf("pt-%d", n)
		if a, ok := m.do(p, "POST /api/tokens", "/api/tokens", wire.NewToken{Name: name, Role: role}); ok && a.status == http.StatusCreated {
			var tc wire.TokenCreated
			json.Unmarshal(a.body, &tc)
			m.want[len(m.want)-1].Target = tc.ID + " (" + name + ", " + role + ")"
			m.pool = append(m.pool, &modelPrincipal{label: role + " token " + name, kind: kindToken, cred: cred{bearer: tc.Token},
				name: name, role: role, tokenID: tc.ID})
		}
	case 11: // revoke a token of the pool (or none)
		id := "tok-none"
		var victim *modelPrincipal
		for _, q := range m.pool {
			if q.kind == kindToken && rng.IntN(3) == 0 {
				id, victim = q.tokenID, q
			}
		}
		if a, ok := m.doTarget(p, "DELETE /api/tokens/{id}", "/api/tokens/"+id, id, nil); ok && a.status == http.StatusNoContent {
			victim.ended = true
		}
	case 12: // an account
		name := fmt.Sprintf("pp-%d", n)
		must := rng.IntN(2) == 0
		if a, ok := m.do(p, "POST /api/users", "/api/users", wire.NewUser{Name: name, Role: role, Password: testPassword, MustChange: &must}); ok {
			m.want[len(m.want)-1].Target = name + " (" + role + ")"
			if a.status == http.StatusCreated {
				m.accounts[name] = &modelAccount{role: role, password: testPassword, mustChange: must}
			}
		}
	case 13: // a role, or an account disabled or enabled
		name := m.account()
		var body wire.UserChange
		switch rng.IntN(3) {
		case 0:
			body.Role = &role
		case 1:
			yes := true
			body.Disabled = &yes
		default:
			no := false
			body.Disabled = &no
		}
		if a, ok := m.doTarget(p, "PATCH /api/users/{name}", "/api/users/"+name, name, body); ok && a.status == http.StatusOK {
			acc := m.accounts[name]
			if body.Role != nil {
				acc.role = *body.Role
			}
			if body.Disabled != nil {
				if *body.Disabled && !acc.disabled {
					m.endSessions(name, nil)
				}
				acc.disabled = *body.Disabled
			}
		}
	case 14: // an admin's reset
		name := m.account()
		if a, ok := m.doTarget(p, "POST /api/users/{name}/password", "/api/users/"+name+"/password", name, nil); ok && a.status == http.StatusOK {
			var cr wire.Credentials
			json.Unmarshal(a.body, &cr)
			acc := m.accounts[name]
			acc.password, acc.mustChange = cr.Password, true
			m.endSessions(name, nil)
		}
	case 15, 16:
		m.signIn(m.account())
	case 17: // sign-out
		if a, ok := m.do(p, "DELETE /api/session", "/api/session", nil); ok && a.status == http.StatusNoContent {
			m.want[len(m.want)-1].Target = p.name
			p.ended = true
		}
	case 18: // one's own password; now and then a wrong old one (the handler's 401, audited)
		old := "not the old one"
		if acc := m.accounts[p.name]; p.kind == kindSession && rng.IntN(5) != 0 {
			old = acc.password
		}
		newPW := fmt.Sprintf("new password %d", n)
		if a, ok := m.do(p, "POST /api/session/password", "/api/session/password", wire.PasswordChange{Old: old, New: newPW}); ok {
			m.want[len(m.want)-1].Target = p.name
			if a.status == http.StatusNoContent {
				acc := m.accounts[p.name]
				acc.password, acc.mustChange = newPW, false
				m.endSessions(p.name, p)
			}
		}
	}
	// Reads now and then: let in, never audited.
	if rng.IntN(8) == 0 {
		m.do(m.pick(), "GET /api/incidents", "/api/incidents", nil)
	}
	if rng.IntN(12) == 0 {
		m.do(m.pick(), "POST /api/qr", "/api/qr", wire.QRRequest{Text: "kuaifan"})
	}
}

// doTarget is do for a route whose entry names target.
func (m *auditModel) doTarget(p *modelPrincipal, route, path, target string, body any) (answer, bool) {
	m.t.Helper()
	n := len(m.want)
	a, ok := m.do(p, route, path, body)
	if len(m.want) > n {
		m.want[n].Target = target
	}
	return a, ok
}

// The audit log holds exactly one entry per write let in — whatever the
// handler then answered — with its actor, role, action, target, status,
// error and body (none for the calls carrying secrets), in order, and none
// for a refused call; the chain verifies. Random sequences of writes by
// random callers: tokens of every role, sessions with and without the CSRF
// token, people with one-time passwords, no or bad credentials; accounts,
// roles and tokens change as it runs.
func TestAuditCompleteness(t *testing.T) {
	seed := *auditSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (-audit.seed to run it again)", seed)
	h := hubtest.Start(t, nil)
	m := &auditModel{t: t, h: h, rng: rand.New(rand.NewPCG(seed, 16)), rules: map[string]hub.Rule{},
		accounts: map[string]*modelAccount{}, stats: map[string]int{}}
	for _, r := range h.Rules() {
		m.rules[r.Method+" "+r.Path] = r
	}
	boot := &modelPrincipal{label: "the admin token", kind: kindBoot, cred: admin(h), name: "admin"}
	m.pool = []*modelPrincipal{
		{label: "no credentials", kind: kindNone},
		{label: "a bad token", kind: kindNone, cred: cred{bearer: "kft_bad_token"}},
		boot, boot, // the admin token does most of the setting up
	}
	unitAt(t, h, "car-1", "car", 0.002, 0) // enrolled with the admin token, as hubtest does it
	m.units = append(m.units, "car-1")
	m.want = append(m.want, wire.AuditEntry{Actor: "token:admin", Role: wire.RoleAdmin, Action: "POST /api/units", Target: "car-1",
		Status: http.StatusCreated, Body: string(mustJSON(map[string]any{"id": "car-1", "type": "car", "callsign": "car-1",
			"capabilities": []string{}}))})
	for _, role := range wire.Roles {
		name := "p-" + role
		must := false
		m.do(boot, "POST /api/users", "/api/users", wire.NewUser{Name: name, Role: role, Password: testPassword, MustChange: &must})
		m.want[len(m.want)-1].Target = name + " (" + role + ")"
		m.accounts[name] = &modelAccount{role: role, password: testPassword}
		m.signIn(name)
		m.signIn(name)
		if a, ok := m.do(boot, "POST /api/tokens", "/api/tokens", wire.NewToken{Name: "t-" + role, Role: role}); ok {
			var tc wire.TokenCreated
			json.Unmarshal(a.body, &tc)
			m.want[len(m.want)-1].Target = tc.ID + " (t-" + role + ", " + role + ")"
			m.pool = append(m.pool, &modelPrincipal{label: role + " token", kind: kindToken, cred: cred{bearer: tc.Token},
				name: "t-" + role, role: role, tokenID: tc.ID})
		}
	}
	for range *auditCalls {
		m.step()
	}
	// Each kind of refusal at least once, whatever the random calls were.
	must := true
	m.do(boot, "POST /api/users", "/api/users", wire.NewUser{Name: "p-last", Role: wire.RoleDispatcher, Password: testPassword, MustChange: &must})
	m.want[len(m.want)-1].Target = "p-last (dispatcher)"
	m.accounts["p-last"] = &modelAccount{role: wire.RoleDispatcher, password: testPassword, mustChange: true}
	last := m.signInAs("p-last", testPassword, true)
	if last == nil {
		t.Fatal("p-last does not sign in")
	}
	m.do(last, "POST /api/incidents", "/api/incidents", newIncident) // the one-time password
	m.do(last, "POST /api/session/password", "/api/session/password", wire.PasswordChange{Old: testPassword, New: "p-last's own password"})
	m.want[len(m.want)-1].Target = "p-last"
	m.accounts["p-last"].mustChange = false
	last.sendCSRF = false
	m.do(last, "POST /api/incidents", "/api/incidents", newIncident)                                          // no CSRF token
	m.do(last, "POST /api/incidents/{id}/reopen", "/api/incidents/inc-none/reopen", wire.Reopen{Reason: "x"}) // the role
	m.do(m.pool[0], "POST /api/incidents", "/api/incidents", newIncident)                                     // no credentials

	// The log, paged through newest first, then put in order.
	var got []wire.AuditEntry
	before := uint64(0)
	for {
		var page wire.AuditPage
		q := fmt.Sprintf("/api/audit?limit=%d", 1+m.rng.IntN(60))
		if before != 0 {
			q += fmt.Sprintf("&before=%d", before)
		}
		if st := h.Do("GET", q, nil, &page); st != http.StatusOK {
			t.Fatalf("GET %s: %d", q, st)
		}
		got = append(got, page.Entries...)
		if page.NextBefore == 0 {
			break
		}
		before = page.NextBefore
	}
	slices.Reverse(got)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m.stats {
			if !yield(k) {
				return
			}
		}
	})
	var summary []string
	for _, k := range keys {
		summary = append(summary, fmt.Sprintf("%s %d", k, m.stats[k]))
	}
	t.Logf("%d entries expected; calls: %s", len(m.want), strings.Join(summary, ", "))
	for i := range max(len(got), len(m.want)) {
		if i >= len(got) || i >= len(m.want) {
			t.Fatalf("%d entries in the log, %d writes let in; the first of the difference: log %v, want %v",
				len(got), len(m.want), entryAt(got, i), entryAt(m.want, i))
		}
		g, w := got[i], m.want[i]
		if g.Seq != uint64(i+1) || g.TS == 0 || !strings.HasPrefix(g.Addr, "127.0.0.1:") || g.Actor != w.Actor || g.Role != w.Role ||
			g.Action != w.Action || g.Status != w.Status || g.Error != w.Error || g.Target != w.Target || g.Body != w.Body {
			t.Fatalf("entry %d:\n got %+v\nwant %+v", i+1, g, w)
		}
	}
	if n, err := audit.Verify(h.AuditFile()); err != nil || n != len(got) {
		t.Errorf("audit.Verify = %d, %v; want %d entries intact", n, err, len(got))
	}
	for _, k := range []string{"refused 401", "refused 403 role", "refused 403 CSRF", "refused 403 one-time password",
		"audited 2xx", "audited 4xx", "sign-in", "let in, not audited"} {
		if m.stats[k] == 0 && *auditCalls >= 200 {
			t.Errorf("no call was %s: the generator no longer covers it", k)
		}
	}
}

func entryAt(es []wire.AuditEntry, i int) any {
	if i < len(es) {
		return es[i]
	}
	return "none"
}
