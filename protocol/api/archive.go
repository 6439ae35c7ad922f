package api

// The incident archive and the daily report (additive, 2026-12).

// GET /api/incidents/search: the stored incidents created in [from, to)
// (Unix ms, at most MaxKPIDays apart), newest first, filtered by
//
//	status    ArchiveStatus*: closed, open or all (default all)
//	district  a district's id ("none": outside every district), as the KPIs group
//	kind      an incident kind
//	priority  1, 2 or 3
//	unit      a unit ever assigned to the incident
//	q         text: case-insensitive, matched in the id, summary, kind and
//	          the notes of the timeline (close notes, sightings' notes)
//	limit     1 to ArchiveMaxLimit (default ArchiveDefaultLimit)
//	cursor    the Next of the page before
//
// Incidents are kept as long as the hub's retention says.
const (
	ArchiveStatusAll    = "all"
	ArchiveStatusOpen   = "open"
	ArchiveStatusClosed = "closed"

	ArchiveDefaultLimit = 50
	ArchiveMaxLimit     = 500
)

// ArchivePage is one page of GET /api/incidents/search.
type ArchivePage struct {
	Incidents []ArchiveRow `json:"incidents"`
	// Total is how many incidents of the window match, on every page.
	Total int `json:"total"`
	// Next is the cursor of the next page; absent on the last.
	Next string `json:"next,omitempty"`
}

// ArchiveRow is one incident as the archive lists it: enough to choose it
// (and replay it) without its timeline.
type ArchiveRow struct {
	ID       string  `json:"id"`
	Kind     string  `json:"kind"`
	Priority int     `json:"priority"`
	Status   string  `json:"status"` // IncidentOpen… as the incident's
	Summary  string  `json:"summary,omitempty"`
	District string  `json:"district,omitempty"` // of the place first reported, as the KPIs group; absent outside every district
	Lat      float64 `json:"lat"`                // where it is (the last sighting's place)
	Lon      float64 `json:"lon"`
	Created  int64   `json:"created"`          // Unix ms
	Closed   int64   `json:"closed,omitempty"` // Unix ms of the close; absent while not closed
	// Units are every unit ever assigned, in the order of assignment.
	Units []string `json:"units,omitempty"`
	// Seconds from creation to the first dispatch and the first arrival;
	// absent when the step has not happened.
	ToDispatchS *float64 `json:"to_dispatch_s,omitempty"`
	ToArrivalS  *float64 `json:"to_arrival_s,omitempty"`
	Uncovered   bool     `json:"uncovered,omitempty"` // flagged uncovered at least once
}

// GET /api/report/daily?date=2006-01-02: the daily report of one local
// date of the hub (default today), 00:00 to 24:00 in the hub's time zone.
const ReportWorst = 10 // the worst responses a daily report lists

// DailyReport is the answer of GET /api/report/daily.
type DailyReport struct {
	Date string `json:"date"` // "2006-01-02", the hub's local date
	Zone string `json:"zone"` // the hub's time zone: "Asia/Shanghai", or "CST+08:00" when it runs on the machine's zone
	From int64  `json:"from"` // Unix ms, the date's 00:00
	To   int64  `json:"to"`   // Unix ms, the next date's 00:00
	// Total, Shifts (KPIByShift: "day", "night") and Districts are the
	// response figures of the incidents created that date.
	Total     KPIRow   `json:"total"`
	Shifts    []KPIRow `json:"shifts"`
	Districts []KPIRow `json:"districts"`
	// Worst are up to ReportWorst incidents of the date with the worst
	// response: those never reached first (the oldest first, as they
	// waited longest), then the slowest first arrivals.
	Worst []ArchiveRow `json:"worst"`
	// Uncovered are the periods of the date during which at least one
	// incident was flagged uncovered (from its uncovered entry to its
	// covered entry, its close, or now), overlapping spans merged.
	Uncovered []UncoveredPeriod `json:"uncovered"`
}

// UncoveredPeriod is a span with at least one incident uncovered.
type UncoveredPeriod struct {
	From      int64    `json:"from"`           // Unix ms
	To        int64    `json:"to"`             // Unix ms; the report's end or now while still uncovered
	Open      bool     `json:"open,omitempty"` // still uncovered when the report was made
	Incidents []string `json:"incidents"`      // the incidents uncovered in it, by id
}
