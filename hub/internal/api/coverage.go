package api

import (
	"net/http"
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
