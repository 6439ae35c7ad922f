package dispatch

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := p.Circles(); len(got) != 3 || got[0] != time.Minute || got[2] != 5*time.Minute {
		t.Errorf("circles = %v", got)
	}
	tests := []struct {
		typ  protocol.UnitType
		eta  float64
		tier int
	}{
		{protocol.TypeMotorcycle, 60, 1}, // bounds inclusive
		{protocol.TypeCar, 61, 2},
		{protocol.TypeFoot, 300, 3},
		{protocol.TypeCar, 301, 4},
		{protocol.TypeVolunteer, 30, 3}, // volunteers only from the 5-minute circle on
		{protocol.TypeVolunteer, 3000, 4},
	}
	for _, tt := range tests {
		if got := p.tierOf(tt.typ, tt.eta); got != tt.tier {
			t.Errorf("tierOf(%s, %v) = %d, want %d", tt.typ, tt.eta, got, tt.tier)
		}
	}
	for kind, want := range map[string]bool{"lost_person": true, "robbery": false, "assault": false, "unheard_of": false} {
		if p.volunteersAllowed(kind) != want {
			t.Errorf("volunteers for %s: %v", kind, !want)
		}
	}
	for _, tt := range []struct {
		prio int
		kind string
		n    int
	}{{1, "theft", 1}, {1, "robbery", 2}, {2, "robbery", 0}, {3, "noise", 0}} {
		if got := p.autoUnits(tt.prio, tt.kind); got != tt.n {
			t.Errorf("autoUnits(%d, %s) = %d, want %d", tt.prio, tt.kind, got, tt.n)
		}
	}
}

func TestLoadPolicy(t *testing.T) {
	tests := []struct {
		name, file, err string
	}{
		{"partial keeps defaults", `{"ack_timeout":"45s"}`, ""},
		{"violent kind for volunteers", `{"volunteer_kinds":["noise","robbery"]}`, `"robbery" is violent`},
		{"tiers must rise", `{"tiers":[{"name":"a","minutes":3,"types":["car"]},{"name":"b","minutes":1,"types":["car"]}]}`, "must rise"},
		{"unbounded tier not last", `{"tiers":[{"name":"a","minutes":0,"types":["car"]},{"name":"b","minutes":1,"types":["car"]}]}`, "only the last"},
		{"unknown type", `{"tiers":[{"name":"a","minutes":1,"types":["tank"]}]}`, `"tank"`},
		{"bad priority", `{"auto_dispatch":{"0":{"*":1}}}`, "priority"},
		{"bad duration", `{"ack_timeout":20}`, "duration"},
		{"not JSON", `{`, "policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dispatch.json")
			os.WriteFile(path, []byte(tt.file), 0o600)
			p, err := LoadPolicy(path)
			if tt.err == "" {
				if err != nil || time.Duration(p.AckTimeout) != 45*time.Second || len(p.Tiers) != 4 {
					t.Errorf("LoadPolicy = %+v, %v", p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want it to mention %q", err, tt.err)
			}
		})
	}
}

// The default policy names only kinds the dashboard knows (and translates):
// a misspelt kind in an allow-list would silently never match.
func TestDefaultPolicyKindsKnown(t *testing.T) {
	p := DefaultPolicy()
	lists := map[string][]string{"volunteer_kinds": p.VolunteerKinds, "violent_kinds": p.ViolentKinds}
	for prio, byKind := range p.AutoDispatch {
		for kind := range byKind {
			if kind != "*" {
				lists["auto_dispatch "+prio] = append(lists["auto_dispatch "+prio], kind)
			}
		}
	}
	for list, kinds := range lists {
		for _, k := range kinds {
			if !slices.Contains(api.Kinds, k) {
				t.Errorf("%s: kind %q is not in api.Kinds", list, k)
			}
		}
	}
}
