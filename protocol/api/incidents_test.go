package api

import (
	"strings"
	"testing"
)

func TestNewIncidentCheck(t *testing.T) {
	ok := NewIncident{Lat: 28.2, Lon: 112.9, Kind: "robbery", Priority: 1, Needs: []string{"armed"}}
	edit := func(f func(*NewIncident)) NewIncident { n := ok; f(&n); return n }
	for _, tc := range []struct {
		name string
		in   NewIncident
		want string // "" for valid
	}{
		{"valid", ok, ""},
		{"latitude 91", edit(func(n *NewIncident) { n.Lat = 91 }), "WGS-84"},
		{"kind with a space", edit(func(n *NewIncident) { n.Kind = "a b" }), "kind"},
		{"priority 0", edit(func(n *NewIncident) { n.Priority = 0 }), "priority 0"},
		{"priority 4", edit(func(n *NewIncident) { n.Priority = 4 }), "priority 4"},
		{"summary at the limit", edit(func(n *NewIncident) { n.Summary = strings.Repeat("x", MaxIncidentSummary) }), ""},
		{"summary over", edit(func(n *NewIncident) { n.Summary = strings.Repeat("x", MaxIncidentSummary+1) }), "summary"},
		{"nine needs", edit(func(n *NewIncident) { n.Needs = strings.Split("a,b,c,d,e,f,g,h,i", ",") }), "more than 8 needs"},
		{"bad need", edit(func(n *NewIncident) { n.Needs = []string{"Armed"} }), "need"},
	} {
		err := tc.in.Check()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check() = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestSightingCheck(t *testing.T) {
	for _, tc := range []struct {
		in    Sighting
		valid bool
	}{
		{Sighting{Lat: 28.2, Lon: 112.9, Source: "camera 7"}, true},
		{Sighting{Lat: 28.2, Lon: 181}, false},
		{Sighting{Lat: 28.2, Lon: 112.9, Source: strings.Repeat("x", MaxSightingSource+1)}, false},
	} {
		if err := tc.in.Check(); (err == nil) != tc.valid {
			t.Errorf("%+v: Check() = %v", tc.in, err)
		}
	}
}
