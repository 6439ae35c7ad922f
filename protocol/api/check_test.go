package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func f(v float64) *float64 { return &v }

func TestReasonsBelongToTypes(t *testing.T) {
	seen := map[string]string{}
	for typ, reasons := range Reasons {
		if !slices.Contains(EntryTypes, typ) {
			t.Errorf("Reasons has type %q, not in EntryTypes", typ)
		}
		for _, r := range reasons {
			if other, ok := seen[r]; ok {
				t.Errorf("reason %q belongs to both %s and %s", r, other, typ)
			}
			seen[r] = typ
		}
	}
}

func TestEntryCheck(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
		err  string // "" for a valid entry
	}{
		{"created", Entry{TS: 1, Type: EntryCreated, Actor: ActorDispatcher, Reason: ReasonReported, Params: &Params{Kind: "theft", Priority: 2}}, ""},
		{"created without kind", Entry{TS: 1, Type: EntryCreated, Actor: ActorDispatcher, Reason: ReasonReported}, "params.kind"},
		{"ranked", Entry{TS: 1, Type: EntryRecommended, Actor: ActorAuto, Reason: ReasonRanked,
			Params: &Params{Ranked: []Ranked{{Unit: "car-1", ETAS: 40}}}}, ""},
		{"ranked without units", Entry{TS: 1, Type: EntryRecommended, Actor: ActorAuto, Reason: ReasonRanked}, "params.ranked"},
		{"nobody at all", Entry{TS: 1, Type: EntryUncovered, Actor: ActorAuto, Reason: ReasonNoFreshInTier1}, ""},
		{"best without eta", Entry{TS: 1, Type: EntryUncovered, Actor: ActorAuto, Reason: ReasonNoFreshInTier1,
			Params: &Params{Other: "car-1", Tier: 3}}, "params.eta_s"},
		{"replacing", Entry{TS: 1, Type: EntryDispatched, Unit: "car-2", Actor: ActorAuto, Reason: ReasonReplacing,
			Params: &Params{Other: "car-1", State: "declined", Tier: 2, ETAS: f(80)}}, ""},
		{"replacing a cleared unit", Entry{TS: 1, Type: EntryDispatched, Unit: "car-2", Actor: ActorAuto, Reason: ReasonReplacing,
			Params: &Params{Other: "car-1", State: "cleared", Tier: 2, ETAS: f(80)}}, "params.state"},
		{"dispatched without unit", Entry{TS: 1, Type: EntryDispatched, Actor: ActorAuto, Reason: ReasonNotRecommended}, "no unit"},
		{"reason of another type", Entry{TS: 1, Type: EntryClosed, Actor: ActorAuto, Reason: ReasonReopened}, "not one of"},
		{"reason on a type without", Entry{TS: 1, Type: EntryAck, Unit: "car-1", Actor: "car-1", Reason: ReasonOnScene}, "no reasons"},
		{"no reason", Entry{TS: 1, Type: EntryTimeout, Unit: "car-1", Actor: ActorSystem}, "not one of"},
		{"reopened without note", Entry{TS: 1, Type: EntryReopened, Actor: ActorDispatcher, Reason: ReasonReopened}, "params.note"},
		{"unknown type", Entry{TS: 1, Type: "teleported", Actor: ActorAuto}, "not a timeline type"},
		{"no actor", Entry{TS: 1, Type: EntryClosed, Reason: ReasonAllCleared}, "actor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.e.Check()
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("Check() = %v, want nil", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("Check() = %v, want it to mention %q", err, tt.err)
			}
		})
	}
}

// The JSON the hub sends and the dashboard reads: names and omissions.
func TestEntryJSON(t *testing.T) {
	e := Entry{TS: 1795949890237, Type: EntryDispatched, Unit: "car-2", Actor: ActorAuto,
		Detail: "instead: moto-1 declined; tier 2, eta 75 s", Reason: ReasonReplacing,
		Params: &Params{Other: "moto-1", State: "declined", Tier: 2, ETAS: f(75)}}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ts":1795949890237,"type":"dispatched","unit":"car-2","actor":"auto",` +
		`"detail":"instead: moto-1 declined; tier 2, eta 75 s","reason":"replacing",` +
		`"params":{"tier":2,"eta_s":75,"other":"moto-1","state":"declined"}}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
}
