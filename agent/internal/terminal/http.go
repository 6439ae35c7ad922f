package terminal

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"

	"kuaifan/protocol"
)

// maxBody bounds a request body: the largest one is {"status":"off_duty"}.
const maxBody = 4 << 10

const healthzPath = "/v1/healthz"

// The incident actions, by the last segment of their route.
var actions = map[string]func(o Officer, incident, reason string) error{
	"ack":     func(o Officer, id, _ string) error { return o.Ack(id) },
	"decline": Officer.Decline,
	"arrived": func(o Officer, id, _ string) error { return o.Arrived(id) },
	"cleared": func(o Officer, id, _ string) error { return o.Cleared(id) },
}

// maxReason bounds a decline's reason: a word from the page's list.
const maxReason = 64

// declineBody is POST /v1/incidents/{id}/decline's optional body.
type declineBody struct {
	Reason string `json:"reason"`
}

// repositionBody is POST /v1/reposition/arrived's optional body: the
// move-up the officer saw, so a tap on a card the hub replaced meanwhile
// reports nothing (409).
type repositionBody struct {
	ID string `json:"id"`
}

// tasksBody is GET /v1/tasks's answer: an object rather than a bare list,
// so that the answer can grow as the state did.
type tasksBody struct {
	Tasks []Task `json:"tasks"`
}

// statusBody is GET /v1/status's answer, PUT /v1/status's request, and the
// answer to every change: the status the unit is in afterwards.
type statusBody struct {
	Status protocol.Status `json:"status"`
}

type errorBody struct {
	Error string `json:"error"`
}

// newHandler builds the routes inside the checks. Order matters: the host
// and origin checks come before the token so a web page learns nothing, and
// the token before routing so an unauthorised caller cannot probe routes.
func (s *Server) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+healthzPath, s.healthz)
	mux.HandleFunc("GET /v1/assignment", s.getAssignment)
	mux.HandleFunc("GET /v1/status", s.getStatus)
	mux.HandleFunc("GET /v1/state", s.getState)
	mux.HandleFunc("PUT /v1/status", s.putStatus)
	mux.HandleFunc("POST /v1/incidents/{id}/{action}", s.incidentAction)
	mux.HandleFunc("POST /v1/sos", s.sos)
	mux.HandleFunc("GET /v1/reposition", s.getReposition)
	mux.HandleFunc("POST /v1/reposition/arrived", s.repositionArrived)
	mux.HandleFunc("GET /v1/tasks", s.getTasks)
	// Same paths, other methods: the mux's own 405 is plain text.
	mux.Handle(healthzPath, methodNotAllowed("GET, HEAD"))
	mux.Handle("/v1/assignment", methodNotAllowed("GET, HEAD"))
	mux.Handle("/v1/status", methodNotAllowed("GET, HEAD, PUT"))
	mux.Handle("/v1/sos", methodNotAllowed("POST"))
	mux.Handle("/v1/state", methodNotAllowed("GET, HEAD"))
	mux.Handle("/v1/reposition", methodNotAllowed("GET, HEAD"))
	mux.Handle("/v1/reposition/arrived", methodNotAllowed("POST"))
	mux.Handle("/v1/tasks", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("/v1/incidents/{id}/{action}", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := actions[r.PathValue("action")]; !ok {
			writeError(w, http.StatusNotFound, "no such route")
			return
		}
		methodNotAllowed("POST").ServeHTTP(w, r)
	})
	notFound := func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such route")
	}
	mux.HandleFunc("/v1/", notFound)

	var api http.Handler = mux
	api = commonHeaders(s.requireToken(api))
	if s.cfg.Page == nil {
		mux.HandleFunc("/", notFound)
		return s.checkOrigin(api)
	}
	// The page is outside /v1/ and needs no token: it holds no secret, and
	// it must load before the officer can give one (see README, "The
	// officer's page"). It gets the host check all the same.
	top := http.NewServeMux()
	top.Handle("/v1/", api)
	top.Handle("/", s.cfg.Page)
	return s.checkOrigin(top)
}

func commonHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// checkOrigin refuses what a web page in the device's browser could send: a
// Host that is not loopback (DNS rebinding: evil.example resolving to
// 127.0.0.1) unless AllowRemote, and a cross-origin POST or PUT (a form).
func (s *Server) checkOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.AllowRemote && !loopbackHostHeader(r.Host) {
			s.log.Warn("terminal: refused host", "host", r.Host, "remote", r.RemoteAddr)
			writeError(w, http.StatusForbidden, "host not allowed: use localhost or a loopback address")
			return
		}
		if err := cop.Check(r); err != nil {
			s.log.Warn("terminal: refused cross-origin request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			writeError(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHostHeader reports whether a request's Host names loopback. An
// absent Host (HTTP/1.0) cannot come from a browser and is allowed.
func loopbackHostHeader(host string) bool {
	if host == "" {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	return loopbackHost(host)
}

func (s *Server) requireToken(next http.Handler) http.Handler {
	if s.tokenHash == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == healthzPath {
			next.ServeHTTP(w, r)
			return
		}
		auth := r.Header.Get("Authorization")
		if auth == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kuaifan-terminal"`)
			writeError(w, http.StatusUnauthorized, "token required: Authorization: Bearer <token>")
			return
		}
		scheme, token, _ := strings.Cut(auth, " ")
		sum := sha256.Sum256([]byte(strings.TrimLeft(token, " ")))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], s.tokenHash[:]) != 1 {
			s.log.Warn("terminal: wrong token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="kuaifan-terminal", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "wrong token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use %s", r.Method, allow))
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) getAssignment(w http.ResponseWriter, r *http.Request) {
	a, ok := s.officer.Assignment()
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) getState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.state())
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, statusBody{s.officer.Status()})
}

func (s *Server) putStatus(w http.ResponseWriter, r *http.Request) {
	var body statusBody
	if code, err := decodeJSON(w, r, &body); err != nil {
		writeError(w, code, err.Error())
		return
	}
	switch {
	case body.Status == "":
		writeError(w, http.StatusBadRequest, `"status" is required`)
		return
	case !body.Status.Valid():
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown status %q; want available, enroute, on_scene, busy or off_duty", body.Status))
		return
	}
	if err := s.officer.SetStatus(body.Status); err != nil {
		s.officerError(w, r, err, "status", "status", string(body.Status))
		return
	}
	s.log.Info("terminal: status", "status", body.Status, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, statusBody{s.officer.Status()})
}

func (s *Server) incidentAction(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("action")
	act, ok := actions[name]
	if !ok {
		writeError(w, http.StatusNotFound, "no such route")
		return
	}
	id := r.PathValue("id")
	if !protocol.ValidIncidentID(id) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("bad incident id %q: want 1 to %d of [A-Za-z0-9_-]", id, protocol.MaxIncidentIDLen))
		return
	}
	// A decline may say why (additive, 2026-12): the event carries it to
	// the incident's timeline.
	var reason string
	if name == "decline" && r.ContentLength != 0 {
		var body declineBody
		if code, err := decodeJSON(w, r, &body); err != nil {
			writeError(w, code, err.Error())
			return
		}
		if len(body.Reason) > maxReason || !protocol.ValidEventReason(body.Reason) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("bad reason: want at most %d printable bytes", maxReason))
			return
		}
		reason = body.Reason
	}
	if err := act(s.officer, id, reason); err != nil {
		s.officerError(w, r, err, name, "incident", id)
		return
	}
	if reason != "" {
		s.log.Info("terminal: "+name, "incident", id, "reason", reason, "remote", r.RemoteAddr)
	} else {
		s.log.Info("terminal: "+name, "incident", id, "remote", r.RemoteAddr)
	}
	writeJSON(w, http.StatusOK, statusBody{s.officer.Status()})
}

func (s *Server) getReposition(w http.ResponseWriter, r *http.Request) {
	rp, ok := s.officer.(Repositioner)
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	mu, ok := rp.Reposition()
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, mu)
}

// getTasks answers the unit's patrol tasks now (additive, 2026-12): the
// list GET /v1/state carries, [] for none.
func (s *Server) getTasks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, tasksBody{s.tasks()})
}

// repositionArrived reports the unit at its move-up's spot (additive,
// 2026-12). The body is optional: {"id":"mu-…"} names the move-up.
func (s *Server) repositionArrived(w http.ResponseWriter, r *http.Request) {
	var body repositionBody
	if r.ContentLength != 0 {
		if code, err := decodeJSON(w, r, &body); err != nil {
			writeError(w, code, err.Error())
			return
		}
		if body.ID != "" && !protocol.ValidIncidentID(body.ID) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("bad move-up id %q: want 1 to %d of [A-Za-z0-9_-]", body.ID, protocol.MaxIncidentIDLen))
			return
		}
	}
	rp, ok := s.officer.(Repositioner)
	if !ok {
		writeError(w, http.StatusNotFound, ErrNoReposition.Error())
		return
	}
	if err := rp.RepositionArrived(body.ID); err != nil {
		s.officerError(w, r, err, "reposition arrived", "move_up", body.ID)
		return
	}
	s.log.Info("terminal: reposition arrived", "move_up", body.ID, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, statusBody{s.officer.Status()})
}

// sos raises the officer's sos. The body is optional — empty or {} — so a
// panic button needs nothing but the route. 202: queued, on its way as soon
// as there is a connection.
func (s *Server) sos(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		var body struct{}
		if code, err := decodeJSON(w, r, &body); err != nil {
			writeError(w, code, err.Error())
			return
		}
	}
	got, err := s.officer.SOS()
	if err != nil {
		s.officerError(w, r, err, "sos", "unit", "")
		return
	}
	s.log.Warn("terminal: SOS", "seq", got.Seq, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusAccepted, got)
}

// officerError answers an error from the Officer: the officer's own mistakes
// with their message, anything else as a 500 whose detail stays in the log.
func (s *Server) officerError(w http.ResponseWriter, r *http.Request, err error, action, key, value string) {
	switch {
	case errors.Is(err, ErrNoAssignment), errors.Is(err, ErrNoReposition):
		s.log.Info("terminal: refused "+action, key, value, "err", err)
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrWrongState):
		s.log.Info("terminal: refused "+action, key, value, "err", err)
		writeError(w, http.StatusConflict, err.Error())
	default:
		s.log.Error("terminal: officer failed", "action", action, key, value, "remote", r.RemoteAddr, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// decodeJSON reads exactly one JSON value into v, refusing unknown fields,
// trailing data, bodies over maxBody and content types other than JSON. It
// returns the status to answer with when it fails.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) (int, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: want application/json", ct)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	var tooBig *http.MaxBytesError
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); errors.As(terr, &tooBig) {
			err = terr
		} else if terr != io.EOF {
			err = errors.New("trailing data after the JSON value")
		}
	}
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", maxBody)
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, errors.New("empty body: want a JSON object")
	default:
		return http.StatusBadRequest, fmt.Errorf("bad JSON: %v", err)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{msg})
}
