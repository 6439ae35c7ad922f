package api

// Kinds are the incident kinds kuaifan knows by name, most common first: the
// dashboard's form offers them and translates each, the dispatch policy's
// lists and the simulator's mixes draw from them. The hub accepts any kind
// of the form [a-z0-9_-]{1,32}; one outside this list is shown as itself.
var Kinds = []string{
	"theft", "robbery", "assault", "fight", "dispute", "domestic_violence", "fraud", "traffic",
	"lost_person", "suspicious", "noise", "medical", "fire", "crowd", "welfare_check", "found_property",
	"armed_robbery", "homicide", "kidnapping", "weapon", "riot", "sexual_assault", "hostage", "terrorism",
	KindOfficerHelp,
}

// KindOfficerHelp is the kind of the incident an officer's SOS opens
// (additive, 2026-12): priority 1, at the officer's position. It is in
// Kinds, last (the rarest), so that it is named and translated wherever
// kinds are, the archive filters on it, and a dispatcher can open one by
// hand for an officer who called in by radio; the hub accepted any kind of
// the pattern already, so this changes nothing it validates. An incident
// opened by hand has no sos (no officer's position to follow, no units
// sent by itself).
const KindOfficerHelp = "officer_help"
