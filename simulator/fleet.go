package simulator

import (
	"fmt"

	"kuaifan/protocol"
)

// unitSpec is what the simulator enrols for one unit.
type unitSpec struct {
	ID           string
	Type         protocol.UnitType
	Callsign     string
	Capabilities []string
}

// mixEntry is one unit type's share of the fleet.
type mixEntry struct {
	kind   protocol.UnitType
	weight int
	short  string // in unit ids
}

// typeMix is the fleet's composition: car 40 %, motorcycle 25 %, foot 20 %,
// volunteer 15 %, as weights of a smooth weighted round robin, so every
// prefix of the fleet has close to these shares and every 20 units exactly.
func typeMix() [4]mixEntry {
	return [4]mixEntry{
		{protocol.TypeCar, 8, "car"},
		{protocol.TypeMotorcycle, 5, "moto"},
		{protocol.TypeFoot, 4, "foot"},
		{protocol.TypeVolunteer, 3, "vol"},
	}
}

// planFleet names n units: ids "{prefix}-car-001", "{prefix}-moto-002", …
// (numbered across the fleet), callsigns "湘A-0001" for cars, "铁骑-02" for
// motorcycles, "步巡-03" for foot patrols, "志愿-04" for volunteers; every
// third car is armed and every fourth has medical kit.
func planFleet(prefix string, n int) ([]unitSpec, error) {
	width := max(3, len(fmt.Sprint(n)))
	longest := fmt.Sprintf("%s-moto-%0*d", prefix, width, n)
	if !protocol.ValidUnitID(longest) {
		return nil, fmt.Errorf("simulator: prefix %q gives unit ids like %q, not [A-Za-z0-9_-]{1,32}", prefix, longest)
	}
	mix := typeMix()
	var current [len(mix)]int
	total := 0
	for _, t := range mix {
		total += t.weight
	}
	cars := 0
	specs := make([]unitSpec, 0, n)
	for i := 1; i <= n; i++ {
		best := 0
		for j, t := range mix {
			current[j] += t.weight
			if current[j] > current[best] {
				best = j
			}
		}
		current[best] -= total
		t := mix[best]
		s := unitSpec{ID: fmt.Sprintf("%s-%s-%0*d", prefix, t.short, width, i), Type: t.kind,
			Capabilities: []string{}}
		switch t.kind {
		case protocol.TypeCar:
			s.Callsign = fmt.Sprintf("湘A-%04d", i)
			cars++
			if cars%3 == 1 {
				s.Capabilities = append(s.Capabilities, "armed")
			}
			if cars%4 == 2 {
				s.Capabilities = append(s.Capabilities, "medical")
			}
		case protocol.TypeMotorcycle:
			s.Callsign = fmt.Sprintf("铁骑-%02d", i)
		case protocol.TypeFoot:
			s.Callsign = fmt.Sprintf("步巡-%02d", i)
		default:
			s.Callsign = fmt.Sprintf("志愿-%02d", i)
		}
		specs = append(specs, s)
	}
	return specs, nil
}
