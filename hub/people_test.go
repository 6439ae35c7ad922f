package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/access"
	wire "kuaifan/protocol/api"
)

// People (hub/PEOPLE-DRAFT.md): accounts, roles, sessions, API tokens and
// the audit log, through a real hub's HTTP API.

// testPassword is every test account's password (hubtest hashes cheaply).
const testPassword = "correct horse battery"

// cred is how a call authenticates: a Bearer token, or a session cookie
// with the CSRF token it sends (if any). The zero cred sends nothing.
type cred struct {
	bearer string
	cookie string
	csrf   string
}

// answer is a call's answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body)) }

// errorText is the answer's {"error"}.
func (a answer) errorText() string {
	var e wire.Error
	_ = json.Unmarshal(a.body, &e)
	return e.Error
}

// send calls the hub's API as c. body: nil (none), []byte or string (as
// is), else JSON; a body goes as application/json unless hdr says.
func send(t testing.TB, h *hubtest.Hub, method, path string, c cred, body any, hdr ...string) answer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		rd = bytes.NewReader(mustJSON(b))
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: wire.SessionCookie, Value: c.cookie})
	}
	if c.csrf != "" {
		req.Header.Set(wire.CSRFHeader, c.csrf)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// admin is the bootstrap admin token hubtest starts the hub with.
func admin(h *hubtest.Hub) cred { return cred{bearer: h.AdminToken()} }

// addUser makes an account with testPassword that need not change it.
func addUser(t testing.TB, h *hubtest.Hub, name, role string) {
	t.Helper()
	if a := send(t, h, "POST", "/api/users", admin(h), map[string]any{"name": name, "role": role,
		"password": testPassword, "must_change": false}); a.status != http.StatusCreated {
		t.Fatalf("add user %s: %v", name, a)
	}
}

// signIn signs name in and answers the session's cookie and CSRF token.
func signIn(t testing.TB, h *hubtest.Hub, name, password string) cred {
	t.Helper()
	a := send(t, h, "POST", "/api/session", cred{}, wire.SignIn{Name: name, Password: password})
	if a.status != http.StatusOK {
		t.Fatalf("sign in %s: %v", name, a)
	}
	var s wire.Session
	if err := json.Unmarshal(a.body, &s); err != nil || s.CSRF == "" {
		t.Fatalf("sign in %s: %s: %v", name, a.body, err)
	}
	c := sessionCookie(a)
	if c == nil || c.Value == "" {
		t.Fatalf("sign in %s: no session cookie in %v", name, a.header)
	}
	return cred{cookie: c.Value, csrf: s.CSRF}
}

// sessionCookie is the session cookie an answer sets, or nil.
func sessionCookie(a answer) *http.Cookie {
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == wire.SessionCookie {
			return c
		}
	}
	return nil
}

// addToken makes an API token and answers it and its id.
func addToken(t testing.TB, h *hubtest.Hub, name, role string) (cred, string) {
	t.Helper()
	a := send(t, h, "POST", "/api/tokens", admin(h), wire.NewToken{Name: name, Role: role})
	var tc wire.TokenCreated
	if a.status != http.StatusCreated || json.Unmarshal(a.body, &tc) != nil || tc.Token == "" || tc.Role != role {
		t.Fatalf("add token %s: %v", name, a)
	}
	return cred{bearer: tc.Token}, tc.ID
}

// wsDial opens the live stream as c and answers the status of the
// handshake (101: open, closed again at once).
func wsDial(t testing.TB, h *hubtest.Hub, c cred) int {
	t.Helper()
	hdr := http.Header{}
	if c.bearer != "" {
		hdr.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.cookie != "" {
		hdr.Set("Cookie", wire.SessionCookie+"="+c.cookie)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.URL, "http")+"/ws",
		&websocket.DialOptions{HTTPHeader: hdr, HTTPClient: h.Client})
	if err == nil {
		conn.CloseNow()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("stream: %v", err)
	}
	return resp.StatusCode
}

// concrete fills a route's pattern with ids nothing has: a call changes
// nothing.
func concrete(rule hub.Rule) string {
	p := strings.NewReplacer("{id}", "matrix-none", "{name}", "matrix-none").Replace(rule.Path)
	if p == "/api/phones/" { // the phones' subtree: their two endpoints
		if rule.Method == "GET" {
			return "/api/phones/osmand"
		}
		return "/api/phones/owntracks"
	}
	return p
}

// contract is every endpoint's rule as PEOPLE-DRAFT.md gives it: the least
// role ("public": anyone), whether the endpoint authenticates its callers
// itself (own), whether an accepted call is audited, and whether a person
// who must still change a one-time password may call it.
var contract = map[string]struct {
	role                    string
	own, audited, unchanged bool
}{
	"GET /healthz":                           {role: "public"},
	"GET /metrics":                           {role: "public"},
	"POST /api/session":                      {role: "public", own: true},
	"GET /api/session":                       {role: "viewer", unchanged: true},
	"DELETE /api/session":                    {role: "viewer", audited: true, unchanged: true},
	"POST /api/session/password":             {role: "viewer", audited: true, unchanged: true},
	"GET /api/users":                         {role: "admin"},
	"POST /api/users":                        {role: "admin", audited: true},
	"PATCH /api/users/{name}":                {role: "admin", audited: true},
	"POST /api/users/{name}/password":        {role: "admin", audited: true},
	"GET /api/tokens":                        {role: "admin"},
	"POST /api/tokens":                       {role: "admin", audited: true},
	"DELETE /api/tokens/{id}":                {role: "admin", audited: true},
	"GET /api/audit":                         {role: "admin"},
	"GET /api/units":                         {role: "viewer"},
	"POST /api/units":                        {role: "admin", audited: true},
	"GET /api/units/{id}":                    {role: "viewer"},
	"DELETE /api/units/{id}":                 {role: "admin", audited: true},
	"GET /api/units/{id}/track":              {role: "viewer"},
	"POST /api/units/{id}/secret":            {role: "admin", audited: true},
	"GET /api/broker-config":                 {role: "admin"}, // password hashes
	"GET /api/match":                         {role: "viewer"},
	"GET /api/districts":                     {role: "viewer"},
	"GET /api/cameras":                       {role: "viewer"},
	"GET /api/coverage":                      {role: "viewer"},
	"GET /api/moveups":                       {role: "viewer"},
	"GET /api/patrols":                       {role: "viewer"},
	"GET /api/patrols/compliance":            {role: "viewer"},
	"GET /api/patrols/{id}":                  {role: "viewer"},
	"PUT /api/patrols/{id}":                  {role: "supervisor", audited: true},
	"DELETE /api/patrols/{id}":               {role: "supervisor", audited: true},
	"GET /api/units/{id}/tasks":              {role: "viewer"},
	"POST /api/qr":                           {role: "viewer"}, // changes nothing
	"GET /api/history":                       {role: "viewer"},
	"GET /api/incidents":                     {role: "viewer"},
	"POST /api/incidents":                    {role: "call-taker", audited: true},
	"GET /api/incidents/{id}":                {role: "viewer"},
	"POST /api/incidents/{id}/sightings":     {role: "call-taker", audited: true},
	"POST /api/incidents/{id}/assign":        {role: "dispatcher", audited: true},
	"POST /api/incidents/{id}/offer/dismiss": {role: "dispatcher", audited: true},
	"POST /api/incidents/{id}/close":         {role: "dispatcher", audited: true},
	"POST /api/incidents/{id}/reopen":        {role: "supervisor", audited: true},
	"POST /api/units/{id}/reposition":        {role: "dispatcher", audited: true},
	"DELETE /api/units/{id}/reposition":      {role: "dispatcher", audited: true},
	"GET /api/kpi":                           {role: "viewer"},
	"GET /api/incidents/export":              {role: "viewer"},
	"GET /api/incidents/search":              {role: "viewer"},
	"GET /api/report/daily":                  {role: "viewer"},
	"GET /api/incidents/{id}/replay":         {role: "viewer"},
	"GET /ws":                                {role: "viewer", own: true}, // a ticket or a Bearer token
	"POST /api/stream/ticket":                {role: "viewer"},            // changes nothing
	"GET /api/phones/":                       {role: "public", own: true}, // a unit's own secret
	"POST /api/phones/":                      {role: "public", own: true},
}

// The hub's table is the contract: every endpoint, with the role, the
// audit and the one-time-password rule the contract gives it, and none
// more. An endpoint added to the table without a rule here fails.
func TestRulesAreTheContract(t *testing.T) {
	h := hubtest.Start(t, nil)
	seen := map[string]bool{}
	for _, r := range h.Rules() {
		key := r.Method + " " + r.Path
		if seen[key] {
			t.Errorf("%s: two rules", key)
		}
		seen[key] = true
		want, ok := contract[key]
		if !ok {
			t.Errorf("%s is served but not in the contract: add its rule to PEOPLE-DRAFT.md and this test", key)
			continue
		}
		role := r.Role
		if r.Public {
			role = "public"
		}
		if (r.Public && r.Role != "") || role != want.role || r.Own != want.own || r.Audited != want.audited || r.Unchanged != want.unchanged {
			t.Errorf("%s: rule %+v, want role %s, own %v, audited %v, unchanged %v", key, r, want.role, want.own, want.audited, want.unchanged)
		}
	}
	for key := range contract {
		if !seen[key] {
			t.Errorf("%s is in the contract but not served", key)
		}
	}
}

// Every endpoint the README documents is in the table: one served without
// a rule would show here (or in the catch-all probes of TestRoleMatrix).
func TestDocumentedEndpointsHaveRules(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("`(GET|POST|PUT|PATCH|DELETE) (/api/[^` ?\\[]*|/ws|/healthz|/metrics)")
	found := 0
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		found++
		key := m[1] + " " + strings.TrimRight(m[2], ".,;:")
		if strings.HasPrefix(m[2], "/api/phones/") {
			key = m[1] + " /api/phones/"
		}
		if _, ok := contract[key]; !ok {
			t.Errorf("README documents %s, which has no rule", key)
		}
	}
	if found < 20 {
		t.Errorf("found %d endpoints in the README: the pattern no longer reads it", found)
	}
}

// principal is a column of the role matrix.
type principal struct {
	label string
	h     *hubtest.Hub // the hub it belongs to
	cred
	role    string      // "": does not authenticate
	session bool        // a cookie
	fresh   func() cred // another session of the same person (for DELETE /api/session)
}

// The role matrix: every endpoint of the table × every kind of caller.
// Public endpoints answer anyone. The guarded ones answer 401 to no, bad or
// revoked credentials and an expired session, 403 to a role below the
// rule's, and their handler's own answer to a role at or above it. The own
// endpoints are held to their own rules: the sign-in reads its body first
// (400 to an empty one, whoever calls); the live stream takes a Bearer
// token, never the cookie (a browser gets a ticket); the phones take a
// unit's secret only (401 to every API credential). Paths carry ids that
// name nothing and bodies are empty, so no call changes anything.
func TestRoleMatrix(t *testing.T) {
	h := hubtest.Start(t, nil)
	// The expired session's hub: the same table, a short idle timeout.
	short := hubtest.Start(t, func(c *hub.Config) { c.SessionIdle = 300 * time.Millisecond })
	if !slices.Equal(h.Rules(), short.Rules()) {
		t.Fatal("two hubs of the same configuration serve different tables")
	}
	addUser(t, short, "late", wire.RoleAdmin)
	expired := signIn(t, short, "late", testPassword)
	time.Sleep(400 * time.Millisecond)
	if a := send(t, short, "GET", "/api/session", expired, nil); a.status != http.StatusUnauthorized {
		t.Fatalf("a session idle past SessionIdle: %v, want 401", a)
	}

	cols := []principal{
		{label: "no credentials", h: h},
		{label: "expired session", h: short, cred: expired, session: true},
		{label: "bad Bearer", h: h, cred: cred{bearer: "kft_nosuch_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
		{label: "wrong admin token", h: h, cred: cred{bearer: h.AdminToken() + "x"}},
		{label: "unknown cookie", h: h, cred: cred{cookie: "bm90LWEtc2Vzc2lvbg", csrf: "x"}, session: true},
		{label: "bootstrap token", h: h, cred: admin(h), role: wire.RoleAdmin},
	}
	revoked, id := addToken(t, h, "gone", wire.RoleAdmin)
	if a := send(t, h, "DELETE", "/api/tokens/"+id, admin(h), nil); a.status != http.StatusNoContent {
		t.Fatalf("revoke: %v", a)
	}
	cols = append(cols, principal{label: "revoked token", h: h, cred: revoked})
	for _, role := range wire.Roles {
		tok, _ := addToken(t, h, "tok-"+role, role)
		cols = append(cols, principal{label: role + " token", h: h, cred: tok, role: role})
		addUser(t, h, "u-"+role, role)
		fresh := func() cred { return signIn(t, h, "u-"+role, testPassword) }
		cols = append(cols, principal{label: role + " session", h: h, cred: fresh(), role: role, session: true, fresh: fresh})
	}
	for _, role := range []string{wire.RoleDispatcher, wire.RoleAdmin} {
		c := signIn(t, h, "u-"+role, testPassword)
		c.csrf = ""
		cols = append(cols, principal{label: role + " session without CSRF", h: h, cred: c, role: role, session: true,
			fresh: func() cred { c := signIn(t, h, "u-"+role, testPassword); c.csrf = ""; return c }})
	}

	rules := h.Rules()
	var labels []string
	for _, p := range cols {
		labels = append(labels, p.label)
	}
	t.Logf("columns: %s", strings.Join(labels, " | "))
	for _, r := range rules {
		path := concrete(r)
		var row []string
		for _, p := range cols {
			c := p.cred
			if r.Method == "DELETE" && r.Path == "/api/session" && p.fresh != nil {
				c = p.fresh() // signing out ends the session: use another
			}
			var a answer
			if r.Path == "/ws" {
				a = answer{status: wsDial(t, p.h, c)}
			} else {
				a = send(t, p.h, r.Method, path, c, nil)
			}
			row = append(row, fmt.Sprint(a.status))
			what := fmt.Sprintf("%s %s as %s: %v", r.Method, path, p.label, a)
			write := r.Method != "GET" && r.Method != "HEAD"
			switch {
			case r.Own && r.Path == "/api/session":
				if a.status != http.StatusBadRequest {
					t.Errorf("%s; want 400 (the sign-in reads its body first)", what)
				}
			case r.Own && r.Path == "/ws":
				want := http.StatusUnauthorized
				if p.role != "" && !p.session {
					want = http.StatusSwitchingProtocols
				}
				if a.status != want {
					t.Errorf("%s; want %d (a Bearer token the hub knows opens the stream; a cookie does not)", what, want)
				}
			case r.Own && r.Path == "/api/phones/":
				if a.status != http.StatusUnauthorized {
					t.Errorf("%s; want 401 (the phones take their unit's secret, no API credential)", what)
				}
			case r.Own:
				t.Errorf("%s %s authenticates itself: give it its rule in this test", r.Method, r.Path)
			case r.Public:
				if a.status == http.StatusUnauthorized || a.status == http.StatusForbidden || a.status >= 500 {
					t.Errorf("%s; want a public answer", what)
				}
			case p.role == "":
				if a.status != http.StatusUnauthorized || a.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s; want 401 with WWW-Authenticate", what)
				}
			case !wire.RoleAtLeast(p.role, r.Role):
				if a.status != http.StatusForbidden || !strings.Contains(a.errorText(), "needs the "+r.Role+" role") {
					t.Errorf("%s; want 403: needs the %s role", what, r.Role)
				}
			case p.session && write && p.csrf == "":
				if a.status != http.StatusForbidden || !strings.Contains(a.errorText(), wire.CSRFHeader) {
					t.Errorf("%s; want 403 for want of the CSRF token", what)
				}
			default:
				if a.status == http.StatusUnauthorized || a.status == http.StatusForbidden || a.status == http.StatusMethodNotAllowed ||
					a.status >= 500 || strings.Contains(a.errorText(), "no such API call") {
					t.Errorf("%s; want the handler's own answer", what)
				}
			}
		}
		t.Logf("%-42s %s", r.Method+" "+r.Path, strings.Join(row, " "))
	}

	// Every path of the table answers no method it has no rule for; any
	// other path under /api is the catch-all's 404 to a caller the hub
	// knows (401 to anyone else): an endpoint served outside the table at
	// one of these paths would answer instead.
	methods := map[string][]string{}
	for _, r := range rules {
		methods[r.Path] = append(methods[r.Path], r.Method)
	}
	for path, ms := range methods {
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if slices.Contains(ms, m) || path == "/ws" || path == "/api/phones/" {
				continue
			}
			p := concrete(hub.Rule{Method: m, Path: path})
			if a := send(t, h, m, p, admin(h), nil); a.status != http.StatusMethodNotAllowed {
				t.Errorf("%s %s (no rule): %v, want 405", m, p, a)
			}
		}
	}
	probes := []string{"/api/", "/api/user", "/api/sessions", "/api/token", "/api/admin", "/api/debug", "/api/config",
		"/api/audit/verify", "/api/session/matrix-none", "/api/users/matrix-none/sessions", "/api/tokens/matrix-none/rotate"}
	for path := range methods {
		if strings.HasPrefix(path, "/api/") && !strings.HasSuffix(path, "/") {
			probes = append(probes, concrete(hub.Rule{Path: path})+"/matrix-extra")
		}
	}
	// Only the paths no pattern of the table takes (/api/units/matrix-extra
	// is /api/units/{id}).
	table := http.NewServeMux()
	for path := range methods {
		table.Handle(path, http.NotFoundHandler())
	}
	probes = slices.DeleteFunc(probes, func(p string) bool {
		_, pattern := table.Handler(&http.Request{Method: "GET", URL: &url.URL{Path: p}})
		return pattern != ""
	})
	if len(probes) < 20 {
		t.Fatalf("%d probes: %v", len(probes), probes)
	}
	for _, p := range probes {
		for _, m := range []string{"GET", "POST", "DELETE"} {
			if a := send(t, h, m, p, admin(h), nil); a.status != http.StatusNotFound || !strings.Contains(a.errorText(), "no such API call") {
				t.Errorf("%s %s (not in the table) with the admin token: %v, want the catch-all's 404", m, p, a)
			}
			if a := send(t, h, m, p, cols[len(cols)-3].cred, nil); a.status != http.StatusNotFound { // the admin session
				t.Errorf("%s %s (not in the table) as a signed-in admin: %v, want 404", m, p, a)
			}
			if a := send(t, h, m, p, cred{}, nil); a.status != http.StatusUnauthorized {
				t.Errorf("%s %s (not in the table) without credentials: %v, want 401", m, p, a)
			}
		}
	}
}

// countIncidents is how many incidents the hub has.
func countIncidents(t *testing.T, h *hubtest.Hub) int {
	t.Helper()
	var list []wire.Incident
	if st := h.Do("GET", "/api/incidents", nil, &list); st != http.StatusOK {
		t.Fatalf("list incidents: %d", st)
	}
	return len(list)
}

var newIncident = wire.NewIncident{Lat: lat0, Lon: lon0, Kind: "theft", Priority: 3}

// A write with the session cookie must carry the session's own CSRF token:
// without it, or with a wrong one or another session's, it is refused and
// changes nothing. Reads need none; Bearer writes need none.
func TestCSRF(t *testing.T) {
	h := hubtest.Start(t, nil)
	addUser(t, h, "wang", wire.RoleDispatcher)
	s := signIn(t, h, "wang", testPassword)
	other := signIn(t, h, "wang", testPassword)
	if other.csrf == s.csrf {
		t.Fatal("two sessions share a CSRF token")
	}
	for _, c := range []struct {
		label, csrf string
	}{{"none", ""}, {"wrong", s.csrf + "x"}, {"another session's", other.csrf}, {"cut short", s.csrf[:len(s.csrf)-1]}} {
		a := send(t, h, "POST", "/api/incidents", cred{cookie: s.cookie, csrf: c.csrf}, newIncident)
		if a.status != http.StatusForbidden || !strings.Contains(a.errorText(), wire.CSRFHeader) {
			t.Errorf("a cookie write with %s CSRF token: %v, want 403", c.label, a)
		}
	}
	if n := countIncidents(t, h); n != 0 {
		t.Fatalf("refused writes made %d incidents", n)
	}
	if a := send(t, h, "GET", "/api/incidents", cred{cookie: s.cookie}, nil); a.status != http.StatusOK {
		t.Errorf("a cookie read without the CSRF token: %v", a)
	}
	// The session's CSRF token is also what GET /api/session says.
	var me wire.Session
	if a := send(t, h, "GET", "/api/session", cred{cookie: s.cookie}, nil); json.Unmarshal(a.body, &me) != nil || me.CSRF != s.csrf {
		t.Errorf("GET /api/session: %v, want the CSRF token of the sign-in", a)
	}
	if a := send(t, h, "POST", "/api/incidents", s, newIncident); a.status != http.StatusCreated {
		t.Errorf("a cookie write with the CSRF token: %v", a)
	}
	tok, _ := addToken(t, h, "cad", wire.RoleDispatcher)
	if a := send(t, h, "POST", "/api/incidents", tok, newIncident); a.status != http.StatusCreated {
		t.Errorf("a Bearer write without a CSRF token: %v", a)
	}
	if n := countIncidents(t, h); n != 2 {
		t.Errorf("%d incidents, want the 2 accepted", n)
	}
	// Signing out is a write too.
	if a := send(t, h, "DELETE", "/api/session", cred{cookie: s.cookie}, nil); a.status != http.StatusForbidden {
		t.Errorf("sign-out without the CSRF token: %v, want 403", a)
	}
	if a := send(t, h, "GET", "/api/session", s, nil); a.status != http.StatusOK {
		t.Errorf("the session after a refused sign-out: %v", a)
	}
}

// The session cookie is HttpOnly, SameSite=Strict, Path=/, and Secure
// under TLS only; sign-out clears it with the same flags.
func TestSessionCookieFlags(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			h := hubtest.Start(t, func(c *hub.Config) { c.TLSAuto = tls })
			if tls != strings.HasPrefix(h.URL, "https://") {
				t.Fatalf("hub URL %s", h.URL)
			}
			addUser(t, h, "li", wire.RoleViewer)
			a := send(t, h, "POST", "/api/session", cred{}, wire.SignIn{Name: "li", Password: testPassword})
			c := sessionCookie(a)
			if a.status != http.StatusOK || c == nil {
				t.Fatalf("sign-in: %v", a)
			}
			check := func(what string, c *http.Cookie) {
				t.Helper()
				if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != tls || c.Domain != "" {
					t.Errorf("%s cookie %q: HttpOnly %v, SameSite %v, Path %q, Secure %v, Domain %q; want HttpOnly, Strict, /, Secure %v, host-only",
						what, c.Raw, c.HttpOnly, c.SameSite, c.Path, c.Secure, c.Domain, tls)
				}
			}
			check("the sign-in's", c)
			if len(c.Value) < 40 {
				t.Errorf("cookie value %q: want 256 random bits", c.Value)
			}
			var s wire.Session
			json.Unmarshal(a.body, &s)
			out := send(t, h, "DELETE", "/api/session", cred{cookie: c.Value, csrf: s.CSRF}, nil)
			cleared := sessionCookie(out)
			if out.status != http.StatusNoContent || cleared == nil || cleared.Value != "" || cleared.MaxAge >= 0 {
				t.Fatalf("sign-out: %v, cookie %+v; want 204 clearing the cookie", out, cleared)
			}
			check("the sign-out's", cleared)
		})
	}
}

// Sign-in: a wrong password, an unknown name and a disabled account get the
// same 401; only JSON from the hub's own pages is taken; sign-out ends the
// session on the hub, not just in the browser.
func TestSignIn(t *testing.T) {
	h := hubtest.Start(t, nil)
	addUser(t, h, "wang", wire.RoleDispatcher)
	addUser(t, h, "zhao", wire.RoleViewer)
	if a := send(t, h, "PATCH", "/api/users/zhao", admin(h), map[string]any{"disabled": true}); a.status != http.StatusOK {
		t.Fatal(a)
	}
	wrong := send(t, h, "POST", "/api/session", cred{}, wire.SignIn{Name: "wang", Password: "not the password"})
	if wrong.status != http.StatusUnauthorized || wrong.errorText() != "wrong name or password" || sessionCookie(wrong) != nil {
		t.Fatalf("a wrong password: %v", wrong)
	}
	for _, in := range []wire.SignIn{{Name: "nobody", Password: testPassword}, {Name: "zhao", Password: testPassword}} {
		if a := send(t, h, "POST", "/api/session", cred{}, in); a.status != wrong.status || !bytes.Equal(a.body, wrong.body) || sessionCookie(a) != nil {
			t.Errorf("%s: %v, want the same answer as a wrong password (%v)", in.Name, a, wrong)
		}
	}
	for _, c := range []struct {
		label, body string
		hdr         []string
		want        int
	}{
		{"text/plain", `{"name":"wang","password":"` + testPassword + `"}`, []string{"Content-Type", "text/plain"}, 400},
		{"a form", "name=wang&password=x", []string{"Content-Type", "application/x-www-form-urlencoded"}, 400},
		{"not JSON", "{", nil, 400},
		{"no password", `{"name":"wang"}`, nil, 400},
		{"an unknown field", `{"name":"wang","password":"` + testPassword + `","remember":true}`, nil, 400},
		{"another site", `{"name":"wang","password":"` + testPassword + `"}`, []string{"Origin", "https://evil.example"}, 403},
		{"a null origin", `{"name":"wang","password":"` + testPassword + `"}`, []string{"Origin", "null"}, 403},
		{"another port", `{"name":"wang","password":"` + testPassword + `"}`, []string{"Origin", "http://127.0.0.1:1"}, 403},
		{"the hub's own page", `{"name":"WANG","password":"` + testPassword + `"}`, []string{"Origin", h.URL}, 200},
	} {
		a := send(t, h, "POST", "/api/session", cred{}, c.body, c.hdr...)
		if a.status != c.want || (c.want != 200) != (sessionCookie(a) == nil) {
			t.Errorf("sign-in with %s: %v, want %d", c.label, a, c.want)
		}
	}

	s := signIn(t, h, "Wang", testPassword)
	var me wire.Session
	a := send(t, h, "GET", "/api/session", s, nil)
	if err := json.Unmarshal(a.body, &me); err != nil || me.Name != "wang" || me.Role != wire.RoleDispatcher || me.CSRF != s.csrf ||
		me.MustChange || me.Token || me.IdleS != 1800 || time.Until(time.UnixMilli(me.Expires)) < 11*time.Hour {
		t.Errorf("GET /api/session: %v", a)
	}
	var tokMe wire.Session
	a = send(t, h, "GET", "/api/session", admin(h), nil)
	if json.Unmarshal(a.body, &tokMe) != nil || tokMe != (wire.Session{Name: "admin", Role: wire.RoleAdmin, Token: true}) {
		t.Errorf("GET /api/session with the admin token: %v", a)
	}
	if a := send(t, h, "DELETE", "/api/session", s, nil); a.status != http.StatusNoContent {
		t.Fatalf("sign-out: %v", a)
	}
	// The cookie's old value, sent again, is refused: the session is gone
	// on the hub.
	for _, m := range []string{"GET /api/session", "GET /api/units", "POST /api/incidents"} {
		method, path, _ := strings.Cut(m, " ")
		if a := send(t, h, method, path, s, nil); a.status != http.StatusUnauthorized {
			t.Errorf("%s with a signed-out session: %v, want 401", m, a)
		}
	}
	// The audit log has the sign-ins and the sign-out, not the failures.
	var page wire.AuditPage
	h.Do("GET", "/api/audit?action=POST%20/api/session&limit=1000", nil, &page)
	ins := 0
	for _, e := range page.Entries {
		if e.Action == "POST /api/session" {
			ins++
			if e.Actor != "user:wang" || e.Status != 200 || e.Role != wire.RoleDispatcher {
				t.Errorf("sign-in entry %+v", e)
			}
		}
	}
	if ins != 2 {
		t.Errorf("%d sign-ins in the audit log, want the 2 that succeeded", ins)
	}
	h.Do("GET", "/api/audit?action=DELETE%20/api/session", nil, &page)
	if len(page.Entries) != 1 || page.Entries[0].Actor != "user:wang" || page.Entries[0].Status != 204 {
		t.Errorf("sign-out entries %+v", page.Entries)
	}
}

// After 3 failures in a row a name waits (429 with Retry-After), even with
// the right password; a success clears the count; an admin's reset of the
// password clears the wait; failures are in the hub's log. (The lock after
// 10, 15 min, is held to the schedule in access's unit tests, on a clock
// of their own: here it would take 4 min of waiting.)
func TestSignInBackoff(t *testing.T) {
	var logs syncBuffer
	h := hubtest.Start(t, func(c *hub.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	addUser(t, h, "li", wire.RoleViewer)
	try := func(password string) answer {
		return send(t, h, "POST", "/api/session", cred{}, wire.SignIn{Name: "li", Password: password})
	}
	fail := func(n int) {
		t.Helper()
		for i := range n {
			if a := try("not the password"); a.status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %v, want 401", i+1, a)
			}
		}
	}
	waiting := func() time.Duration {
		t.Helper()
		a := try(testPassword)
		secs, err := strconv.Atoi(a.header.Get("Retry-After"))
		if a.status != http.StatusTooManyRequests || err != nil || secs < 1 || secs > 2 || sessionCookie(a) != nil {
			t.Fatalf("the right password while backing off: %v, Retry-After %q; want 429 with 1–2 s", a, a.header.Get("Retry-After"))
		}
		return time.Duration(secs) * time.Second
	}
	fail(3)
	wait := waiting()
	time.Sleep(wait + 100*time.Millisecond)
	if a := try(testPassword); a.status != http.StatusOK {
		t.Fatalf("the right password after the wait: %v", a)
	}
	fail(2) // the count starts again: no wait yet
	if a := try(testPassword); a.status != http.StatusOK {
		t.Fatalf("after a success and 2 failures: %v, want a sign-in", a)
	}
	fail(3)
	waiting()
	var reset wire.Credentials
	if st := h.Do("POST", "/api/users/li/password", nil, &reset); st != http.StatusOK || len(reset.Password) != 16 {
		t.Fatalf("reset: %d %+v", st, reset)
	}
	if a := try(reset.Password); a.status != http.StatusOK {
		t.Errorf("the reset password at once: %v, want the wait cleared", a)
	}
	log := logs.String()
	for _, want := range []string{`msg="sign-in failed" component=access user=li addr=127.0.0.1 failures=1` + "\n",
		`msg="sign-in failed" component=access user=li addr=127.0.0.1 failures=3 retry_after=2s`} {
		if !strings.Contains(log, want) {
			t.Errorf("the hub's log lacks %q:\n%s", want, log)
		}
	}
}

// A one-time password: its session may read GET /api/session, change the
// password or sign out, and nothing else (403), until the change; then the
// person's other sessions end. The first admin's password works so too,
// and its file goes once it is changed. No password reaches the audit log.
func TestMustChangePassword(t *testing.T) {
	h := hubtest.Start(t, nil)
	var made wire.Credentials
	if st := h.Do("POST", "/api/users", wire.NewUser{Name: "sun", Role: wire.RoleCallTaker}, &made); st != http.StatusCreated ||
		len(made.Password) != 16 || made.Role != wire.RoleCallTaker {
		t.Fatalf("add user without a password: %d %+v, want one made", st, made)
	}
	s := signIn(t, h, "sun", made.Password)
	other := signIn(t, h, "sun", made.Password)
	var me wire.Session
	if a := send(t, h, "GET", "/api/session", s, nil); json.Unmarshal(a.body, &me) != nil || !me.MustChange {
		t.Errorf("GET /api/session: %v, want must_change", a)
	}
	for _, m := range []struct {
		method, path string
		body         any
	}{{"GET", "/api/units", nil}, {"GET", "/api/incidents", nil}, {"POST", "/api/incidents", newIncident},
		{"POST", "/api/stream/ticket", nil}} {
		if a := send(t, h, m.method, m.path, s, m.body); a.status != http.StatusForbidden || !strings.Contains(a.errorText(), "one-time password") {
			t.Errorf("%s %s before the change: %v, want 403", m.method, m.path, a)
		}
	}
	const newPW = "a new password of mine"
	for _, c := range []struct {
		body wire.PasswordChange
		want int
	}{
		{wire.PasswordChange{Old: made.Password, New: "short"}, 400},
		{wire.PasswordChange{Old: made.Password, New: made.Password}, 400},
		{wire.PasswordChange{Old: "not the old one", New: newPW}, 401},
		{wire.PasswordChange{Old: made.Password, New: newPW}, 204},
	} {
		if a := send(t, h, "POST", "/api/session/password", s, c.body); a.status != c.want {
			t.Errorf("change %+v: %v, want %d", c.body, a, c.want)
		}
	}
	if a := send(t, h, "GET", "/api/units", s, nil); a.status != http.StatusOK {
		t.Errorf("the changing session after the change: %v", a)
	}
	if a := send(t, h, "POST", "/api/incidents", s, newIncident); a.status != http.StatusCreated {
		t.Errorf("a call-taker's write after the change: %v", a)
	}
	if a := send(t, h, "GET", "/api/session", other, nil); a.status != http.StatusUnauthorized {
		t.Errorf("the person's other session after the change: %v, want 401", a)
	}
	if a := send(t, h, "POST", "/api/session", cred{}, wire.SignIn{Name: "sun", Password: made.Password}); a.status != http.StatusUnauthorized {
		t.Errorf("the one-time password after the change: %v", a)
	}
	signIn(t, h, "sun", newPW)

	// The first admin, made at the first start.
	file, _ := h.FirstAdmin()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("first admin's password file: %v", err)
	}
	first := strings.TrimSpace(string(b))
	adm := signIn(t, h, "admin", first)
	if a := send(t, h, "GET", "/api/users", adm, nil); a.status != http.StatusForbidden {
		t.Errorf("the first admin before changing the password: %v, want 403", a)
	}
	if a := send(t, h, "POST", "/api/session/password", adm, wire.PasswordChange{Old: first, New: newPW + "!"}); a.status != http.StatusNoContent {
		t.Fatalf("the first admin's change: %v", a)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("the first admin's password file after the change: %v", err)
	}
	if a := send(t, h, "GET", "/api/users", adm, nil); a.status != http.StatusOK {
		t.Errorf("the first admin after the change: %v", a)
	}

	raw, err := os.ReadFile(h.AuditFile())
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{made.Password, newPW, first, testPassword} {
		if bytes.Contains(raw, []byte(pw)) {
			t.Errorf("a password is in the audit log:\n%s", raw)
		}
	}
	if n := bytes.Count(raw, []byte(`"action":"POST /api/session/password"`)); n != 5 {
		t.Errorf("%d password changes audited, want the 5 calls that passed the guard", n)
	}
}

// A change of role applies to the next call; disabling an account, or an
// admin's reset of its password, ends its sessions at once; a revoked token
// fails at its next call.
func TestAccountChangesApplyAtOnce(t *testing.T) {
	h := hubtest.Start(t, nil)
	addUser(t, h, "zhou", wire.RoleDispatcher)
	s := signIn(t, h, "zhou", testPassword)
	setRole := func(role string) {
		t.Helper()
		if a := send(t, h, "PATCH", "/api/users/zhou", admin(h), map[string]any{"role": role}); a.status != http.StatusOK {
			t.Fatalf("role %s: %v", role, a)
		}
	}
	reopen := func() answer {
		return send(t, h, "POST", "/api/incidents/matrix-none/reopen", s, wire.Reopen{Reason: "x"})
	}
	if a := reopen(); a.status != http.StatusForbidden {
		t.Fatalf("a dispatcher reopening: %v", a)
	}
	setRole(wire.RoleSupervisor)
	if a := reopen(); a.status != http.StatusNotFound {
		t.Errorf("reopening right after being made supervisor: %v, want the handler's 404", a)
	}
	setRole(wire.RoleViewer)
	if a := send(t, h, "POST", "/api/incidents", s, newIncident); a.status != http.StatusForbidden ||
		!strings.Contains(a.errorText(), "zhou is a viewer") {
		t.Errorf("creating right after being made viewer: %v, want 403", a)
	}
	var me wire.Session
	if a := send(t, h, "GET", "/api/session", s, nil); json.Unmarshal(a.body, &me) != nil || me.Role != wire.RoleViewer {
		t.Errorf("GET /api/session after the change: %v", a)
	}

	disabled, enabled := true, false
	if a := send(t, h, "PATCH", "/api/users/zhou", admin(h), wire.UserChange{Disabled: &disabled}); a.status != http.StatusOK {
		t.Fatal(a)
	}
	if a := send(t, h, "GET", "/api/units", s, nil); a.status != http.StatusUnauthorized {
		t.Errorf("a session of a disabled account: %v, want 401", a)
	}
	if a := send(t, h, "PATCH", "/api/users/zhou", admin(h), wire.UserChange{Disabled: &enabled}); a.status != http.StatusOK {
		t.Fatal(a)
	}
	if a := send(t, h, "GET", "/api/units", s, nil); a.status != http.StatusUnauthorized {
		t.Errorf("the old session after enabling the account again: %v, want 401", a)
	}
	s = signIn(t, h, "zhou", testPassword)
	if a := send(t, h, "POST", "/api/users/zhou/password", admin(h), nil); a.status != http.StatusOK {
		t.Fatal(a)
	}
	if a := send(t, h, "GET", "/api/units", s, nil); a.status != http.StatusUnauthorized {
		t.Errorf("a session after an admin's reset of the password: %v, want 401", a)
	}

	tok, id := addToken(t, h, "cad", wire.RoleCallTaker)
	if a := send(t, h, "GET", "/api/units", tok, nil); a.status != http.StatusOK {
		t.Fatal(a)
	}
	if a := send(t, h, "DELETE", "/api/tokens/"+id, admin(h), nil); a.status != http.StatusNoContent {
		t.Fatal(a)
	}
	if a := send(t, h, "GET", "/api/units", tok, nil); a.status != http.StatusUnauthorized {
		t.Errorf("a revoked token: %v, want 401", a)
	}
	if a := send(t, h, "DELETE", "/api/tokens/"+id, admin(h), nil); a.status != http.StatusNoContent {
		t.Errorf("revoking a revoked token again: %v", a)
	}
	var list []wire.Token
	h.Do("GET", "/api/tokens", nil, &list)
	if len(list) != 1 || list[0].ID != id || list[0].Revoked == 0 || list[0].LastUsed == 0 || list[0].Role != wire.RoleCallTaker {
		t.Errorf("tokens %+v, want the one, revoked, with its last use", list)
	}
}

// accounts.json edited by another process — `hub user` on the hub's
// machine — is seen by the running hub within about a second.
func TestAccountsEditedByAnotherProcess(t *testing.T) {
	h := hubtest.Start(t, nil)
	other, err := access.OpenAccounts(h.Config.DataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := other.AddUser("Outsider", access.Dispatcher, testPassword, false, h.Config.PasswordHashing); err != nil {
		t.Fatal(err)
	}
	listed := func(name string) (wire.User, bool) {
		var users []wire.User
		h.Do("GET", "/api/users", nil, &users)
		for _, u := range users {
			if u.Name == name {
				return u, true
			}
		}
		return wire.User{}, false
	}
	hubtest.WaitFor(t, 3*time.Second, func() error {
		if _, ok := listed("outsider"); !ok {
			return fmt.Errorf("not yet seen")
		}
		return nil
	})
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("the hub saw another process's new account after %v, want within about 2 s", d)
	}
	s := signIn(t, h, "outsider", testPassword)
	if a := send(t, h, "POST", "/api/incidents", s, newIncident); a.status != http.StatusCreated {
		t.Errorf("the new account's write: %v", a)
	}
	// A role taken away by the other process.
	viewer := access.Viewer
	if _, err := other.Update("outsider", &viewer, nil); err != nil {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, 3*time.Second, func() error {
		if a := send(t, h, "GET", "/api/session", s, nil); !strings.Contains(string(a.body), `"role":"viewer"`) {
			return fmt.Errorf("session %v", a)
		}
		return nil
	})
	if a := send(t, h, "POST", "/api/incidents", s, newIncident); a.status != http.StatusForbidden {
		t.Errorf("a write after the other process made the account a viewer: %v", a)
	}
	// And the hub's own edit lands on what the other process wrote.
	addUser(t, h, "insider", wire.RoleViewer)
	if _, err := other.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := other.User("insider"); !ok {
		t.Error("the hub's new account is not in the file")
	}
	if u, ok := listed("outsider"); !ok || u.Role != wire.RoleViewer {
		t.Errorf("the hub's edit lost the other process's: %+v", u)
	}
}

// The timeline names who acted: user:NAME for a person's session,
// token:NAME for an API token.
func TestTimelineNamesThePerson(t *testing.T) {
	h := hubtest.Start(t, nil)
	unitAt(t, h, "car-1", "car", 0.002, 0)
	unitAt(t, h, "car-2", "car", 0.003, 0)
	addUser(t, h, "wang", wire.RoleDispatcher)
	s := signIn(t, h, "wang", testPassword)
	tok, _ := addToken(t, h, "cad110", wire.RoleDispatcher)
	for _, c := range []struct {
		cred  cred
		unit  string
		actor string
	}{{s, "car-1", "user:wang"}, {tok, "car-2", "token:cad110"}} {
		var inc wire.Incident
		a := send(t, h, "POST", "/api/incidents", c.cred, newIncident)
		if a.status != http.StatusCreated || json.Unmarshal(a.body, &inc) != nil {
			t.Fatalf("create as %s: %v", c.actor, a)
		}
		if a := send(t, h, "POST", "/api/incidents/"+inc.ID+"/assign", c.cred, map[string]string{"unit": c.unit}); a.status != http.StatusOK {
			t.Fatalf("assign as %s: %v", c.actor, a)
		}
		if a := send(t, h, "POST", "/api/incidents/"+inc.ID+"/close", c.cred, nil); a.status != http.StatusOK {
			t.Fatalf("close as %s: %v", c.actor, a)
		}
		got := getIncident(t, h, inc.ID)
		for _, typ := range []string{wire.EntryCreated, wire.EntryDispatched, wire.EntryClosed} {
			e := entryOf(got, typ)
			if e == nil || e.Actor != c.actor {
				t.Errorf("%s entry %+v, want actor %s", typ, e, c.actor)
			}
		}
		for _, a := range got.Assignments {
			if a.Unit == c.unit && a.By != c.actor {
				t.Errorf("assignment of %s by %q, want %s", a.Unit, a.By, c.actor)
			}
		}
		var page wire.AuditPage
		h.Do("GET", "/api/audit?action=POST%20/api/incidents", nil, &page)
		if e := page.Entries[0]; e.Action != "POST /api/incidents/{id}/close" || e.Actor != c.actor || e.Target != inc.ID {
			t.Errorf("the close's audit entry %+v, want %s on %s", e, c.actor, inc.ID)
		}
	}
}
