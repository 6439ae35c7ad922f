package hubapi

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"kuaifan/protocol"
)

// TestNewIncidentJSON: the incident is the hub's POST /api/incidents body.
func TestNewIncidentJSON(t *testing.T) {
	inc := NewIncident{Lat: 28.2, Lon: 112.9, Kind: "theft", Priority: 2, Summary: "手机被盗", Needs: []string{}}
	b, err := json.Marshal(inc)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"lat":28.2,"lon":112.9,"kind":"theft","priority":2,"summary":"手机被盗","needs":[]}`; string(b) != want {
		t.Errorf("%s; want %s", b, want)
	}
}

func TestNewIncidentValidate(t *testing.T) {
	ok := NewIncident{Lat: 28.2, Lon: 112.9, Kind: "theft", Priority: 2}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    func(*NewIncident)
	}{
		{"lat", func(n *NewIncident) { n.Lat = 91 }},
		{"NaN", func(n *NewIncident) { n.Lon = math.NaN() }},
		{"kind", func(n *NewIncident) { n.Kind = "" }},
		{"kind case", func(n *NewIncident) { n.Kind = "Theft" }},
		{"priority 0", func(n *NewIncident) { n.Priority = 0 }},
		{"priority 4", func(n *NewIncident) { n.Priority = 4 }},
		{"summary", func(n *NewIncident) { n.Summary = strings.Repeat("x", 1025) }},
		{"needs", func(n *NewIncident) { n.Needs = strings.Fields("a b c d e f g h i") }},
		{"need", func(n *NewIncident) { n.Needs = []string{"A"} }},
	} {
		n := ok
		tc.f(&n)
		if n.Validate() == nil {
			t.Errorf("%s: no error for %+v", tc.name, n)
		}
	}
	if !protocol.ValidCapability("welfare_check") {
		t.Error("kinds are capabilities' shape")
	}
}
