package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"kuaifan/hub/internal/access"
	"kuaifan/hub/internal/clip"
	wire "kuaifan/protocol/api"
)

// Route is one endpoint with its rule: the least role that may call it.
// Every endpoint the API serves is a Route, so none is served without a
// rule.
type Route struct {
	Method string
	Path   string      // a net/http pattern's path: "/api/incidents/{id}/assign"
	Need   access.Role // access.Public: anyone, no credentials
	// Own: the handler authenticates the call itself (the live stream with
	// its tickets, the phones with their unit's secret, the sign-in).
	Own bool
	// Read marks a POST that changes nothing (a stream ticket, a QR code):
	// it is not audited.
	Read bool
	// Secret keeps the request's body out of the audit log (passwords,
	// secrets, tokens): the handler names what it did instead.
	Secret bool
	// Unchanged: allowed while the person must still change their
	// one-time password.
	Unchanged bool

	handler http.Handler
}

// Audited reports whether a call of the route writes an audit entry.
func (rt Route) Audited() bool {
	return rt.Method != http.MethodGet && rt.Method != http.MethodHead && !rt.Read && !rt.Own && rt.Need != access.Public
}

// routes is the table of every endpoint, for the configuration given.
func (s *server) routes() []Route {
	v, ct, d, sv, ad := access.Viewer, access.CallTaker, access.Dispatcher, access.Supervisor, access.Admin
	h := func(f http.HandlerFunc) http.Handler { return f }
	rs := []Route{
		{Method: "GET", Path: "/healthz", Need: access.Public, handler: h(s.health)},
		{Method: "POST", Path: "/api/session", Need: access.Public, Own: true, handler: h(s.signIn)},
		{Method: "GET", Path: "/api/session", Need: v, Unchanged: true, handler: h(s.whoAmI)},
		{Method: "DELETE", Path: "/api/session", Need: v, Unchanged: true, handler: h(s.signOut)},
		{Method: "POST", Path: "/api/session/password", Need: v, Unchanged: true, Secret: true, handler: h(s.changePassword)},
		{Method: "GET", Path: "/api/users", Need: ad, handler: h(s.listUsers)},
		{Method: "POST", Path: "/api/users", Need: ad, Secret: true, handler: h(s.addUser)},
		{Method: "PATCH", Path: "/api/users/{name}", Need: ad, handler: h(s.updateUser)},
		{Method: "POST", Path: "/api/users/{name}/password", Need: ad, Secret: true, handler: h(s.resetPassword)},
		{Method: "GET", Path: "/api/tokens", Need: ad, handler: h(s.listTokens)},
		{Method: "POST", Path: "/api/tokens", Need: ad, Secret: true, handler: h(s.createToken)},
		{Method: "DELETE", Path: "/api/tokens/{id}", Need: ad, handler: h(s.revokeToken)},
		{Method: "GET", Path: "/api/audit", Need: ad, handler: h(s.auditLog)},

		{Method: "GET", Path: "/api/units", Need: v, handler: h(s.listUnits)},
		{Method: "POST", Path: "/api/units", Need: ad, handler: h(s.enrol)},
		{Method: "GET", Path: "/api/units/{id}", Need: v, handler: h(s.getUnit)},
		{Method: "DELETE", Path: "/api/units/{id}", Need: ad, handler: h(s.revoke)},
		{Method: "GET", Path: "/api/units/{id}/track", Need: v, handler: h(s.track)},
		{Method: "POST", Path: "/api/units/{id}/secret", Need: ad, handler: h(s.rotateSecret)},
		{Method: "GET", Path: "/api/broker-config", Need: ad, handler: h(s.brokerConfig)},
		{Method: "GET", Path: "/api/match", Need: v, handler: h(s.match)},
		{Method: "GET", Path: "/api/districts", Need: v, handler: h(s.districts)},
		{Method: "GET", Path: "/api/cameras", Need: v, handler: h(s.cameras)},
		{Method: "POST", Path: "/api/qr", Need: v, Read: true, handler: h(s.qr)},
	}
	if s.Metrics != nil {
		rs = append(rs, Route{Method: "GET", Path: "/metrics", Need: access.Public, handler: s.Metrics})
	}
	if s.History != nil {
		rs = append(rs, Route{Method: "GET", Path: "/api/history", Need: v, handler: h(s.history)})
	}
	if s.Coverage != nil {
		rs = append(rs, Route{Method: "GET", Path: "/api/coverage", Need: v, handler: h(s.coverage)},
			Route{Method: "GET", Path: "/api/moveups", Need: v, handler: h(s.moveUps)})
	}
	if s.Patrols != nil {
		rs = append(rs,
			Route{Method: "GET", Path: "/api/patrols", Need: v, handler: h(s.listPatrols)},
			Route{Method: "GET", Path: "/api/patrols/compliance", Need: v, handler: h(s.compliance)},
			Route{Method: "GET", Path: "/api/patrols/{id}", Need: v, handler: h(s.getPatrol)},
			Route{Method: "PUT", Path: "/api/patrols/{id}", Need: sv, handler: h(s.putPatrol)},
			Route{Method: "DELETE", Path: "/api/patrols/{id}", Need: sv, handler: h(s.deletePatrol)},
			Route{Method: "GET", Path: "/api/units/{id}/tasks", Need: v, handler: h(s.unitTasks)},
		)
	}
	if s.Dispatch != nil {
		rs = append(rs,
			Route{Method: "GET", Path: "/api/incidents", Need: v, handler: h(s.listIncidents)},
			Route{Method: "POST", Path: "/api/incidents", Need: ct, handler: h(s.createIncident)},
			Route{Method: "GET", Path: "/api/incidents/{id}", Need: v, handler: h(s.getIncident)},
			Route{Method: "POST", Path: "/api/incidents/{id}/sightings", Need: ct, handler: h(s.sighting)},
			Route{Method: "POST", Path: "/api/incidents/{id}/assign", Need: d, handler: h(s.assign)},
			Route{Method: "POST", Path: "/api/incidents/{id}/offer/dismiss", Need: d, handler: h(s.dismissOffer)},
			Route{Method: "POST", Path: "/api/incidents/{id}/close", Need: d, handler: h(s.closeIncident)},
			Route{Method: "POST", Path: "/api/incidents/{id}/reopen", Need: sv, handler: h(s.reopen)},
			Route{Method: "POST", Path: "/api/units/{id}/reposition", Need: d, handler: h(s.reposition)},
			Route{Method: "DELETE", Path: "/api/units/{id}/reposition", Need: d, handler: h(s.withdrawReposition)},
			Route{Method: "GET", Path: "/api/kpi", Need: v, handler: h(s.kpi)},
			Route{Method: "GET", Path: "/api/incidents/export", Need: v, handler: h(s.incidentsExport)},
			Route{Method: "GET", Path: "/api/incidents/search", Need: v, handler: h(s.search)},
			Route{Method: "GET", Path: "/api/report/daily", Need: v, handler: h(s.dailyReport)},
			Route{Method: "GET", Path: "/api/incidents/{id}/replay", Need: v, handler: h(s.replay)},
		)
	}
	if s.Stream != nil {
		rs = append(rs,
			Route{Method: "GET", Path: "/ws", Need: v, Own: true, handler: s.Stream},
			Route{Method: "POST", Path: "/api/stream/ticket", Need: v, Read: true, handler: h(s.ticket)},
		)
	}
	if s.Phones != nil {
		for _, m := range []string{"GET", "POST"} {
			rs = append(rs, Route{Method: m, Path: "/api/phones/", Need: access.Public, Own: true, handler: s.Phones})
		}
	}
	return rs
}

type principalKey struct{}

// principal is who makes the call, as guard found it.
func principal(r *http.Request) access.Principal {
	p, _ := r.Context().Value(principalKey{}).(access.Principal)
	return p
}

// actor is how the timeline names who makes the call.
func actor(r *http.Request) string { return principal(r).Actor() }

// auditNote is what a handler adds to its call's audit entry.
type auditNote struct {
	target string
}

type noteKey struct{}

// noteTarget names the id a call acted on when the path does not (a
// creation).
func noteTarget(r *http.Request, id string) {
	if n, ok := r.Context().Value(noteKey{}).(*auditNote); ok {
		n.target = id
	}
}

// guard authenticates and authorises a call of rt, then runs it, with an
// audit entry when rt writes.
func (s *server) guard(rt Route) http.Handler {
	if rt.Need == access.Public || rt.Own {
		return rt.handler
	}
	next := rt.handler
	if rt.Audited() {
		next = s.audited(rt, next)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Access.Authenticate(r)
		if err != nil {
			s.refuse(w, http.StatusUnauthorized, err.Error())
			return
		}
		if !p.Role.Allows(rt.Need) {
			s.Logger.Warn("api: refused: role", "actor", p.Actor(), "role", p.Role.String(), "need", rt.Need.String(),
				"method", r.Method, "path", r.URL.Path, "addr", r.RemoteAddr)
			s.refuse(w, http.StatusForbidden, rt.Method+" "+rt.Path+" needs the "+rt.Need.String()+" role; "+
				p.Name+" is a "+p.Role.String())
			return
		}
		if p.MustChange && !rt.Unchanged {
			s.refuse(w, http.StatusForbidden, "change your one-time password first (POST /api/session/password)")
			return
		}
		if rt.Method != http.MethodGet && rt.Method != http.MethodHead && !s.Access.CSRFOK(p, r.Header.Get(wire.CSRFHeader)) {
			s.Logger.Warn("api: refused: CSRF token", "actor", p.Actor(), "method", r.Method, "path", r.URL.Path, "addr", r.RemoteAddr)
			s.refuse(w, http.StatusForbidden, "a write with the session cookie needs the session's CSRF token in "+wire.CSRFHeader)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// refuse answers a call that is not let in, without waiting for its body.
func (s *server) refuse(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kuaifan"`)
	}
	// net/http reads what a handler left unread (up to 256 KiB) before it
	// writes the answer, unless that says "Connection: close", and again
	// when it closes the body after the handler, which the deadline cuts
	// short: a client trickling a body held the connection and never heard
	// the refusal. Now it goes out as the handler returns.
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(refusalGrace))
	writeError(w, status, msg)
}

// audit appends the entry of a call by p (Seq, TS and Prev are the log's).
func (s *server) audit(r *http.Request, p access.Principal, action string, e wire.AuditEntry) {
	e.Actor, e.Role, e.Addr, e.Action = p.Actor(), p.Role.String(), r.RemoteAddr, action
	if _, err := s.Audit.Append(e); err != nil {
		s.Logger.Error("api: the audit entry of a write could not be written", "action", action,
			"actor", e.Actor, "status", e.Status, "err", err)
	}
}

// maxAuditBody bounds the request body an audit entry keeps.
const maxAuditBody = 1 << 10

// audited writes the call's audit entry, on disk before its answer goes out:
// the answer is held until then.
func (s *server) audited(rt Route, next http.Handler) http.Handler {
	action := rt.Method + " " + rt.Path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Audit == nil {
			next.ServeHTTP(w, r)
			return
		}
		var body *capped
		if !rt.Secret && r.Body != nil {
			body = &capped{max: maxAuditBody}
			r.Body = teeBody{r.Body, body}
		}
		note := &auditNote{}
		r = r.WithContext(context.WithValue(r.Context(), noteKey{}, note))
		rec := &held{header: w.Header(), status: http.StatusOK}
		next.ServeHTTP(rec, r)

		e := wire.AuditEntry{Target: note.target, Status: rec.status}
		if e.Target == "" {
			e.Target = r.PathValue("id") + r.PathValue("name")
		}
		if rec.status >= 400 {
			var msg wire.Error
			if json.Unmarshal(rec.body.Bytes(), &msg) == nil {
				e.Error = msg.Error
			}
		}
		if body != nil && body.buf.Len() > 0 {
			e.Body = clip.To(strings.TrimSpace(body.buf.String()), maxAuditBody)
		}
		s.audit(r, principal(r), action, e)
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

// held is a ResponseWriter that keeps the answer until the audit entry is
// written. Headers go to the real writer's map at once; they are sent with
// the status.
type held struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (h *held) Header() http.Header { return h.header }
func (h *held) WriteHeader(status int) {
	if !h.wrote {
		h.status, h.wrote = status, true
	}
}
func (h *held) Write(b []byte) (int, error) {
	h.wrote = true
	return h.body.Write(b)
}

// capped keeps the first max bytes written to it.
type capped struct {
	buf bytes.Buffer
	max int
}

func (c *capped) Write(b []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(b[:min(room, len(b))])
	}
	return len(b), nil
}

// teeBody copies what the handler reads of the body into a capped buffer.
type teeBody struct {
	io.ReadCloser
	copy *capped
}

func (t teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	t.copy.Write(p[:n])
	return n, err
}
