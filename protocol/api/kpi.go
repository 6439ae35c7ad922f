package api

// KPI groupings: the by= of GET /api/kpi (additive, 2026-12). The
// definitions behind every figure are kuaifan/protocol/kpi's.
const (
	KPIByDistrict = "district"  // the district of the place first reported (a district's id; "none": outside every district)
	KPIByKind     = "kind"      // the incident's kind
	KPIByPriority = "priority"  // "1", "2", "3"
	KPIByUnitType = "unit_type" // the type of the first unit that arrived; "none": never reached; "unknown": a unit the fleet no longer has
	KPIByShift    = "shift"     // "day" (08:00–20:00 local time of the hub) or "night" (20:00–08:00), by the creation time
	KPIByDay      = "day"       // the local date of creation, "2006-01-02"
	KPIByHour     = "hour"      // the local hour of day of creation, "00" to "23" (additive, 2026-12)
)

// KPIBys lists every grouping of GET /api/kpi.
var KPIBys = []string{KPIByDistrict, KPIByKind, KPIByPriority, KPIByUnitType, KPIByShift, KPIByDay, KPIByHour}

// MaxKPIDays is the longest span GET /api/kpi answers, in days.
const MaxKPIDays = 400

// KPIReport is the answer of GET /api/kpi?from=&to=&by= (additive,
// 2026-12): the response figures of the incidents created in [From, To),
// per group and in total. Rows are sorted by Group (days chronologically);
// a group without incidents has no row.
type KPIReport struct {
	From  int64    `json:"from"` // Unix ms, inclusive
	To    int64    `json:"to"`   // Unix ms, exclusive
	By    string   `json:"by"`   // one of KPIBys
	Rows  []KPIRow `json:"rows"`
	Total KPIRow   `json:"total"` // every incident of the window; Group "total"
}

// KPIRow is the response figures of one group of incidents. Durations are
// seconds from the incident's creation; a percentile is null when no
// incident of the group took that step.
type KPIRow struct {
	Group string `json:"group"`
	Count int    `json:"count"` // incidents created in the window
	// ReachBase is the denominator of the Reached shares: the incidents
	// reached, closed, or created at least 5 minutes before the report (an
	// open incident nobody has reached yet is left out while it is younger
	// than that: it may still be reached in time).
	ReachBase int `json:"reach_base"`
	// Reached1, Reached3, Reached5 are the shares (0..1) of ReachBase that a
	// unit reached (first arrival) within 1, 3 and 5 minutes of creation;
	// null when ReachBase is 0.
	Reached1 *float64 `json:"reached_1"`
	Reached3 *float64 `json:"reached_3"`
	Reached5 *float64 `json:"reached_5"`
	// P50 and P90 (nearest rank) of the seconds to the first dispatch, the
	// first ack, the first arrival and the close, over the incidents that
	// took the step (the close: those closed now).
	ToDispatchP50 *float64 `json:"to_dispatch_p50_s"`
	ToDispatchP90 *float64 `json:"to_dispatch_p90_s"`
	ToAckP50      *float64 `json:"to_ack_p50_s"`
	ToAckP90      *float64 `json:"to_ack_p90_s"`
	ToArrivalP50  *float64 `json:"to_arrival_p50_s"`
	ToArrivalP90  *float64 `json:"to_arrival_p90_s"`
	ToCloseP50    *float64 `json:"to_close_p50_s"`
	ToCloseP90    *float64 `json:"to_close_p90_s"`
	Declines      int      `json:"declines"` // decline entries on the group's timelines
	Timeouts      int      `json:"timeouts"` // timeout entries (no ack in time)
	// UncoveredShare is the share (0..1) of Count ever flagged uncovered
	// (an uncovered entry on the timeline).
	UncoveredShare float64 `json:"uncovered_share"`
}

// Export formats (additive, 2026-12): the format= of GET /api/kpi (json,
// the default, csv or xlsx) and of GET /api/incidents/export (csv or xlsx).
// CSV is UTF-8 with a byte order mark, so that Excel reads Chinese text
// right.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
	FormatXLSX = "xlsx"
)

// KPIExportColumns is the header of GET /api/kpi?format=csv|xlsx: a
// KPIRow's JSON names, in order; one row per group, then the total. An
// empty cell is a null. The shares are 0..1 (in XLSX formatted as %).
var KPIExportColumns = []string{"group", "count", "reach_base", "reached_1", "reached_3", "reached_5",
	"to_dispatch_p50_s", "to_dispatch_p90_s", "to_ack_p50_s", "to_ack_p90_s", "to_arrival_p50_s", "to_arrival_p90_s",
	"to_close_p50_s", "to_close_p90_s", "declines", "timeouts", "uncovered_share"}

// IncidentExportColumns is the header of GET /api/incidents/export: one row
// per incident created in the window, oldest first. created and closed are
// RFC 3339 in the hub's local time (closed empty while open), created_ms
// Unix ms; district is the KPIs' (of the place first reported; "none"
// outside every district); units the units sent, space-separated, in the
// order first sent; first_arrived the unit that arrived first; the
// seconds from creation are empty when the step has not happened (to_close_s
// while open); uncovered is "yes" when the incident was ever flagged
// uncovered, else "no".
var IncidentExportColumns = []string{"id", "created", "created_ms", "kind", "priority", "status", "district",
	"lat", "lon", "summary", "units", "first_arrived", "to_dispatch_s", "to_ack_s", "to_arrival_s", "to_close_s",
	"declines", "timeouts", "uncovered", "closed"}
