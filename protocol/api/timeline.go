package api

// Timeline entry types. Version 1 of the contract had created, dispatched,
// ack, decline, timeout, sighting, arrived, cleared and closed; recommended,
// uncovered, offered and cancelled came with dispatch; covered and reopened
// are additive (2026-12).
const (
	EntryCreated     = "created"
	EntryRecommended = "recommended"
	EntryUncovered   = "uncovered" // nobody is there or acknowledged within the first tier, and no fresh free unit is within it
	EntryCovered     = "covered"   // the uncovered flag cleared: a unit acknowledged within the first tier, or is on scene
	EntryDispatched  = "dispatched"
	EntryAck         = "ack"
	EntryDecline     = "decline"
	EntryTimeout     = "timeout"
	EntrySighting    = "sighting"
	EntryOffered     = "offered"
	EntryArrived     = "arrived"
	EntryCleared     = "cleared"
	EntryCancelled   = "cancelled"
	EntryClosed      = "closed"
	EntryReopened    = "reopened"

	// Additive (2026-12), the chase:
	EntryUpdateLocation = "update_location" // the new place was sent to Unit, on its way
	EntryOfferDismissed = "offer_dismissed" // a dispatcher turned the offered Unit down
)

// EntryTypes is every timeline type, in lifecycle order.
var EntryTypes = []string{EntryCreated, EntryRecommended, EntryUncovered, EntryCovered, EntryDispatched,
	EntryAck, EntryDecline, EntryTimeout, EntrySighting, EntryUpdateLocation, EntryOffered, EntryOfferDismissed,
	EntryArrived, EntryCleared, EntryCancelled, EntryClosed, EntryReopened}

// Reasons: why a step happened, machine-readable, with its figures in
// Params. A reader renders them in its own language; Entry.Detail keeps an
// English sentence for tools that only print. "Unit" below is Entry.Unit,
// the unit the step is about; every other name is a field of Params. Types
// without reasons (ack, decline, arrived, cleared) have no Reason.
const (
	// created: Params.Kind, Priority, and (additive, 2026-12) Lat, Lon: the
	// place first reported, which sightings move the incident away from
	ReasonReported = "reported"

	// recommended
	ReasonRanked = "ranked"  // Params.Ranked: the best units with their ETAs
	ReasonNoUnit = "no_unit" // no unit available anywhere

	// uncovered: nobody on scene or acknowledged within tier 1
	ReasonNoFreshInTier1 = "no_fresh_in_tier1" // and no fresh, free unit within it; Params.Other, Tier, ETAS: the best there is (FixAgeS if even that one is stale; no Params: nobody at all)
	ReasonNoReplacement  = "no_replacement"    // Params.Other failed (Params.State: declined / timeout) and nobody fresh and free is left to send instead

	// covered: the uncovered flag cleared
	ReasonAckedInTier1 = "acked_in_tier1" // Unit acknowledged and its ETA from a fresh fix, Params.ETAS, is within tier 1
	ReasonOnScene      = "on_scene"       // Unit is on scene

	// dispatched
	ReasonInTier         = "in_tier"         // a recommended unit: Params.Tier, ETAS (FixAgeS when the position was stale)
	ReasonNotRecommended = "not_recommended" // a dispatcher sent a unit that was not among the recommendations; no Params
	ReasonReplacing      = "replacing"       // the hub's own: instead of Params.Other, who Params.State (declined / timeout); Tier, ETAS
	ReasonOfferTaken     = "offer_taken"     // additive (2026-12): the unit the hub offered after a sighting; Params.ETAS, BestETAS as offered

	// timeout
	ReasonNoAck = "no_ack" // Params.TimeoutS

	// decline (additive, 2026-12): the unit declined; Params.Note is the
	// reason its officer gave, if any
	ReasonByOfficer = "by_officer"

	// sighting: Params.Lat, Lon, and Source, Note, Camera when the report
	// gave them (Note and Camera additive, 2026-12)
	ReasonSighted = "sighted"

	// update_location (additive, 2026-12): Unit, on its way, was sent the
	// new place; Params.Lat, Lon
	ReasonRetargeted = "retargeted"

	// offer_dismissed (additive, 2026-12): Unit was offered; Params.Note if
	// the dispatcher said why
	ReasonDismissed = "dismissed"

	// offered: Params.ETAS, BestETAS
	ReasonSooner = "sooner"

	// cancelled: Unit was called off
	ReasonIncidentClosed = "incident_closed" // the incident was closed with the unit on it
	ReasonLateAck        = "late_ack"        // acked after its assignment ended as Params.State (timeout / cancelled)

	// closed
	ReasonAllCleared = "all_cleared" // every unit sent has cleared
	ReasonByPerson   = "by_person"   // a person closed it (Params.Note, if they said why)

	// reopened: Params.Note is the reason a person gave (required)
	ReasonReopened = "reopened"
)

// Reasons lists every reason with the entry type it goes with.
var Reasons = map[string][]string{
	EntryCreated:        {ReasonReported},
	EntryRecommended:    {ReasonRanked, ReasonNoUnit},
	EntryUncovered:      {ReasonNoFreshInTier1, ReasonNoReplacement},
	EntryCovered:        {ReasonAckedInTier1, ReasonOnScene},
	EntryDispatched:     {ReasonInTier, ReasonNotRecommended, ReasonReplacing, ReasonOfferTaken},
	EntryTimeout:        {ReasonNoAck},
	EntryDecline:        {ReasonByOfficer},
	EntrySighting:       {ReasonSighted},
	EntryOffered:        {ReasonSooner},
	EntryUpdateLocation: {ReasonRetargeted},
	EntryOfferDismissed: {ReasonDismissed},
	EntryCancelled:      {ReasonIncidentClosed, ReasonLateAck},
	EntryClosed:         {ReasonAllCleared, ReasonByPerson},
	EntryReopened:       {ReasonReopened},
}

// Entry is one step on an incident's timeline.
type Entry struct {
	TS     int64   `json:"ts"` // Unix ms, hub clock
	Type   string  `json:"type"`
	Unit   string  `json:"unit,omitempty"` // the unit the step is about
	Actor  string  `json:"actor"`          // "dispatcher", "auto" (the hub), "system" (a timer), or a unit id
	Detail string  `json:"detail,omitempty"`
	Reason string  `json:"reason,omitempty"` // one of Reasons[Type]
	Params *Params `json:"params,omitempty"`
}

// Params are the figures and names behind a step; each reason says which it
// sets. Durations are seconds.
type Params struct {
	Kind     string   `json:"kind,omitempty"`
	Priority int      `json:"priority,omitempty"`
	Tier     int      `json:"tier,omitempty"` // 1-based, in the dispatch policy's escalation order
	ETAS     *float64 `json:"eta_s,omitempty"`
	FixAgeS  *float64 `json:"fix_age_s,omitempty"`
	BestETAS *float64 `json:"best_eta_s,omitempty"` // the best unit on its way
	TimeoutS *float64 `json:"timeout_s,omitempty"`
	Other    string   `json:"other,omitempty"` // another unit the step names: the best candidate, the one replaced
	State    string   `json:"state,omitempty"` // an assignment state the step refers to
	Source   string   `json:"source,omitempty"`
	Lat      *float64 `json:"lat,omitempty"`
	Lon      *float64 `json:"lon,omitempty"`
	Note     string   `json:"note,omitempty"`   // words a person typed
	Camera   string   `json:"camera,omitempty"` // a camera's id (sighting; additive, 2026-12)
	Ranked   []Ranked `json:"ranked,omitempty"`
}

// Ranked is one recommended unit as the timeline remembers it.
type Ranked struct {
	Unit  string  `json:"unit"`
	ETAS  float64 `json:"eta_s"`
	Stale bool    `json:"stale,omitempty"`
}

// Actors other than a unit's id.
const (
	ActorDispatcher = "dispatcher"
	ActorAuto       = "auto"   // the hub's own decision
	ActorSystem     = "system" // a timer
)
