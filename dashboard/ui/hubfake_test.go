package ui

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	papi "kuaifan/protocol/api"
)

// fakeHub is the hub's HTTP API and /ws as far as the dashboard uses them:
// Bearer auth, single-use stream tickets, incidents, tracks. Each accepted
// websocket is handed to the test (conns) to script.
type fakeHub struct {
	t     *testing.T
	srv   *httptest.Server
	token string

	mu         sync.Mutex
	tickets    map[string]bool // issued and not yet used
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

	conns chan *hubConn
}

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
		incidents: map[string]*Incident{}, conns: make(chan *hubConn, 16)}
	mux := http.NewServeMux()
	api := func(pattern string, f http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			h.mu.Lock()
			h.authHeader = append(h.authHeader, r.Header.Get("Authorization"))
			h.mu.Unlock()
			if r.Header.Get("Authorization") != "Bearer "+h.currentToken() {
				w.WriteHeader(http.StatusUnauthorized)
				json.NewEncoder(w).Encode(map[string]string{"error": "missing or wrong Bearer token"})
				return
			}
			f(w, r)
		})
	}
	api("POST /api/stream/ticket", func(w http.ResponseWriter, r *http.Request) {
		var b [16]byte
		rand.Read(b[:])
		tk := hex.EncodeToString(b[:])
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
		h.mu.Lock()
		inc := h.incidents[r.PathValue("id")]
		h.mu.Unlock()
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

// tokenNeverInURLs checks the pitfall every sign-in design has: the token
// must not be in any URL (URLs end up in logs).
func (h *fakeHub) tokenNeverInURLs(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.requests {
		if strings.Contains(r, h.token) {
			t.Errorf("the token is in a URL: %s", r)
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
