package api

// Coverage is the city's live coverage (additive, 2026-12): the answer of
// GET /api/coverage, and the "coverage" layer of the live stream's frames.
//
// A grid of cells (CellM metres, 250 by default) lies over the city's
// districts. Each cell's ETA is that of the nearest free unit with a fresh
// fix, by matching's rule (great-circle distance × the detour factor ÷ the
// unit type's speed, at the cell's centre); the cell is in the first tier
// whose bound covers it (bounds inclusive). Cells holds one byte per cell,
// row by row from the south-west corner:
//
//	'1' … '9'  the tier reached (TiersS[tier-1] seconds or less)
//	'0'        beyond the last tier: no free unit within TiersS[last]
//	'-'        outside every district: not part of the city's figures
//
// Shares are cumulative (within 3 minutes includes within 1), by area and
// weighted by demand (the incidents created in each cell over the last
// DemandDays days, plus a floor so that quiet cells still count; see
// hub/README.md, "Coverage").
//
// In the stream, a snapshot frame carries the whole layer; a delta carries
// Changes (the cells whose tier changed, [cell, tier] with tier 0 beyond)
// and the figures, without Grid and Cells. Applying a change twice is
// harmless: each gives the cell's current tier.
type Coverage struct {
	TS        int64              `json:"ts"` // Unix ms, hub clock, of the computation
	Grid      *CoverageGrid      `json:"grid,omitempty"`
	TiersS    []float64          `json:"tiers_s,omitempty"` // tier bounds in seconds, e.g. [60,180,300]
	Cells     string             `json:"cells,omitempty"`
	Changes   [][2]int           `json:"changes,omitempty"`
	Units     int                `json:"units"`      // free units with a fresh fix counted
	CoverTier int                `json:"cover_tier"` // the tier the headline share and the holes are about (2: 3 minutes)
	City      CoverageShares     `json:"city"`
	Districts []DistrictCoverage `json:"districts"`
	// Holes are where uncovered demand concentrates, the most first, at
	// most MaxCoverageHoles (see CoverageHole).
	Holes      []CoverageHole `json:"holes"`
	DemandDays int            `json:"demand_days"`
}

// CoverageGrid places the cells: cell i is in row i ÷ Cols (row 0 the
// southernmost) and column i mod Cols (column 0 the westernmost); its
// south-west corner is (MinLat + row×LatStep, MinLon + col×LonStep).
type CoverageGrid struct {
	MinLat  float64 `json:"min_lat"`
	MinLon  float64 `json:"min_lon"`
	LatStep float64 `json:"lat_step"` // degrees
	LonStep float64 `json:"lon_step"` // degrees
	Rows    int     `json:"rows"`
	Cols    int     `json:"cols"`
	CellM   float64 `json:"cell_m"`
}

// CoverageShares are the shares (0..1) of an area reached within each tier,
// cumulative, one per tier bound: by area, and weighted by demand.
type CoverageShares struct {
	Area   []float64 `json:"area"`
	Demand []float64 `json:"demand"`
	Cells  int       `json:"cells"` // cells counted
}

// DistrictCoverage is one district's shares.
type DistrictCoverage struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	CoverageShares
	Units int `json:"units"` // free units with a fresh fix in the district
}

// CoverageHole is a place where the city is not covered: the city cells
// beyond the cover tier in a square of about 2 km around it (the hub's
// citycover.HoleM), chosen where that square holds the most uncovered
// demand; the squares of two holes do not overlap.
type CoverageHole struct {
	CentreLat   float64 `json:"lat"` // the demand-weighted centre of its uncovered cells
	CentreLon   float64 `json:"lon"`
	Cells       int     `json:"cells"` // uncovered city cells in its square
	AreaKM2     float64 `json:"area_km2"`
	DemandShare float64 `json:"demand_share"` // of the city's demand
	District    string  `json:"district"`     // id of the district of its centre ("" none)
}

// MaxCoverageHoles bounds Coverage.Holes.
const MaxCoverageHoles = 10

// MoveUps is the answer of GET /api/moveups (additive, 2026-12): up to N
// free units whose repositioning most raises the demand-weighted share of
// the city reached within the cover tier, chosen greedily one move at a
// time (each the best single move given the ones before it), never taking
// a district below its floor of free units. Before and After are that
// share without and with every suggestion; each Gain is what its move adds
// after the ones listed before it.
type MoveUps struct {
	TS          int64    `json:"ts"` // Unix ms, hub clock
	CoverTier   int      `json:"cover_tier"`
	CoverS      float64  `json:"cover_s"` // the cover tier's bound, seconds (180)
	Floor       int      `json:"floor"`   // free units each district keeps at least
	Before      float64  `json:"before"`
	After       float64  `json:"after"`
	Suggestions []MoveUp `json:"suggestions"`
}

// MoveUp is one suggested move: the unit, where it is and where to go (the
// centre of a grid cell), how long the drive takes by matching's rule, and
// the gain in demand-weighted cover share (and in cells).
type MoveUp struct {
	Unit         string  `json:"unit"`
	Type         string  `json:"type"`
	Callsign     string  `json:"callsign,omitempty"`
	FromLat      float64 `json:"from_lat"`
	FromLon      float64 `json:"from_lon"`
	ToLat        float64 `json:"to_lat"`
	ToLon        float64 `json:"to_lon"`
	FromDistrict string  `json:"from_district"` // district ids, "" outside every one
	ToDistrict   string  `json:"to_district"`
	TravelS      float64 `json:"travel_s"`
	Gain         float64 `json:"gain"`       // share of the city's demand
	GainCells    int     `json:"gain_cells"` // cells newly within the cover tier, net
}

// RepositionRequest is the body of POST /api/units/{id}/reposition
// (additive, 2026-12): send a free unit to a place to cover it, the
// command reposition. Note is shown to the officer (at most 512 bytes).
type RepositionRequest struct {
	Lat  float64 `json:"lat"`
	Lon  float64 `json:"lon"`
	Note string  `json:"note,omitempty"`
}

// Reposition is a move-up sent to a unit: in the answer of POST
// /api/units/{id}/reposition and on the unit (Unit.Reposition) until it
// ends — the unit arrived, was dispatched, or the move-up was withdrawn.
type Reposition struct {
	ID      string  `json:"id"` // "mu-…", the command's incident field
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	Note    string  `json:"note,omitempty"`
	By      string  `json:"by"`                // who sent it (user:…, token:…)
	Sent    int64   `json:"sent"`              // Unix ms
	Arrived int64   `json:"arrived,omitempty"` // Unix ms, once the unit reported arriving
}

// MoveUpPrefix begins every move-up's id: the reposition command carries it
// in its incident field, and the unit's arrived event names it, so neither
// is taken for an incident's.
const MoveUpPrefix = "mu-"
