package simulator

import (
	"fmt"
	"slices"
	"testing"

	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/incident"
	"kuaifan/simulator/internal/scenario"
)

// Every kind the simulator reports by default is one the dashboard knows
// and translates: the default mix, the built-in city's hot spots and the
// built-in scenarios (their background mixes and scripted incidents).
func TestKindsKnown(t *testing.T) {
	type use struct{ where, kind string }
	var uses []use
	for _, k := range incident.DefaultMix().Kinds {
		uses = append(uses, use{"default mix", k.Kind})
	}
	for _, h := range city.Changsha().HotSpots {
		for _, k := range h.Kinds {
			uses = append(uses, use{"hot spot " + h.Name, k})
		}
	}
	names := scenario.BuiltinNames()
	if len(names) == 0 {
		t.Fatal("no built-in scenarios")
	}
	for _, name := range names {
		s, ok := scenario.Builtin(name)
		if !ok {
			t.Fatalf("built-in scenario %s does not load", name)
		}
		if s.Incidents != nil {
			for _, k := range s.Incidents.Kinds {
				uses = append(uses, use{"scenario " + name + " mix", k.Kind})
			}
		}
		for i, st := range s.Steps {
			if st.Incident != nil {
				uses = append(uses, use{fmt.Sprintf("scenario %s step %d", name, i+1), st.Incident.Kind})
			}
		}
	}
	for _, u := range uses {
		if !slices.Contains(api.Kinds, u.kind) {
			t.Errorf("%s: kind %q is not in api.Kinds", u.where, u.kind)
		}
	}
}
