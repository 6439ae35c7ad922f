package simulator

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"kuaifan/protocol"
)

func TestFleetShares(t *testing.T) {
	share := map[protocol.UnitType]float64{
		protocol.TypeCar: 0.40, protocol.TypeMotorcycle: 0.25, protocol.TypeFoot: 0.20, protocol.TypeVolunteer: 0.15,
	}
	for _, n := range []int{1, 2, 3, 4, 7, 10, 20, 99, 100, 300, 1001, 5000} {
		specs, err := planFleet("sim", n)
		if err != nil {
			t.Fatal(err)
		}
		if len(specs) != n {
			t.Fatalf("n=%d: %d units", n, len(specs))
		}
		count := map[protocol.UnitType]int{}
		for _, s := range specs {
			count[s.Type]++
		}
		for kind, sh := range share {
			want := sh * float64(n)
			if got := float64(count[kind]); got < want-1 || got > want+1 {
				t.Errorf("n=%d: %d %s, want %.2f ± 1", n, count[kind], kind, want)
			}
			if n%20 == 0 && float64(count[kind]) != want {
				t.Errorf("n=%d: %d %s, want exactly %.0f", n, count[kind], kind, want)
			}
		}
	}
}

func TestFleetNames(t *testing.T) {
	specs, err := planFleet("sim", 300)
	if err != nil {
		t.Fatal(err)
	}
	idRE := map[protocol.UnitType]*regexp.Regexp{
		protocol.TypeCar:        regexp.MustCompile(`^sim-car-\d{3}$`),
		protocol.TypeMotorcycle: regexp.MustCompile(`^sim-moto-\d{3}$`),
		protocol.TypeFoot:       regexp.MustCompile(`^sim-foot-\d{3}$`),
		protocol.TypeVolunteer:  regexp.MustCompile(`^sim-vol-\d{3}$`),
	}
	callRE := map[protocol.UnitType]*regexp.Regexp{
		protocol.TypeCar:        regexp.MustCompile(`^湘A-\d{4}$`),
		protocol.TypeMotorcycle: regexp.MustCompile(`^铁骑-\d{2,}$`),
		protocol.TypeFoot:       regexp.MustCompile(`^步巡-\d{2,}$`),
		protocol.TypeVolunteer:  regexp.MustCompile(`^志愿-\d{2,}$`),
	}
	seen := map[string]bool{}
	caps := map[string]int{}
	for i, s := range specs {
		if !protocol.ValidUnitID(s.ID) || seen[s.ID] {
			t.Errorf("id %q invalid or repeated", s.ID)
		}
		seen[s.ID] = true
		if !strings.HasSuffix(s.ID, fmt.Sprintf("-%03d", i+1)) {
			t.Errorf("unit %d has id %q: numbered across the fleet", i+1, s.ID)
		}
		if !idRE[s.Type].MatchString(s.ID) || !callRE[s.Type].MatchString(s.Callsign) {
			t.Errorf("%s unit: id %q, callsign %q", s.Type, s.ID, s.Callsign)
		}
		if s.Capabilities == nil {
			t.Errorf("%s: capabilities nil, want [] in JSON", s.ID)
		}
		for _, c := range s.Capabilities {
			if !protocol.ValidCapability(c) {
				t.Errorf("%s: capability %q", s.ID, c)
			}
			if s.Type != protocol.TypeCar {
				t.Errorf("%s: only cars carry capabilities, got %q", s.ID, c)
			}
			caps[c]++
		}
	}
	cars := 120
	if caps["armed"] < cars/4 || caps["armed"] > cars/2 || caps["medical"] < cars/6 || caps["medical"] > cars/3 {
		t.Errorf("capabilities %v among %d cars: want some armed, some medical", caps, cars)
	}
	if specs[0].Callsign != "湘A-0001" || specs[1].Callsign != "铁骑-02" {
		t.Errorf("first callsigns %q, %q", specs[0].Callsign, specs[1].Callsign)
	}
}

func TestFleetWideNumbers(t *testing.T) {
	specs, err := planFleet("x", 1500)
	if err != nil {
		t.Fatal(err)
	}
	if specs[0].ID != "x-car-0001" || specs[1499].ID[len(specs[1499].ID)-4:] != "1500" {
		t.Errorf("ids %q … %q: want one width for the whole fleet", specs[0].ID, specs[1499].ID)
	}
}

func TestFleetBadPrefix(t *testing.T) {
	for _, p := range []string{"has space", "a/b", strings.Repeat("p", 24)} {
		if _, err := planFleet(p, 10); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
	if _, err := planFleet(strings.Repeat("p", 23), 10); err != nil { // 23 + len("-moto-010") = 32
		t.Errorf("a 23-character prefix refused: %v", err)
	}
}
