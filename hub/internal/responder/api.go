package responder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"kuaifan/hub/internal/bearer"
	"kuaifan/hub/internal/clip"
	"kuaifan/hub/internal/fleet"
	"kuaifan/hub/internal/ingest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// maxBody bounds a request's body: a report is ~150 bytes.
const maxBody = 4 << 10

// submitWait bounds how long a report waits for its commit before the page
// is told to send it again (a 503): far above a healthy commit (ms).
const submitWait = 15 * time.Second

// SignIn is the body of POST /responder/api/session.
type SignIn struct {
	Unit   string `json:"unit"`
	Secret string `json:"secret"`
}

// Session is its answer.
type Session struct {
	Token    string `json:"token"`
	Unit     string `json:"unit"`
	Callsign string `json:"callsign,omitempty"`
	Expires  int64  `json:"expires"` // Unix ms; renewed by every call
	IdleS    int64  `json:"idle_s"`  // a session unused this long ends
	Now      int64  `json:"now"`     // the hub's clock, Unix ms: the page corrects its own by it
}

// Report is the body of POST /responder/api/report: one position of the
// phone. The unit is the session's; a unit named here must be that one.
type Report struct {
	Unit    string   `json:"unit,omitempty"`
	Seq     *uint64  `json:"seq"`
	TS      int64    `json:"ts"` // Unix ms
	Lat     *float64 `json:"lat"`
	Lon     *float64 `json:"lon"`
	Acc     *float64 `json:"acc,omitempty"`     // metres
	Speed   *float64 `json:"speed,omitempty"`   // m/s
	Heading *float64 `json:"heading,omitempty"` // degrees, [0, 360]
	Battery *float64 `json:"battery,omitempty"` // 0..1
}

// Event is the body of POST /responder/api/event.
type Event struct {
	Unit     string   `json:"unit,omitempty"`
	Seq      *uint64  `json:"seq"`
	TS       int64    `json:"ts"`
	Type     string   `json:"type"`
	Incident string   `json:"incident,omitempty"`
	Status   string   `json:"status,omitempty"`
	Reason   string   `json:"reason,omitempty"` // a decline's: on the timeline (protocol.Event.Reason)
	Lat      *float64 `json:"lat,omitempty"`
	Lon      *float64 `json:"lon,omitempty"`
}

// Stored answers a report or an event once it is on disk.
type Stored struct {
	Seq    uint64 `json:"seq"`
	Result string `json:"result"` // committed, older, duplicate or expired: all confirmed
	Now    int64  `json:"now"`
}

// Refusal is a 4xx/5xx answer: api.Error's error, with the protocol's
// reason and field when a report was refused.
type Refusal struct {
	Error  string `json:"error"`
	Reason string `json:"reason,omitempty"`
	Field  string `json:"field,omitempty"`
}

// Me is GET /responder/api/me, and the hello of the websocket: the unit,
// its current assignment, and the reporting intervals last commanded.
type Me struct {
	Unit       api.Unit           `json:"unit"`
	Assignment *Assignment        `json:"assignment"`
	Config     map[string]float64 `json:"config,omitempty"`
	Now        int64              `json:"now"`
}

// Assignment is the unit's current job, as the card shows it.
type Assignment struct {
	Incident   string  `json:"incident"`
	Kind       string  `json:"kind"`
	Summary    string  `json:"summary,omitempty"`
	Priority   int     `json:"priority"`
	Lat        float64 `json:"lat"`
	Lon        float64 `json:"lon"`
	Status     string  `json:"status"` // the incident's
	State      string  `json:"state"`  // the unit's assignment's
	Command    string  `json:"command"`
	Dispatched int64   `json:"dispatched"`
	Acked      int64   `json:"acked,omitempty"`
	Arrived    int64   `json:"arrived,omitempty"`
	SOS        string  `json:"sos,omitempty"`
}

// refused is the one answer to a wrong sign-in, whatever was wrong, so that
// nothing is learnt of which units exist.
const refused = "unknown unit or wrong secret"

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	var in SignIn
	if !decode(w, r, &in) {
		return
	}
	unitKey, addr := "unit:"+clip.To(in.Unit, 64), addrKey(r)
	if d := s.wait(unitKey, addr); d > 0 {
		s.log.Debug("responder: sign-in refused: backing off", "unit", clip.String(in.Unit), "remote", r.RemoteAddr, "wait", d)
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
		writeError(w, http.StatusTooManyRequests, "too many failed sign-ins: try again in "+d.Round(time.Second).String())
		return
	}
	if !s.cfg.Units.Verify(in.Unit, in.Secret) {
		n := s.failed(unitKey, addr)
		s.log.Warn("responder: sign-in refused", "unit", clip.String(in.Unit), "remote", r.RemoteAddr,
			"failures", n, "next_wait", backoff(n))
		writeError(w, http.StatusUnauthorized, refused)
		return
	}
	proto, _, ok := s.cfg.Units.ReportsBy(in.Unit)
	if !ok {
		writeError(w, http.StatusUnauthorized, refused)
		return
	}
	if proto != api.ReportKuaifan {
		// Its phone reports by that app; two sources of one unit's
		// positions would fight over its marker.
		writeError(w, http.StatusForbidden, fmt.Sprintf("unit %s is enrolled to report by %s, not by kuaifan", in.Unit, proto))
		return
	}
	s.succeeded(unitKey, addr)
	token, expires := s.newSession(in.Unit)
	out := Session{Token: token, Unit: in.Unit, Expires: expires.UnixMilli(),
		IdleS: int64(s.cfg.SessionIdle / time.Second), Now: s.cfg.Now().UnixMilli()}
	if u, ok := s.cfg.Units.Get(in.Unit); ok {
		out.Callsign = u.Callsign
	}
	s.log.Info("responder: signed in", "unit", in.Unit, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if token, ok := bearer.Token(r.Header.Get("Authorization")); ok {
		s.endSession(token)
	}
	w.WriteHeader(http.StatusNoContent)
}

// session answers 401 and returns "" when the request has no valid session.
func (s *Server) session(w http.ResponseWriter, r *http.Request) string {
	unit := s.authenticate(r)
	if unit == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kuaifan-responder"`)
		writeError(w, http.StatusUnauthorized, "not signed in, or the session has ended: sign in again")
	}
	return unit
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	unit := s.session(w, r)
	if unit == "" {
		return
	}
	writeJSON(w, http.StatusOK, s.current(unit))
}

// current is what the page must know of its unit now.
func (s *Server) current(unit string) Me {
	me := Me{Now: s.cfg.Now().UnixMilli()}
	me.Unit, _ = s.cfg.Units.Get(unit)
	if me.Unit.Incident != "" {
		for _, inc := range s.cfg.Incidents.Incidents([]string{me.Unit.Incident}) {
			me.Assignment = assignmentOf(inc, unit)
		}
	}
	s.mu.Lock()
	if c := s.configs[unit]; c != nil {
		me.Config = c
	}
	s.mu.Unlock()
	return me
}

// assignmentOf is the unit's latest assignment to inc, if it is still on
// the job; an sos incident of the unit itself is shown too, so the officer
// sees help is on its way.
func assignmentOf(inc api.Incident, unit string) *Assignment {
	if inc.Status == api.IncidentClosed {
		return nil
	}
	a := &Assignment{Incident: inc.ID, Kind: inc.Kind, Summary: inc.Summary, Priority: inc.Priority,
		Lat: inc.Lat, Lon: inc.Lon, Status: inc.Status, SOS: inc.SOS}
	for i := len(inc.Assignments) - 1; i >= 0; i-- {
		as := inc.Assignments[i]
		if as.Unit != unit {
			continue
		}
		if !api.AssignmentActive(as.State) {
			break
		}
		a.State, a.Command, a.Dispatched, a.Acked, a.Arrived = as.State, as.Command, as.Dispatched, as.Acked, as.Arrived
		return a
	}
	if inc.SOS == unit {
		a.State = "sos"
		a.Dispatched = inc.Created
		return a
	}
	return nil
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	unit := s.session(w, r)
	if unit == "" {
		return
	}
	var in Report
	if !decode(w, r, &in) {
		return
	}
	if in.Unit != "" && in.Unit != unit {
		writeError(w, http.StatusForbidden, "a phone reports only as the unit it signed in as ("+unit+")")
		return
	}
	if err := missingOf("telemetry", in.Seq == nil, "seq", in.TS == 0, "ts", in.Lat == nil, "lat", in.Lon == nil, "lon"); err != nil {
		s.refuse(w, unit, err)
		return
	}
	_, status, _ := s.cfg.Units.ReportsBy(unit)
	if status == "" {
		status = protocol.StatusAvailable // its first report: a phone has no duty status of its own
	}
	t := protocol.Telemetry{Unit: unit, Seq: *in.Seq, TS: in.TS, Lat: *in.Lat, Lon: *in.Lon, Status: status,
		AccM: in.Acc, Battery: in.Battery}
	// The platforms' "unknown" is negative (iOS: -1); 360° is north.
	if in.Speed != nil && *in.Speed >= 0 {
		t.SpeedMPS = in.Speed
	}
	if in.Heading != nil && *in.Heading >= 0 {
		h := *in.Heading
		if h == 360 {
			h = 0
		}
		t.HeadingDeg = &h
	}
	ctx, cancel := context.WithTimeout(r.Context(), submitWait)
	defer cancel()
	res, err := s.cfg.Pipeline.Submit(ctx, t)
	s.stored(w, unit, t.Seq, res, err)
}

// Event types the page sends. status is there for completeness (a duty
// change); the page itself sends the others.
var eventTypes = map[string]bool{
	string(protocol.EventAck): true, string(protocol.EventDecline): true, string(protocol.EventArrived): true,
	string(protocol.EventCleared): true, string(protocol.EventSOS): true, string(protocol.EventStatus): true,
}

func (s *Server) event(w http.ResponseWriter, r *http.Request) {
	unit := s.session(w, r)
	if unit == "" {
		return
	}
	var in Event
	if !decode(w, r, &in) {
		return
	}
	if in.Unit != "" && in.Unit != unit {
		writeError(w, http.StatusForbidden, "a phone reports only as the unit it signed in as ("+unit+")")
		return
	}
	if err := missingOf("event", in.Seq == nil, "seq", in.TS == 0, "ts", in.Type == "", "type"); err != nil {
		s.refuse(w, unit, err)
		return
	}
	if !eventTypes[in.Type] {
		s.refuse(w, unit, &protocol.Error{Message: "event", Field: "type", Reason: protocol.ReasonInvalid,
			Detail: clip.Quote(in.Type) + " is not ack, decline, arrived, cleared, sos or status"})
		return
	}
	e := protocol.Event{Unit: unit, Seq: *in.Seq, TS: in.TS, Type: protocol.EventType(in.Type),
		Incident: in.Incident, Status: protocol.Status(in.Status), Lat: in.Lat, Lon: in.Lon, Reason: in.Reason}
	ctx, cancel := context.WithTimeout(r.Context(), submitWait)
	defer cancel()
	res, err := s.cfg.Pipeline.SubmitEvent(ctx, e)
	if err == nil && e.Type == protocol.EventSOS {
		s.log.Warn("responder: sos", "unit", unit, "seq", e.Seq, "result", res.String())
	}
	s.stored(w, unit, e.Seq, res, err)
}

// stored answers a Submit: 200 once on disk, 400 a report refused for good
// (the page drops it), 401 a unit revoked meanwhile, 503 not stored now
// (the page keeps it and sends it again).
func (s *Server) stored(w http.ResponseWriter, unit string, seq uint64, res fleet.Result, err error) {
	var perr *protocol.Error
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, Stored{Seq: seq, Result: res.String(), Now: s.cfg.Now().UnixMilli()})
	case errors.As(err, &perr):
		writeJSON(w, http.StatusBadRequest, Refusal{Error: err.Error(), Reason: string(perr.Reason), Field: perr.Field})
	case errors.Is(err, ingest.ErrUnknownUnit):
		writeError(w, http.StatusUnauthorized, "unit "+unit+" is no longer enrolled")
	default:
		s.log.Warn("responder: report not stored", "unit", unit, "seq", seq, "err", err)
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusServiceUnavailable, "the hub could not store the report now; send it again")
	}
}

// refuse answers a report the API itself refused before ingest, counted
// as ingest counts its own refusals.
func (s *Server) refuse(w http.ResponseWriter, unit string, err *protocol.Error) {
	s.cfg.Pipeline.Rejected("responder/"+unit, err)
	writeJSON(w, http.StatusBadRequest, Refusal{Error: err.Error(), Reason: string(err.Reason), Field: err.Field})
}

// missingOf is the first field whose flag says it is missing, as the
// protocol names it.
func missingOf(msg string, pairs ...any) *protocol.Error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i].(bool) {
			return &protocol.Error{Message: msg, Field: pairs[i+1].(string), Reason: protocol.ReasonMissing, Detail: "required"}
		}
	}
	return nil
}

// decode reads a JSON body into v, refusing unknown fields (a misspelt
// field must not be dropped silently) and text after the object; it
// answers the request itself when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxBody))
		} else {
			writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		}
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, Refusal{Error: "the body is not the JSON expected: " + clip.String(err.Error()),
			Reason: string(protocol.ReasonSyntax)})
		return false
	}
	if dec.More() {
		writeJSON(w, http.StatusBadRequest, Refusal{Error: "text after the JSON object", Reason: string(protocol.ReasonSyntax)})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, api.Error{Error: msg})
}
