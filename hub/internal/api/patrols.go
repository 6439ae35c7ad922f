package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"kuaifan/hub/internal/clip"
	"kuaifan/hub/internal/patrol"
	plans "kuaifan/protocol/patrol"
)

// listPatrols serves every patrol plan (GET /api/patrols).
func (s *server) listPatrols(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Patrols.List())
}

// getPatrol serves one plan (GET /api/patrols/{id}).
func (s *server) getPatrol(w http.ResponseWriter, r *http.Request) {
	plan, err := s.Patrols.Get(r.PathValue("id"))
	if err != nil {
		s.patrolError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, plan)
}

// putPatrol stores a plan under its id (PUT /api/patrols/{id}): the plan's
// JSON, or a GeoJSON FeatureCollection of its tasks (Content-Type
// application/geo+json, or ?format=geojson; ?name= names the plan).
func (s *server) putPatrol(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id") // never "compliance": GET /api/patrols/compliance takes that path
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, plans.MaxPlanBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a plan is at most %d bytes", plans.MaxPlanBytes))
		return
	}
	var plan *plans.Plan
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch q := r.URL.Query(); {
	case ct == "application/geo+json" || q.Get("format") == "geojson":
		plan, err = plans.ParseGeoJSON(data, plans.GeoJSONOptions{ID: id, Name: q.Get("name"), Zone: q.Get("zone")})
	case q.Get("format") == "" || q.Get("format") == "json":
		plan, err = plans.Parse(data)
		if err == nil && plan.ID != id {
			err = fmt.Errorf("id: the plan says %s, the path %s", clip.Quote(plan.ID), clip.Quote(id))
		}
	default:
		err = fmt.Errorf("format: %s is not json or geojson", clip.Quote(q.Get("format")))
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	created, err := s.Patrols.Put(plan)
	if err != nil {
		s.patrolError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, plan)
}

// deletePatrol removes a plan (DELETE /api/patrols/{id}).
func (s *server) deletePatrol(w http.ResponseWriter, r *http.Request) {
	if err := s.Patrols.Delete(r.PathValue("id")); err != nil {
		s.patrolError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// unitTasks serves a unit's patrol tasks now (GET /api/units/{id}/tasks).
func (s *server) unitTasks(w http.ResponseWriter, r *http.Request) {
	v, ok := s.Fleet.Get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no unit "+clip.Quote(r.PathValue("id")))
		return
	}
	tasks, err := s.Patrols.Tasks(v.ID, v.Type, s.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tasks)
}

// compliance reports how a shift of a plan was kept, from the stored
// tracks (GET /api/patrols/compliance?plan=&shift=&date=): by default the
// only plan, and the shift running now.
func (s *server) compliance(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bad := func(format string, args ...any) { writeError(w, http.StatusBadRequest, fmt.Sprintf(format, args...)) }
	var plan *plans.Plan
	if id := q.Get("plan"); id != "" {
		p, err := s.Patrols.Get(id)
		if err != nil {
			s.patrolError(w, r, err)
			return
		}
		plan = p
	} else {
		all := s.Patrols.List()
		if len(all) != 1 {
			ids := make([]string, len(all))
			for i, p := range all {
				ids[i] = p.ID
			}
			bad("plan: name one of the %d plans (%s)", len(all), strings.Join(ids, ", "))
			return
		}
		plan = all[0]
	}
	now := s.Now()
	var shift patrol.Shift
	switch {
	case q.Get("shift") == "" && q.Get("date") == "":
		running, ok, err := patrol.Running(plan, now)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !ok {
			bad("shift: no shift of plan %s runs now; name a shift and a date", clip.Quote(plan.ID))
			return
		}
		shift = running
	case q.Get("shift") == "":
		bad("shift: name one with the date")
		return
	default:
		loc, err := plan.Location()
		if err != nil {
			s.fail(w, r, err)
			return
		}
		date := now.In(loc)
		if d := q.Get("date"); d != "" {
			if date, err = time.ParseInLocation("2006-01-02", d, loc); err != nil {
				bad("date: %s is not YYYY-MM-DD", clip.Quote(d))
				return
			}
		}
		start, end, err := plan.ShiftBounds(q.Get("shift"), date)
		if err != nil {
			bad("shift: %v", err)
			return
		}
		shift = patrol.Shift{ID: q.Get("shift"), Start: start, End: end}
	}
	if now.Before(shift.Start) {
		bad("shift %s of %s starts at %s: nothing to judge yet", clip.Quote(shift.ID), shift.Start.Format("2006-01-02"), shift.Start.Format("15:04"))
		return
	}
	if now.Before(shift.End) {
		shift.End = now // in progress: judged so far
	}
	units, err := s.patrolUnits(plan, shift)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := patrol.Compute(plan, shift, units)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// patrolUnits are the fleet's units with a task in the shift, with their
// tracks over it.
func (s *server) patrolUnits(plan *plans.Plan, shift patrol.Shift) ([]patrol.Unit, error) {
	var units []patrol.Unit
	for _, v := range s.Fleet.List() {
		assigned := false
		for i := range plan.Tasks {
			t := &plan.Tasks[i]
			if t.InShift(shift.ID) && t.AssignedTo(v.ID, v.Type) {
				assigned = true
				break
			}
		}
		if !assigned {
			continue
		}
		u := patrol.Unit{ID: v.ID, Type: v.Type}
		if s.Tracks != nil {
			track, err := s.Tracks.Track(v.ID, shift.Start.Add(-patrol.Lookback).UnixMilli(), shift.End.UnixMilli(), 0)
			if err != nil {
				return nil, err
			}
			u.Track = make([]patrol.Fix, len(track))
			for i, p := range track {
				u.Track[i] = patrol.Fix{TS: p.TS, Lat: p.Lat, Lon: p.Lon}
			}
		}
		units = append(units, u)
	}
	return units, nil
}

func (s *server) patrolError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *plans.Error
	switch {
	case errors.Is(err, patrol.ErrNoPlan):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.As(err, &pe):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		s.fail(w, r, err)
	}
}
