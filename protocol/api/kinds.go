package api

// Kinds are the incident kinds kuaifan knows by name, most common first: the
// dashboard's form offers them and translates each, the dispatch policy's
// lists and the simulator's mixes draw from them. The hub accepts any kind
// of the form [a-z0-9_-]{1,32}; one outside this list is shown as itself.
var Kinds = []string{
	"theft", "robbery", "assault", "fight", "dispute", "domestic_violence", "fraud", "traffic",
	"lost_person", "suspicious", "noise", "medical", "fire", "crowd", "welfare_check", "found_property",
	"armed_robbery", "homicide", "kidnapping", "weapon", "riot", "sexual_assault", "hostage", "terrorism",
}

// KindOfficerHelp is the kind of the incident an officer's SOS opens
// (additive, 2026-12): priority 1, at the officer's position. It is not in
// Kinds, the list a call-taker picks from: only the hub opens it, and the
// dashboard shows a kind it does not name as itself.
const KindOfficerHelp = "officer_help"
