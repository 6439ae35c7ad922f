package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"kuaifan/hub/internal/citycover"
	"kuaifan/hub/internal/clip"
	wire "kuaifan/protocol/api"
)

// coverage serves the city's live coverage layer (GET /api/coverage):
// the whole grid and the figures, as last computed.
func (s *server) coverage(w http.ResponseWriter, r *http.Request) {
	c := s.Coverage()
	if c == nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "coverage not computed yet: try again in a second")
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// reposition sends a free unit on a move-up (POST /api/units/{id}/reposition).
func (s *server) reposition(w http.ResponseWriter, r *http.Request) {
	var body wire.RepositionRequest
	if err := decodeBody(w, r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rep, err := s.Dispatch.Reposition(r.PathValue("id"), body, actor(r))
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	noteTarget(r, rep.ID)
	writeJSON(w, http.StatusCreated, rep)
}

// withdrawReposition ends a unit's move-up (DELETE /api/units/{id}/reposition).
func (s *server) withdrawReposition(w http.ResponseWriter, r *http.Request) {
	rep, err := s.Dispatch.WithdrawReposition(r.PathValue("id"), actor(r))
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// moveUps suggests move-ups (GET /api/moveups?n=&floor=&max_travel_min=).
func (s *server) moveUps(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	num := func(name string, def, lo, hi int) (int, bool) {
		v := q.Get(name)
		if v == "" {
			return def, true
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: %s is not a whole number from %d to %d", name, clip.Quote(v), lo, hi))
			return 0, false
		}
		return n, true
	}
	n, ok := num("n", citycover.DefaultMoveUps, 1, citycover.MaxMoveUps)
	if !ok {
		return
	}
	floor, ok := num("floor", citycover.DefaultFloor, 0, citycover.MaxFloor)
	if !ok {
		return
	}
	travel, ok := num("max_travel_min", int(citycover.DefaultMaxTravel/time.Minute), 1, 120)
	if !ok {
		return
	}
	plan, err := s.MoveUps(n, floor, time.Duration(travel)*time.Minute)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ids := make([]string, len(plan.Suggestions))
	for i, m := range plan.Suggestions {
		ids[i] = m.Unit
	}
	calls := make(map[string]string, len(ids))
	for _, v := range s.Fleet.Views(ids) {
		calls[v.ID] = v.Callsign
	}
	for i := range plan.Suggestions {
		plan.Suggestions[i].Callsign = calls[plan.Suggestions[i].Unit]
	}
	writeJSON(w, http.StatusOK, plan)
}
