package simulator

import (
	"fmt"
	"sync"
	"time"
)

// journal is the run's timeline, for the report: the scenario's steps, the
// faults, the outages, and what the officers did about each incident. It is
// bounded: a run of days keeps its first maxJournal entries (the counts in
// the report cover everything).
type journal struct {
	mu      sync.Mutex
	entries []Entry
	dropped int
}

const maxJournal = 200_000

// Entry is one line of the run's timeline. AtS is simulated seconds since
// the start.
type Entry struct {
	AtS      float64 `json:"at_s"`
	Kind     string  `json:"kind"`
	Unit     string  `json:"unit,omitempty"`
	Incident string  `json:"incident,omitempty"`
	Ref      string  `json:"ref,omitempty"`
	Detail   string  `json:"detail,omitempty"`
}

func (j *journal) add(e Entry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.entries) >= maxJournal {
		j.dropped++
		return
	}
	j.entries = append(j.entries, e)
}

// unitEvent records what an officer did about an incident.
func (j *journal) unitEvent(at time.Duration, kind, unit, incident, detail string) {
	j.add(Entry{AtS: secs(at), Kind: kind, Unit: unit, Incident: incident, Detail: detail})
}

// note records a run-level line: a step, a fault, an outage.
func (j *journal) note(at time.Duration, kind, format string, args ...any) {
	j.add(Entry{AtS: secs(at), Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

func (j *journal) all() []Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Entry(nil), j.entries...)
}

// registry is every incident this run created: the call-taker's and the
// scenario's, by id and by the scenario's ref.
type registry struct {
	mu   sync.Mutex
	byID map[string]*incidentRec
	list []*incidentRec
	refs map[string]string // scenario ref → incident id
}

// incidentRec is what the simulator knows of one of its incidents.
type incidentRec struct {
	ID        string
	Ref       string
	Kind      string
	Priority  int
	CreatedS  float64 // simulated
	Auto      bool    // the hub dispatched it by itself at creation
	At        Point   // where it was reported
	Sightings []sightingRec

	// The simulated dispatcher's bookkeeping.
	waitingSince time.Duration // simulated; when it was seen open with nobody assigned
	waiting      bool
	offerSeen    int64 // the sighting time of the last offer acted upon
	assigned     int   // assignments the dispatcher made
	offersTaken  int
	failed       int           // attempts that found no unit to send
	intercept    bool          // a sighting with nobody on the way: send a unit after the delay
	sightedAt    time.Duration // simulated, the last sighting
}

type sightingRec struct {
	AtS     float64
	Point   Point
	Source  string
	EnRoute []string // the units on their way when it came (the hub re-targets them)
	Offered string   // the better-placed free unit the hub offered, if any
}

func newRegistry() *registry {
	return &registry{byID: map[string]*incidentRec{}, refs: map[string]string{}}
}

func (r *registry) add(rec *incidentRec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID[rec.ID] = rec
	r.list = append(r.list, rec)
	if rec.Ref != "" {
		r.refs[rec.Ref] = rec.ID
	}
}

// ref is the scenario's name for an incident, or "".
func (r *registry) ref(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec, ok := r.byID[id]; ok {
		return rec.Ref
	}
	return ""
}

// byRef is the incident a scenario step names.
func (r *registry) byRef(ref string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.refs[ref]
	return id, ok
}

// with runs f on the incident's record under the registry's lock.
func (r *registry) with(id string, f func(*incidentRec)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.byID[id]
	if ok {
		f(rec)
	}
	return ok
}

// snapshot copies the records (the dispatcher's fields included).
func (r *registry) snapshot() []incidentRec {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]incidentRec, len(r.list))
	for i, rec := range r.list {
		out[i] = *rec
		out[i].Sightings = make([]sightingRec, len(rec.Sightings))
		for k, sr := range rec.Sightings {
			sr.EnRoute = append([]string(nil), sr.EnRoute...)
			out[i].Sightings[k] = sr
		}
	}
	return out
}

func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.list)
}
