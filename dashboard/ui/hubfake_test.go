package ui

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	papi "kuaifan/protocol/api"
	"kuaifan/protocol/patrol"
)

// fakeHub is the hub's HTTP API and /ws as far as the dashboard uses them:
// people's sessions (a name and a password, the HttpOnly cookie, the CSRF
// token on every write, the one-time password, the back-off after failed
// sign-ins), the roles of each call, the bootstrap admin's Bearer token,
// single-use stream tickets, incidents, tracks. Each accepted websocket is
// handed to the test (conns) to script.
type fakeHub struct {
	t     *testing.T
	srv   *httptest.Server
	token string // the bootstrap admin's Bearer token

	mu         sync.Mutex
	users      map[string]*fakeUser
	sessions   map[string]*fakeSession // by cookie value
	failed     map[string]int          // failed sign-ins in a row, by name
	calls      []fakeCall              // every /api request
	tickets    map[string]bool         // issued and not yet used
	issued     int
	requests   []string // method + URL of every request
	authHeader []string // Authorization of every /api request
	wsQueries  []string // the query of every /ws request
	wsExt      []string // Sec-WebSocket-Extensions offered
	incidents  map[string]*Incident
	created    []papi.NewIncident
	assigned   []string // incident/unit
	closed     []string // incident ids, in order
	closeNotes []string
	reopened   []string // incident/reason
	trackSince []string
	// The chase: the camera set served, the sightings posted (and on which
	// incident), the dismissals (incident/note), and the unit the hub
	// offers after the next sighting ("" none).
	cameras   []papi.Camera
	sighted   []papi.Sighting
	sightedOn []string
	dismissed []string
	offerUnit string
	// Move-ups: what GET /api/moveups answers (nil: a hub without them,
	// 404), and each POST /api/units/{id}/reposition as "unit body".
	moveups      *papi.MoveUps
	repositioned []string
	// Patrol plans: what GET /api/patrols answers (nil: a hub without
	// them, 404), each plan's report of the shift running now for GET
	// /api/patrols/compliance (none: the hub's 400, no shift of the plan
	// runs now), how many times the plans were listed, and the plans whose
	// compliance was asked, in order.
	patrols     []patrol.Plan
	compliance  map[string]*patrol.Report
	patrolLists int
	patrolAsked []string

	conns chan *hubConn
}

// fakeUser is an account of the fake hub.
type fakeUser struct {
	password, role string
	mustChange     bool
}

// fakeSession is a signed-in browser: its cookie's value is the key.
type fakeSession struct {
	name, csrf string
}

// fakeCall is one /api request as the hub saw it.
type fakeCall struct {
	Method, Path string
	CSRF         string // the X-CSRF-Token sent ("" none)
	Cookie       bool   // the session cookie came with it
	Status       int    // 0 until answered by the handler; 401/403/429 when refused before
}

// The fake hub's people: a password works for wang, a supervisor (who may
// do all a dispatcher does, and reopen).
const (
	fakeName     = "wang"
	fakePassword = "correct-horse-1"
)

// hubConn is one accepted stream connection.
type hubConn struct {
	*websocket.Conn
	done chan struct{}
}

func (c *hubConn) send(t *testing.T, f any) {
	t.Helper()
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, data); err != nil {
		t.Errorf("hub write: %v", err)
	}
}

func (c *hubConn) end() {
	select {
	case <-c.done:
	default:
		close(c.done)
	}
}

func newFakeHub(t *testing.T) *fakeHub {
	h := &fakeHub{t: t, token: "s3cret-admin-token", tickets: map[string]bool{},
		users:     map[string]*fakeUser{fakeName: {password: fakePassword, role: papi.RoleSupervisor}},
		sessions:  map[string]*fakeSession{},
		failed:    map[string]int{},
		incidents: map[string]*Incident{}, conns: make(chan *hubConn, 16)}
	mux := http.NewServeMux()
	// route serves pattern to whoever may: the admin's Bearer token, or a
	// session whose role is at least need (a write with the CSRF token; a
	// one-time password only the session's own calls).
	route := func(pattern, need string, f func(w http.ResponseWriter, r *http.Request, who *fakeSession)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			c := fakeCall{Method: r.Method, Path: r.URL.Path, CSRF: r.Header.Get(papi.CSRFHeader)}
			cookie, cerr := r.Cookie(papi.SessionCookie)
			c.Cookie = cerr == nil
			h.mu.Lock()
			h.authHeader = append(h.authHeader, r.Header.Get("Authorization"))
			h.calls = append(h.calls, c)
			at := len(h.calls) - 1
			var sess *fakeSession
			var user *fakeUser
			if cerr == nil {
				if sess = h.sessions[cookie.Value]; sess != nil {
					user = h.users[sess.name]
				}
			}
			h.mu.Unlock()
			refuse := func(code int, msg string) {
				h.mu.Lock()
				h.calls[at].Status = code
				h.mu.Unlock()
				w.WriteHeader(code)
				json.NewEncoder(w).Encode(map[string]string{"error": msg})
			}
			if need == "" { // the sign-in itself
				f(w, r, nil)
				return
			}
			switch auth := r.Header.Get("Authorization"); {
			case auth == "Bearer "+h.currentToken():
				f(w, r, &fakeSession{name: "admin"})
				return
			case auth != "":
				refuse(http.StatusUnauthorized, "unknown token")
				return
			case user == nil:
				refuse(http.StatusUnauthorized, "no session")
				return
			case r.Method != "GET" && r.Method != "HEAD" && c.CSRF != sess.csrf:
				refuse(http.StatusForbidden, "missing or wrong "+papi.CSRFHeader)
				return
			case user.mustChange && need != "self":
				refuse(http.StatusForbidden, "change the one-time password first")
				return
			case need != "self" && !papi.RoleAtLeast(user.role, need):
				refuse(http.StatusForbidden, r.Method+" "+r.URL.Path+" needs the "+need+" role; "+sess.name+" is a "+user.role)
				return
			}
			f(w, r, sess)
		})
	}
	api := func(pattern string, f http.HandlerFunc) {
		need := papi.RoleViewer
		switch pattern {
		case "POST /api/incidents", "POST /api/incidents/{id}/sightings":
			need = papi.RoleCallTaker
		case "POST /api/incidents/{id}/assign", "POST /api/incidents/{id}/close", "POST /api/incidents/{id}/offer/dismiss",
			"POST /api/units/{id}/reposition":
			need = papi.RoleDispatcher
		case "POST /api/incidents/{id}/reopen":
			need = papi.RoleSupervisor
		}
		route(pattern, need, func(w http.ResponseWriter, r *http.Request, _ *fakeSession) { f(w, r) })
	}
	h.sessionRoutes(route)
	api("POST /api/stream/ticket", func(w http.ResponseWriter, r *http.Request) {
		tk := randHex()
		h.mu.Lock()
		h.tickets[tk] = true
		h.issued++
		h.mu.Unlock()
		json.NewEncoder(w).Encode(papi.Ticket{Ticket: tk, Expires: time.Now().Add(30 * time.Second).UnixMilli(), ExpiresInS: 30})
	})
	api("GET /api/districts", func(w http.ResponseWriter, r *http.Request) {
		data, err := os.ReadFile(hubDistricts)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/geo+json")
		w.Write(data)
	})
	api("GET /api/incidents", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		out := []Incident{}
		for _, inc := range h.incidents {
			out = append(out, *inc)
		}
		json.NewEncoder(w).Encode(out)
	})
	api("POST /api/incidents", func(w http.ResponseWriter, r *http.Request) {
		var n papi.NewIncident
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil || n.Priority < 1 || n.Priority > 3 {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "bad incident"})
			return
		}
		h.mu.Lock()
		h.created = append(h.created, n)
		inc := &Incident{ID: "inc-" + string(rune('0'+len(h.created))), Status: papi.IncidentOpen, Lat: n.Lat, Lon: n.Lon, Kind: n.Kind,
			Priority: n.Priority, Summary: n.Summary, Needs: n.Needs, Created: time.Now().UnixMilli(),
			Timeline:        []Entry{{TS: time.Now().UnixMilli(), Type: "created", Actor: "dispatcher"}},
			Recommendations: []papi.Recommendation{{Candidate: papi.Candidate{Unit: "car-1", Type: "car", ETAS: 42, Tier: 1, DistanceM: 250}}}}
		h.incidents[inc.ID] = inc
		h.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(inc)
	})
	api("GET /api/incidents/{id}", func(w http.ResponseWriter, r *http.Request) {
		// Encoded under the lock: the other handlers change the incident
		// in place.
		h.mu.Lock()
		defer h.mu.Unlock()
		inc := h.incidents[r.PathValue("id")]
		if inc == nil {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": "no incident"})
			return
		}
		json.NewEncoder(w).Encode(inc)
	})
	api("POST /api/incidents/{id}/assign", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Unit string }
		json.NewDecoder(r.Body).Decode(&body)
		h.mu.Lock()
		defer h.mu.Unlock()
		inc := h.incidents[r.PathValue("id")]
		if body.Unit == "busy-unit" {
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]string{"error": "unit busy-unit is not available"})
			return
		}
		h.assigned = append(h.assigned, r.PathValue("id")+"/"+body.Unit)
		inc.Status = papi.IncidentDispatched
		inc.Assignments = append(inc.Assignments, papi.Assignment{Unit: body.Unit, State: papi.AssignDispatched, By: "dispatcher", Tier: 1})
		e := Entry{Type: "dispatched", Unit: body.Unit, Actor: "dispatcher"}
		if inc.Offer != nil && inc.Offer.Unit == body.Unit {
			e.Reason = papi.ReasonOfferTaken
			inc.Offer = nil
		}
		inc.Timeline = append(inc.Timeline, e)
		json.NewEncoder(w).Encode(inc)
	})
	api("POST /api/incidents/{id}/close", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Note string }
		json.NewDecoder(r.Body).Decode(&body) // an empty body is a close without a note
		h.mu.Lock()
		defer h.mu.Unlock()
		inc := h.incidents[r.PathValue("id")]
		if inc == nil {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": "no incident"})
			return
		}
		h.closed = append(h.closed, inc.ID)
		h.closeNotes = append(h.closeNotes, body.Note)
		inc.Status = papi.IncidentClosed
		inc.Closed = time.Now().UnixMilli()
		inc.Timeline = append(inc.Timeline, Entry{Type: "closed", Actor: "dispatcher"})
		json.NewEncoder(w).Encode(inc)
	})
	api("POST /api/incidents/{id}/reopen", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Reason string }
		json.NewDecoder(r.Body).Decode(&body)
		h.mu.Lock()
		defer h.mu.Unlock()
		inc := h.incidents[r.PathValue("id")]
		switch {
		case inc == nil:
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": "no incident"})
			return
		case inc.Status != papi.IncidentClosed:
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]string{"error": "incident " + inc.ID + " is not closed"})
			return
		}
		h.reopened = append(h.reopened, inc.ID+"/"+body.Reason)
		inc.Status, inc.Closed = papi.IncidentOpen, 0
		inc.Timeline = append(inc.Timeline, Entry{Type: "reopened", Actor: "dispatcher", Reason: "reopened",
			Params: &papi.Params{Note: body.Reason}})
		json.NewEncoder(w).Encode(inc)
	})
	api("GET /api/cameras", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		out := h.cameras
		if out == nil {
			out = []papi.Camera{}
		}
		json.NewEncoder(w).Encode(out)
	})
	api("POST /api/incidents/{id}/sightings", func(w http.ResponseWriter, r *http.Request) {
		var s papi.Sighting
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		bad := func(msg string) {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": msg})
		}
		if err := dec.Decode(&s); err != nil {
			bad(err.Error())
			return
		}
		if err := s.Check(); err != nil {
			bad(err.Error())
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if s.Camera != "" && !slices.ContainsFunc(h.cameras, func(c papi.Camera) bool { return c.ID == s.Camera }) {
			bad("unknown camera " + s.Camera)
			return
		}
		inc := h.incidents[r.PathValue("id")]
		if inc == nil {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": "no incident"})
			return
		}
		h.sighted = append(h.sighted, s)
		h.sightedOn = append(h.sightedOn, inc.ID)
		now := time.Now().UnixMilli()
		inc.Lat, inc.Lon = s.Lat, s.Lon
		inc.Timeline = append(inc.Timeline, Entry{TS: now, Type: papi.EntrySighting, Actor: "dispatcher", Reason: papi.ReasonSighted,
			Params: &papi.Params{Lat: &s.Lat, Lon: &s.Lon, Source: s.Source, Note: s.Note, Camera: s.Camera}})
		for _, a := range inc.Assignments {
			if a.State == papi.AssignDispatched || a.State == papi.AssignEnroute {
				inc.Timeline = append(inc.Timeline, Entry{TS: now, Type: papi.EntryUpdateLocation, Unit: a.Unit, Actor: "auto",
					Reason: papi.ReasonRetargeted, Params: &papi.Params{Lat: &s.Lat, Lon: &s.Lon}})
			}
		}
		inc.Offer = nil
		if h.offerUnit != "" {
			inc.Offer = &papi.Offer{Unit: h.offerUnit, ETAS: 40, BestETAS: 300, Sighting: now}
			inc.Timeline = append(inc.Timeline, Entry{TS: now, Type: papi.EntryOffered, Unit: h.offerUnit, Actor: "auto", Reason: papi.ReasonSooner})
		}
		json.NewEncoder(w).Encode(inc)
	})
	api("POST /api/incidents/{id}/offer/dismiss", func(w http.ResponseWriter, r *http.Request) {
		var body papi.DismissOffer
		json.NewDecoder(r.Body).Decode(&body)
		h.mu.Lock()
		defer h.mu.Unlock()
		inc := h.incidents[r.PathValue("id")]
		if inc == nil || inc.Offer == nil {
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]string{"error": "no offer on this incident"})
			return
		}
		h.dismissed = append(h.dismissed, inc.ID+"/"+body.Note)
		inc.Timeline = append(inc.Timeline, Entry{TS: time.Now().UnixMilli(), Type: papi.EntryOfferDismissed, Unit: inc.Offer.Unit,
			Actor: "dispatcher", Reason: papi.ReasonDismissed, Params: &papi.Params{Note: body.Note}})
		inc.Offer = nil
		json.NewEncoder(w).Encode(inc)
	})
	api("GET /api/units/{id}/track", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.trackSince = append(h.trackSince, r.PathValue("id")+"@"+r.URL.Query().Get("since"))
		h.mu.Unlock()
		json.NewEncoder(w).Encode([]papi.TrackPoint{{Seq: 1, TS: 1, Lat: 28.19, Lon: 112.97}, {Seq: 2, TS: 2, Lat: 28.195, Lon: 112.975}})
	})
	api("GET /api/moveups", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		m := h.moveups
		h.mu.Unlock()
		if m == nil {
			http.NotFound(w, r) // a hub from before move-ups: no such route
			return
		}
		json.NewEncoder(w).Encode(m)
	})
	api("POST /api/units/{id}/reposition", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req papi.RepositionRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		id := r.PathValue("id")
		if id == "busy-unit" {
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]string{"error": "unit busy-unit is not free"})
			return
		}
		h.mu.Lock()
		h.repositioned = append(h.repositioned, id+" "+string(body))
		h.mu.Unlock()
		json.NewEncoder(w).Encode(papi.Reposition{ID: "mu-1", Lat: req.Lat, Lon: req.Lon, Note: req.Note, By: "user:" + fakeName,
			Sent: time.Now().UnixMilli()})
	})
	api("GET /api/patrols", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.patrols == nil {
			http.NotFound(w, r) // a hub from before patrol plans: no such route
			return
		}
		h.patrolLists++
		json.NewEncoder(w).Encode(h.patrols)
	})
	api("GET /api/patrols/compliance", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("plan")
		h.mu.Lock()
		defer h.mu.Unlock()
		h.patrolAsked = append(h.patrolAsked, id)
		if !slices.ContainsFunc(h.patrols, func(p patrol.Plan) bool { return p.ID == id }) {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": "patrol: no plan " + strconv.Quote(id)})
			return
		}
		rep := h.compliance[id]
		if rep == nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "shift: no shift of plan " + strconv.Quote(id) + " runs now; name a shift and a date"})
			return
		}
		json.NewEncoder(w).Encode(rep)
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		tk := r.URL.Query().Get("ticket")
		h.mu.Lock()
		h.wsQueries = append(h.wsQueries, r.URL.RawQuery)
		h.wsExt = append(h.wsExt, r.Header.Get("Sec-WebSocket-Extensions"))
		ok := h.tickets[tk]
		delete(h.tickets, tk) // single use
		h.mu.Unlock()
		if !ok {
			http.Error(w, `{"error":"bad ticket"}`, http.StatusUnauthorized)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		// Like the hub: send-only, so read in the background for control frames.
		ctx := c.CloseRead(r.Context())
		hc := &hubConn{Conn: c, done: make(chan struct{})}
		h.conns <- hc
		select {
		case <-hc.done:
		case <-ctx.Done():
		}
		c.CloseNow()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.requests = append(h.requests, r.Method+" "+r.URL.String())
		h.mu.Unlock()
		http.NotFound(w, r)
	})
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.requests = append(h.requests, r.Method+" "+r.URL.String())
		h.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		for {
			select {
			case c := <-h.conns:
				c.end()
				continue
			default:
			}
			break
		}
		h.srv.CloseClientConnections()
		h.srv.Close()
	})
	return h
}

// sessionRoutes serves the people's calls: sign in, who, sign out, the
// password's change.
func (h *fakeHub) sessionRoutes(route func(string, string, func(http.ResponseWriter, *http.Request, *fakeSession))) {
	answer := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		if v != nil {
			json.NewEncoder(w).Encode(v)
		}
	}
	session := func(s *fakeSession, u *fakeUser) papi.Session {
		return papi.Session{Name: s.name, Role: u.role, CSRF: s.csrf, MustChange: u.mustChange,
			Expires: time.Now().Add(12 * time.Hour).UnixMilli(), IdleS: 1800}
	}
	route("POST /api/session", "", func(w http.ResponseWriter, r *http.Request, _ *fakeSession) {
		var in papi.SignIn
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || r.Header.Get("Content-Type") != "application/json" {
			answer(w, http.StatusBadRequest, papi.Error{Error: "bad sign-in"})
			return
		}
		name := strings.ToLower(in.Name)
		h.mu.Lock()
		defer h.mu.Unlock()
		if n := h.failed[name]; n >= 3 {
			wait := 1 << (n - 2) // 2, 4, 8… s
			w.Header().Set("Retry-After", strconv.Itoa(wait))
			answer(w, http.StatusTooManyRequests, papi.Error{Error: "too many failed sign-ins for " + name + ": wait " + strconv.Itoa(wait) + " s"})
			return
		}
		u := h.users[name]
		if u == nil || u.password != in.Password {
			h.failed[name]++
			answer(w, http.StatusUnauthorized, papi.Error{Error: "wrong name or password"})
			return
		}
		delete(h.failed, name)
		s := &fakeSession{name: name, csrf: randHex()}
		id := randHex()
		h.sessions[id] = s
		http.SetCookie(w, &http.Cookie{Name: papi.SessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		answer(w, http.StatusOK, session(s, u))
	})
	route("GET /api/session", "self", func(w http.ResponseWriter, r *http.Request, s *fakeSession) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if u := h.users[s.name]; u != nil {
			answer(w, http.StatusOK, session(s, u))
			return
		}
		answer(w, http.StatusOK, papi.Session{Name: s.name, Role: papi.RoleAdmin, Token: true})
	})
	route("DELETE /api/session", "self", func(w http.ResponseWriter, r *http.Request, s *fakeSession) {
		h.mu.Lock()
		for id, other := range h.sessions {
			if other == s {
				delete(h.sessions, id)
			}
		}
		h.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: papi.SessionCookie, Value: "", Path: "/", MaxAge: -1})
		w.WriteHeader(http.StatusNoContent)
	})
	route("POST /api/session/password", "self", func(w http.ResponseWriter, r *http.Request, s *fakeSession) {
		var in papi.PasswordChange
		json.NewDecoder(r.Body).Decode(&in)
		h.mu.Lock()
		defer h.mu.Unlock()
		u := h.users[s.name]
		switch {
		case u == nil:
			answer(w, http.StatusBadRequest, papi.Error{Error: "a token has no password"})
		case u.password != in.Old:
			h.failed[s.name]++
			answer(w, http.StatusUnauthorized, papi.Error{Error: "wrong password"})
		case len(in.New) < 10 || in.New == in.Old:
			answer(w, http.StatusBadRequest, papi.Error{Error: "the new password is too short or the same"})
		default:
			u.password, u.mustChange = in.New, false
			for id, other := range h.sessions { // the person's other sessions end
				if other.name == s.name && other != s {
					delete(h.sessions, id)
				}
			}
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

func randHex() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// addUser makes (or replaces) an account.
func (h *fakeHub) addUser(name, role, password string, mustChange bool) {
	h.mu.Lock()
	h.users[name] = &fakeUser{password: password, role: role, mustChange: mustChange}
	h.mu.Unlock()
}

// endSessions signs everyone out on the hub (an admin disabled them, the
// hub restarted).
func (h *fakeHub) endSessions() {
	h.mu.Lock()
	clear(h.sessions)
	h.mu.Unlock()
}

// setRole changes an account's role (its sessions go on).
func (h *fakeHub) setRole(name, role string) {
	h.mu.Lock()
	h.users[name].role = role
	h.mu.Unlock()
}

// sessionCount is how many sessions the hub holds.
func (h *fakeHub) sessionCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// callsSoFar are the /api calls made so far (a copy).
func (h *fakeHub) callsSoFar() []fakeCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

func (h *fakeHub) currentToken() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.token
}

func (h *fakeHub) setToken(tok string) {
	h.mu.Lock()
	h.token = tok
	h.mu.Unlock()
}

// conn waits for the next stream connection.
func (h *fakeHub) conn(t *testing.T) *hubConn {
	t.Helper()
	select {
	case c := <-h.conns:
		t.Cleanup(c.end)
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no stream connection")
		return nil
	}
}

// tokenNeverInURLs checks the pitfall every sign-in design has: no
// credential — the admin's token, a password, a session's cookie or CSRF
// token — may be in any URL (URLs end up in logs).
func (h *fakeHub) tokenNeverInURLs(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	secrets := []string{h.token}
	for _, u := range h.users {
		secrets = append(secrets, u.password)
	}
	for id, s := range h.sessions {
		secrets = append(secrets, id, s.csrf)
	}
	for _, r := range h.requests {
		for _, s := range secrets {
			if strings.Contains(r, s) {
				t.Errorf("a credential is in a URL: %s", r)
			}
		}
	}
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
