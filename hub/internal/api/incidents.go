package api

import (
	"errors"
	"io"
	"net/http"
	"time"

	"kuaifan/hub/internal/dispatch"
	wire "kuaifan/protocol/api"
)

func (s *server) listIncidents(w http.ResponseWriter, r *http.Request) {
	var withClosed bool
	switch st := r.URL.Query().Get("status"); st {
	case "", "open":
	case "all":
		withClosed = true
	default:
		writeError(w, http.StatusBadRequest, "status is open (the default) or all")
		return
	}
	writeJSON(w, http.StatusOK, s.Dispatch.List(withClosed))
}

func (s *server) createIncident(w http.ResponseWriter, r *http.Request) {
	var n dispatch.NewIncident
	if err := decodeBody(w, r, &n); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	inc, err := s.Dispatch.Create(n, actor(r))
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	noteTarget(r, inc.ID)
	w.Header().Set("Location", "/api/incidents/"+inc.ID)
	writeJSON(w, http.StatusCreated, inc)
}

func (s *server) getIncident(w http.ResponseWriter, r *http.Request) {
	inc, err := s.Dispatch.Get(r.PathValue("id"))
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inc)
}

func (s *server) assign(w http.ResponseWriter, r *http.Request) {
	var body wire.Assign
	if err := decodeBody(w, r, &body); err != nil || body.Unit == "" {
		writeError(w, http.StatusBadRequest, `the body is {"unit": "<unit id>"}`)
		return
	}
	inc, err := s.Dispatch.Assign(r.PathValue("id"), body.Unit, actor(r))
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inc)
}

func (s *server) sighting(w http.ResponseWriter, r *http.Request) {
	var body dispatch.Sighting
	if err := decodeBody(w, r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	inc, err := s.Dispatch.Sighting(r.PathValue("id"), body, actor(r))
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inc)
}

// dismissOffer turns the incident's offer down; the body {"note": "…"} is
// optional, as closing's is.
func (s *server) dismissOffer(w http.ResponseWriter, r *http.Request) {
	var body wire.DismissOffer
	if err := decodeBody(w, r, &body); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, err.Error()+`; the body is {"note": "<why>"} or empty`)
		return
	}
	inc, err := s.Dispatch.DismissOffer(r.PathValue("id"), actor(r), body.Note)
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inc)
}

// closeIncident takes an optional body {"note": "…"}: an empty body closes
// it as before the note existed.
func (s *server) closeIncident(w http.ResponseWriter, r *http.Request) {
	var body wire.Close
	if err := decodeBody(w, r, &body); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	inc, err := s.Dispatch.Close(r.PathValue("id"), actor(r), body.Note)
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inc)
}

// reopen opens a closed incident again; {"reason": "…"} is required.
func (s *server) reopen(w http.ResponseWriter, r *http.Request) {
	var body wire.Reopen
	if err := decodeBody(w, r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error()+`; the body is {"reason": "<why it is reopened>"}`)
		return
	}
	inc, err := s.Dispatch.Reopen(r.PathValue("id"), actor(r), body.Reason)
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inc)
}

func (s *server) ticket(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	t, expires := s.Ticket(func() bool { return s.Access.Valid(p) })
	writeJSON(w, http.StatusOK, wire.Ticket{Ticket: t, Expires: expires.UnixMilli(),
		ExpiresInS: time.Until(expires).Seconds()})
}

func (s *server) dispatchError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, dispatch.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, dispatch.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, dispatch.ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	default:
		s.fail(w, r, err)
	}
}
