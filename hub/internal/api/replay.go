package api

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"

	"kuaifan/hub/internal/clip"
	"kuaifan/hub/internal/dispatch"
	"kuaifan/hub/internal/history"
	"kuaifan/protocol"
	wire "kuaifan/protocol/api"
)

// TrackSource is what GET /api/incidents/{id}/replay reads each unit's
// positions from: the store's position history (*history.History), as
// AreaSource for the units near the incident.
type TrackSource interface {
	Track(unit string, since, until int64, limit int) ([]history.Position, error)
}

// replayFlushEvery is how many units of a replay are written between two
// flushes to the client.
const replayFlushEvery = 8

// replayPlace is a place the incident had, from At until the next one.
type replayPlace struct {
	at       int64
	lat, lon float64
}

// replay serves GET /api/incidents/{id}/replay?radius_m= (wire.Replay):
// the incident, and the tracks of the units assigned to it and of those
// that came within radius_m of it while it was open, streamed a unit at a
// time.
func (s *server) replay(w http.ResponseWriter, r *http.Request) {
	radius, err := intParam(r.URL.Query().Get("radius_m"), wire.ReplayDefaultRadiusM)
	if err != nil || radius < wire.ReplayMinRadiusM || radius > wire.ReplayMaxRadiusM {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("radius_m must be an integer from %d to %d (metres)",
			wire.ReplayMinRadiusM, wire.ReplayMaxRadiusM))
		return
	}
	inc, err := s.Dispatch.Get(r.PathValue("id"))
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	if s.History == nil || s.Tracks == nil {
		writeError(w, http.StatusNotFound, "this hub keeps no position history to replay from")
		return
	}
	s.serveReplay(w, r, inc, int(radius))
}

// serveReplay answers the replay of inc with the units within radius
// metres.
func (s *server) serveReplay(w http.ResponseWriter, r *http.Request, inc wire.Incident, radius int) {
	head := wire.Replay{Incident: inc, From: inc.Created, RadiusM: int(radius)}
	head.To = s.Now().UnixMilli()
	if inc.Status == dispatch.StatusClosed && inc.Closed > 0 {
		head.To = inc.Closed
	}
	head.To = max(head.To, head.From)
	if head.To-head.From > wire.ReplayMaxSpanMS {
		head.To, head.Truncated = head.From+wire.ReplayMaxSpanMS, true
	}

	near, err := s.nearIncident(inc, head.From, head.To, float64(radius))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	units, leftOff := replayUnits(inc, near)
	head.UnitsLeftOff = leftOff

	// The head is the replay without its units, as json.Marshal writes it,
	// up to the units' opening bracket.
	hb, err := json.Marshal(head)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hb = append(bytes.TrimSuffix(hb, []byte("null}")), '[')

	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	var scratch bytes.Buffer
	enc := json.NewEncoder(&scratch)
	fail := func(err error, n int) {
		if cw.n == 0 {
			if r.Context().Err() == nil {
				w.Header().Del("Content-Type")
				s.fail(w, r, err)
			}
			return
		}
		if r.Context().Err() != nil {
			s.Logger.Debug("api: replay not delivered", "path", r.URL.Path, "units", n, "err", err)
		} else {
			s.Logger.Error("api: replay cut short", "path", r.URL.Path, "units", n, "err", err)
		}
		// The 200 and part of the replay are out: the body must not look
		// complete, so the connection is cut.
		panic(http.ErrAbortHandler)
	}

	bw.Write(hb)
	for i, u := range units {
		if err := r.Context().Err(); err != nil {
			fail(err, i)
			return
		}
		track, err := s.Tracks.Track(u.Unit, head.From, head.To, wire.ReplayMaxPoints)
		if err != nil {
			fail(fmt.Errorf("track of %s: %w", u.Unit, err), i)
			return
		}
		if s.Fleet != nil {
			if v, ok := s.Fleet.Get(u.Unit); ok {
				u.Type, u.Callsign = v.Type, v.Callsign
			}
		}
		fillReplayUnit(&u, track, head.From)
		scratch.Reset()
		if err := enc.Encode(u); err != nil {
			fail(fmt.Errorf("track of %s: %w", u.Unit, err), i)
			return
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.Write(bytes.TrimSuffix(scratch.Bytes(), []byte("\n")))
		if (i+1)%replayFlushEvery == 0 {
			err := bw.Flush()
			if err == nil {
				if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
					err = ferr
				}
			}
			if err != nil {
				fail(err, i+1)
				return
			}
		}
	}
	bw.WriteString("]}\n")
	if err := bw.Flush(); err != nil {
		fail(err, len(units))
	}
}

// countingWriter counts what reaches the ResponseWriter: once it is not
// 0, the 200 is out.
type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// incidentPlaces are the places the incident had, in time order: the one
// first reported (the created entry's params, or the incident's own place
// for an incident older than those params), then each sighting's.
func incidentPlaces(inc wire.Incident) []replayPlace {
	places := []replayPlace{}
	for _, e := range inc.Timeline {
		if e.Params == nil || e.Params.Lat == nil || e.Params.Lon == nil {
			continue
		}
		switch {
		case e.Type == wire.EntryCreated && len(places) == 0:
			places = append(places, replayPlace{at: inc.Created, lat: *e.Params.Lat, lon: *e.Params.Lon})
		case e.Type == wire.EntrySighting:
			places = append(places, replayPlace{at: e.TS, lat: *e.Params.Lat, lon: *e.Params.Lon})
		}
	}
	if len(places) == 0 || places[0].at > inc.Created {
		places = slices.Insert(places, 0, replayPlace{at: inc.Created, lat: inc.Lat, lon: inc.Lon})
	}
	return places
}

// nearIncident finds every unit with a stored position within radius
// metres of the place the incident had at that position's time, between
// from and to, with the closest it came.
func (s *server) nearIncident(inc wire.Incident, from, to int64, radius float64) (map[string]float64, error) {
	near := map[string]float64{}
	places := incidentPlaces(inc)
	for k, p := range places {
		since, until := max(p.at, from), to
		if k+1 < len(places) {
			until = min(until, places[k+1].at)
		}
		if since > until {
			continue
		}
		// The box around the circle, a little larger, clipped to the globe;
		// the distance decides.
		dLat := radius / (protocol.EarthRadiusM * math.Pi / 180) * 1.01
		dLon := 360.0
		if c := math.Cos(p.lat * math.Pi / 180); c > 1e-6 {
			dLon = min(dLat/c, 360)
		}
		q := history.AreaQuery{
			MinLat: max(p.lat-dLat, -90), MaxLat: min(p.lat+dLat, 90),
			MinLon: max(p.lon-dLon, -180), MaxLon: min(p.lon+dLon, 180),
			Since: since, Until: until,
		}
		_, err := s.History.Area(q, func(pos *history.Position) error {
			d := protocol.Haversine(p.lat, p.lon, pos.Lat, pos.Lon)
			if d > radius {
				return nil
			}
			if old, ok := near[pos.Unit]; !ok || d < old {
				near[pos.Unit] = d
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("replay of %s: units near %.6f,%.6f: %w", clip.String(inc.ID), p.lat, p.lon, err)
		}
	}
	return near, nil
}

// replayUnits orders the units of a replay: the assigned ones in the order
// of their first assignment, then the others nearest first (ties by id),
// at most wire.ReplayMaxUnits; it also returns how many it left off.
func replayUnits(inc wire.Incident, near map[string]float64) ([]wire.ReplayUnit, int) {
	var units []wire.ReplayUnit
	seen := map[string]bool{}
	nearest := func(id string) *int {
		d, ok := near[id]
		if !ok {
			return nil
		}
		m := int(math.Round(d))
		return &m
	}
	for _, a := range inc.Assignments {
		if seen[a.Unit] {
			continue
		}
		seen[a.Unit] = true
		units = append(units, wire.ReplayUnit{Unit: a.Unit, Assigned: true, NearestM: nearest(a.Unit)})
	}
	others := make([]string, 0, len(near))
	for id := range near {
		if !seen[id] {
			others = append(others, id)
		}
	}
	slices.SortFunc(others, func(a, b string) int {
		return cmp.Or(cmp.Compare(near[a], near[b]), cmp.Compare(a, b))
	})
	room := max(wire.ReplayMaxUnits-len(units), 0)
	leftOff := max(len(others)-room, 0)
	for _, id := range others[:len(others)-leftOff] {
		units = append(units, wire.ReplayUnit{Unit: id, NearestM: nearest(id)})
	}
	return units, leftOff
}

// fillReplayUnit puts a track into u's columns.
func fillReplayUnit(u *wire.ReplayUnit, track []history.Position, from int64) {
	u.T = make([]int64, len(track))
	u.Lat = make([]float64, len(track))
	u.Lon = make([]float64, len(track))
	u.Status = []protocol.Status{}
	u.StatusFrom = []int{}
	for i, p := range track {
		u.T[i] = p.TS - from
		u.Lat[i] = round6(p.Lat)
		u.Lon[i] = round6(p.Lon)
		if i == 0 || p.Status != track[i-1].Status {
			u.Status = append(u.Status, p.Status)
			u.StatusFrom = append(u.StatusFrom, i)
		}
	}
}

// round6 rounds degrees to 6 decimals (about 0.1 m).
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }
