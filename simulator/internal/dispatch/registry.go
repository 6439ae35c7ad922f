package dispatch

import (
	"sync"
	"time"

	"kuaifan/simulator/internal/city"
)

// Registry is every incident this run created: the call-taker's and the
// scenario's, by id and by the scenario's ref. It also holds the
// dispatcher's bookkeeping about each.
type Registry struct {
	mu   sync.Mutex
	byID map[string]*Record
	list []*Record
	refs map[string]string // scenario ref → incident id
}

// Record is what the simulator knows of one of its incidents.
type Record struct {
	ID        string
	Ref       string
	Kind      string
	Priority  int
	CreatedS  float64    // simulated
	Auto      bool       // the hub dispatched it by itself at creation
	At        city.Point // where it was reported
	Sightings []Sighting

	// The simulated dispatcher's bookkeeping.
	waitingSince time.Duration // simulated; when it was seen open with nobody assigned
	waiting      bool
	offerSeen    int64         // the sighting time of the last offer acted upon
	assigned     int           // assignments the dispatcher made
	OffersTaken  int           // the hub's offers (a better-placed unit) the dispatcher took
	failed       int           // attempts that found no unit to send
	intercept    bool          // a sighting with nobody on the way: send a unit after the delay
	sightedAt    time.Duration // simulated, the last sighting
}

// Sighting is one sighting of the incident, reported by a scenario step.
type Sighting struct {
	AtS     float64
	Point   city.Point
	Source  string   // as reported to the hub
	EnRoute []string // the units on their way when it came (the hub re-targets them)
	Offered string   // the better-placed free unit the hub offered, if any
	// Camera is the id of the camera of the scenario's set that saw it, if
	// one did; CameraName its name. CameraPosted: the sighting carried the
	// id (the hub knows the camera); else it went as "camera <name>".
	Camera, CameraName string
	CameraPosted       bool
}

// NewRegistry is an empty registry.
func NewRegistry() *Registry {
	return &Registry{byID: map[string]*Record{}, refs: map[string]string{}}
}

func (r *Registry) add(rec *Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID[rec.ID] = rec
	r.list = append(r.list, rec)
	if rec.Ref != "" {
		r.refs[rec.Ref] = rec.ID
	}
}

// Ref is the scenario's name for an incident, or "".
func (r *Registry) Ref(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec, ok := r.byID[id]; ok {
		return rec.Ref
	}
	return ""
}

// ByRef is the incident a scenario step names.
func (r *Registry) ByRef(ref string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.refs[ref]
	return id, ok
}

// with runs f on the incident's record under the registry's lock.
func (r *Registry) with(id string, f func(*Record)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.byID[id]
	if ok {
		f(rec)
	}
	return ok
}

// Snapshot copies the records, oldest first.
func (r *Registry) Snapshot() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Record, len(r.list))
	for i, rec := range r.list {
		out[i] = *rec
		out[i].Sightings = make([]Sighting, len(rec.Sightings))
		for k, sr := range rec.Sightings {
			sr.EnRoute = append([]string(nil), sr.EnRoute...)
			out[i].Sightings[k] = sr
		}
	}
	return out
}

// Len is how many incidents the run created.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.list)
}

// Known reports whether the incident is one of the run's.
func (r *Registry) Known(id string) bool { return r.with(id, func(*Record) {}) }

// Sighted records a sighting of the incident at simulated time now. With
// nobody on the way to the new place (the units sent are on scene where
// the suspects were), the dispatcher sends a unit to intercept after its
// delay.
func (r *Registry) Sighted(id string, s Sighting, now time.Duration) {
	r.with(id, func(rec *Record) {
		rec.Sightings = append(rec.Sightings, s)
		rec.intercept, rec.sightedAt = len(s.EnRoute) == 0, now
	})
}
