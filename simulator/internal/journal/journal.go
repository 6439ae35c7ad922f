// Package journal is the run's timeline, for the report: the scenario's
// steps, the faults, the outages, and what the officers did about each
// incident, at simulated times.
package journal

import (
	"fmt"
	"sync"
	"time"
)

// Journal is the run's timeline, for the report: the scenario's steps, the
// faults, the outages, and what the officers did about each incident. It is
// bounded: a run of days keeps its first Max entries (the counts in
// the report cover everything).
type Journal struct {
	mu      sync.Mutex
	entries []Entry
	dropped int
}

// Max is how many entries a journal keeps.
const Max = 200_000

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

// Add records an entry (unless the journal is full).
func (j *Journal) Add(e Entry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.entries) >= Max {
		j.dropped++
		return
	}
	j.entries = append(j.entries, e)
}

// UnitEvent records what an officer did about an incident.
func (j *Journal) UnitEvent(at time.Duration, kind, unit, incident, detail string) {
	j.Add(Entry{AtS: at.Seconds(), Kind: kind, Unit: unit, Incident: incident, Detail: detail})
}

// Note records a run-level line: a step, a fault, an outage.
func (j *Journal) Note(at time.Duration, kind, format string, args ...any) {
	j.Add(Entry{AtS: at.Seconds(), Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

// All copies the entries, oldest first.
func (j *Journal) All() []Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Entry(nil), j.entries...)
}

// Dropped is how many entries did not fit.
func (j *Journal) Dropped() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.dropped
}
