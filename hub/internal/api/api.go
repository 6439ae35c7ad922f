// Package api is the hub's HTTP API: enrolment and revocation of units, the
// live fleet and its history, matching, incidents and dispatch, people's
// sessions, accounts and API tokens, the audit log, health and metrics.
// Every endpoint has a rule (routes.go): the least role that may call it,
// checked before the handler runs, and every accepted write is audited;
// errors are JSON objects
// {"error": "..."} with the matching status. The requests and answers are
// the types of kuaifan/protocol/api (imported here as wire).
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"kuaifan/hub/internal/access"
	"kuaifan/hub/internal/audit"
	"kuaifan/hub/internal/clip"
	"kuaifan/hub/internal/dispatch"
	"kuaifan/hub/internal/fleet"
	"kuaifan/hub/internal/match"
	"kuaifan/hub/internal/patrol"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
	wire "kuaifan/protocol/api"
	"kuaifan/protocol/districts"
)

// Config is what the API serves from.
type Config struct {
	Fleet    *fleet.Fleet
	Dispatch *dispatch.Dispatcher
	Stream   http.Handler // GET /ws; authenticates itself (Bearer or ticket)
	// Ticket issues a single-use ticket for /ws; its connection lasts
	// while valid says the caller's session or token does.
	Ticket     func(valid func() bool) (string, time.Time)
	Access     *access.Service   // who may call what: accounts, tokens, sessions
	Audit      *audit.Log        // every accepted write; nil: none kept
	Disconnect func(unit string) // drops a revoked unit's connection now; nil with an external broker
	Metrics    http.Handler      // served at /metrics
	Dashboard  http.Handler      // served at / (every path the API does not take)
	Districts  *districts.Set    // GET /api/districts; nil: none
	Cameras    []wire.Camera     // GET /api/cameras; nil: none
	// Coverage is the city's live coverage layer, nil until computed
	// (GET /api/coverage); nil func: a hub without districts, not served.
	Coverage func() *wire.Coverage
	// Patrols is the patrol plans (/api/patrols…); nil: not served.
	Patrols *patrol.Plans
	// MoveUps suggests move-ups (GET /api/moveups), with Coverage.
	MoveUps  func(n, floor int, maxTravel time.Duration) (wire.MoveUps, error)
	History  AreaSource    // GET /api/history; nil: not served
	Tracks   TrackSource   // with History, GET /api/incidents/{id}/replay; nil: the replay is 404
	Health   func() error  // nil error: healthy
	Degraded func() string // "": not degraded; else why (the hub serves, an operator must look)
	Logger   *slog.Logger
	Now      func() time.Time

	// Phones serves /api/phones/…, the reports of phone apps (OwnTracks,
	// Traccar Client), which sign in with their unit's own credentials, not
	// the admin token; nil: not served.
	Phones http.Handler

	// Publish sends a unit its new secret (POST /api/units/{id}/secret with
	// push) on Topics' cmd topic. It must not be dispatch's bus, which the
	// responder app taps: a secret goes to the unit's MQTT link only. nil:
	// secrets cannot be pushed.
	Publish func(topic string, payload []byte, retain bool) error
	Topics  protocol.Topics

	// BrokerUser and BrokerPassword are the hub's own account on its
	// external broker (hub -broker-user, HUB_BROKER_PASSWORD), for
	// GET /api/broker-config; "" with the embedded broker.
	BrokerUser, BrokerPassword string
}

// Limits of the track call.
const (
	DefaultTrackLimit = 10_000
	MaxTrackLimit     = 100_000
	maxBody           = 64 << 10
	// maxError bounds an error message, after writeError has clipped what
	// other packages' errors quote of the input in full (dispatch, match,
	// encoding/json's "unknown field"); the API's own quotes are clipped
	// where they are made (clip.Quote).
	maxError = 512
	// refusalGrace is how long a refused client has to read the 401 before
	// the connection closes under what it is still sending (which resets
	// it): net/http's own delay for that case.
	refusalGrace = 500 * time.Millisecond
)

type server struct {
	Config
}

// districts serves the city's districts as GeoJSON.
func (s *server) districts(w http.ResponseWriter, r *http.Request) {
	set := s.Districts
	if set == nil {
		set = districts.None()
	}
	w.Header().Set("Content-Type", "application/geo+json")
	w.Write(set.GeoJSON())
}

// cameras serves the camera network (hub -cameras): [] when there is none.
func (s *server) cameras(w http.ResponseWriter, r *http.Request) {
	cs := s.Cameras
	if cs == nil {
		cs = []wire.Camera{}
	}
	writeJSON(w, http.StatusOK, cs)
}

// Handler serves the API.
type Handler struct {
	mux    *http.ServeMux
	routes []Route
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Routes lists every endpoint served, with its rule.
func (h *Handler) Routes() []Route { return slices.Clone(h.routes) }

// New returns the API's handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Access == nil {
		panic("api: Config.Access is required")
	}
	s := &server{Config: cfg}
	mux := http.NewServeMux()
	if cfg.Dashboard != nil {
		mux.Handle("/", cfg.Dashboard)
	}
	routes := s.routes()
	byPath := map[string]methods{}
	var paths []string
	for _, rt := range routes {
		m := byPath[rt.Path]
		if m == nil {
			m = methods{}
			byPath[rt.Path] = m
			paths = append(paths, rt.Path)
		}
		if _, dup := m[rt.Method]; dup {
			panic("api: two rules for " + rt.Method + " " + rt.Path)
		}
		m[rt.Method] = s.guard(rt).ServeHTTP
	}
	for _, p := range paths {
		mux.Handle(p, byPath[p])
	}
	// Any other path under /api is a 404 — to a caller the hub knows.
	mux.Handle("/api/", s.guard(Route{Method: "GET", Path: "/api/", Need: access.Viewer, Unchanged: true,
		handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "no such API call: "+clip.String(r.Method)+" "+clip.String(r.URL.Path))
		})}))
	return &Handler{mux: mux, routes: routes}
}

// methods routes by HTTP method and answers any other with a JSON 405.
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := m[r.Method]; ok {
		h(w, r)
		return
	}
	allowed := make([]string, 0, len(m))
	for k := range m {
		allowed = append(allowed, k)
	}
	slices.Sort(allowed)
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(w, http.StatusMethodNotAllowed, clip.String(r.Method)+" is not allowed on "+clip.String(r.URL.Path))
}

func (s *server) health(w http.ResponseWriter, r *http.Request) {
	if s.Health != nil {
		if err := s.Health(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, wire.Health{Status: wire.HealthUnhealthy, Error: err.Error()})
			return
		}
	}
	if s.Degraded != nil {
		if why := s.Degraded(); why != "" {
			writeJSON(w, http.StatusOK, wire.Health{Status: wire.HealthDegraded, Error: why})
			return
		}
	}
	writeJSON(w, http.StatusOK, wire.Health{Status: wire.HealthOK})
}

func (s *server) listUnits(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Fleet.List())
}

func (s *server) getUnit(w http.ResponseWriter, r *http.Request) {
	v, ok := s.Fleet.Get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no unit "+clip.Quote(r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *server) enrol(w http.ResponseWriter, r *http.Request) {
	var e fleet.Enrolment
	if err := decodeBody(w, r, &e); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	noteTarget(r, e.ID)
	secret, err := s.Fleet.Enrol(e, s.Now())
	switch {
	case errors.Is(err, fleet.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, fleet.ErrExists):
		writeError(w, http.StatusConflict, "unit "+clip.Quote(e.ID)+" is already enrolled")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/units/"+e.ID)
	writeJSON(w, http.StatusCreated, wire.Enrolled{ID: e.ID, Secret: secret})
}

func (s *server) revoke(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := s.Fleet.Revoke(id, s.Now())
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		writeError(w, http.StatusNotFound, "no unit "+clip.Quote(id))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	// The fleet no longer verifies its secret, so it cannot come back in.
	if s.Disconnect != nil {
		s.Disconnect(id)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) track(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, err1 := intParam(q.Get("since"), 0)
	until, err2 := intParam(q.Get("until"), math.MaxInt64)
	limit, err3 := intParam(q.Get("limit"), DefaultTrackLimit)
	if err := errors.Join(err1, err2, err3); err != nil {
		writeError(w, http.StatusBadRequest, "since, until (Unix ms) and limit must be integers: "+err.Error())
		return
	}
	if since > until {
		writeError(w, http.StatusBadRequest, "since is after until")
		return
	}
	if limit < 1 || limit > MaxTrackLimit {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be 1 to %d", MaxTrackLimit))
		return
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "gpx" && format != "geojson" {
		writeError(w, http.StatusBadRequest, "format is json (the default), gpx or geojson")
		return
	}
	track, err := s.Fleet.Track(r.PathValue("id"), since, until, int(limit))
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		writeError(w, http.StatusNotFound, "no unit "+clip.Quote(r.PathValue("id")))
	case err != nil:
		s.fail(w, r, err)
	case format == "gpx" || format == "geojson":
		s.exportTrack(w, r, format, q.Get("since") != "", since, track)
	default:
		// The store's records become the API's points: the same fields, but
		// the one is a disk format and the other the wire's.
		points := make([]wire.TrackPoint, len(track))
		for i, p := range track {
			points[i] = wire.TrackPoint(p)
		}
		writeJSON(w, http.StatusOK, points)
	}
}

func (s *server) match(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lat, err1 := degrees(q.Get("lat"))
	lon, err2 := degrees(q.Get("lon"))
	if err1 != nil || err2 != nil {
		writeError(w, http.StatusBadRequest, "lat and lon are required decimal degrees")
		return
	}
	k, err := intParam(q.Get("k"), 5)
	if err != nil {
		writeError(w, http.StatusBadRequest, "k must be an integer")
		return
	}
	var needs []string
	if n := q.Get("needs"); n != "" {
		needs = strings.Split(n, ",")
	}
	cands, err := s.Fleet.Match(match.Query{Lat: lat, Lon: lon, K: int(k), Needs: needs, Now: s.Now()})
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if cands == nil {
		cands = []match.Candidate{}
	}
	writeJSON(w, http.StatusOK, wire.Matches{Candidates: cands})
}

// maxDegrees is longer than any decimal a client writes for a coordinate.
const maxDegrees = 64

// degrees parses a coordinate from a query: a plain decimal, optionally
// signed, with an optional fraction and exponent ("28.196", "-0.5",
// "1e-7", which JavaScript writes for small numbers), and finite.
// strconv.ParseFloat alone also takes "0x1p4" (16), "Inf", "NaN", "1_0" and
// ".5", none of which a client means as a place. The range is match's to check.
func degrees(s string) (float64, error) {
	if len(s) > maxDegrees || !isDecimal(s) {
		return 0, errors.New("not a decimal number")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, errors.New("not a finite decimal number")
	}
	return v, nil
}

// isDecimal says whether s is [+-]?digits(.digits)?([eE][+-]?digits)?.
func isDecimal(s string) bool {
	digits := func(i int) int { // the index after the digits starting at i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i
	}
	sign := func(i int) int {
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		return i
	}
	i := sign(0)
	j := digits(i)
	if j == i {
		return false
	}
	if j < len(s) && s[j] == '.' {
		k := digits(j + 1)
		if k == j+1 {
			return false
		}
		j = k
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		e := sign(j + 1)
		k := digits(e)
		if k == e {
			return false
		}
		j = k
	}
	return j == len(s)
}

func intParam(s string, def int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.Logger.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	if errors.Is(err, store.ErrWriteFailed) {
		// The disk is full, read-only or failing: nothing was changed, and
		// the same call works once the store writes again.
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the hub cannot write to its store, so nothing was changed ("+
			err.Error()+"); try again once /healthz no longer says that commits are failing")
		return
	}
	writeError(w, http.StatusInternalServerError, "internal error; see the hub's log")
}

// decodeBody reads one JSON object, refusing unknown fields: a misspelt
// "capabilites" must not enrol a unit without its capabilities.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	if dec.More() {
		return errors.New("request body: more than one JSON value")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, wire.Error{Error: clip.To(clip.Quotes(msg), maxError)})
}
