package fleet

import (
	"fmt"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// typeShare is one unit type's share of the fleet.
type typeShare struct {
	kind   protocol.UnitType
	weight int    // of 20
	short  string // in unit ids
}

// fleetMix is the fleet's composition — car 40 %, motorcycle 25 %, foot
// 20 %, volunteer 15 % — as weights of a smooth weighted round robin, so
// every prefix of the fleet has close to these shares and every 20 units
// exactly: a small test fleet is as mixed as a city's.
var fleetMix = [...]typeShare{
	{protocol.TypeCar, 8, "car"},
	{protocol.TypeMotorcycle, 5, "moto"},
	{protocol.TypeFoot, 4, "foot"},
	{protocol.TypeVolunteer, 3, "vol"},
}

// Plan names n units "{prefix}-car-0001", "{prefix}-moto-0002", …
// (numbered across the fleet) with callsigns as the city's radio uses them
// ("湘A-0001" for cars, "铁骑-0002" for motorcycle squads, "步巡-" foot,
// "志愿-" volunteers). Capabilities follow a fixed pattern per type, so the
// same fleet is enrolled every time: a third of the cars and a quarter of
// the motorcycles armed, a quarter of the cars and a fifth of the rest with
// medical kit, one car in ten with a dog (k9).
func Plan(prefix string, n int) ([]api.Enrolment, error) {
	width := max(4, len(fmt.Sprint(n)))
	if longest := fmt.Sprintf("%s-moto-%0*d", prefix, width, n); !protocol.ValidUnitID(longest) {
		return nil, fmt.Errorf("simulator: prefix %q gives unit ids like %q, not [A-Za-z0-9_-]{1,32}", prefix, longest)
	}
	var current [len(fleetMix)]int
	var count [len(fleetMix)]int
	specs := make([]api.Enrolment, 0, n)
	for i := 1; i <= n; i++ {
		best := 0
		for j, t := range fleetMix {
			current[j] += t.weight
			if current[j] > current[best] {
				best = j
			}
		}
		current[best] -= 20
		count[best]++
		k := count[best] // this unit's number among its type
		t := fleetMix[best]
		s := api.Enrolment{ID: fmt.Sprintf("%s-%s-%0*d", prefix, t.short, width, i), Type: t.kind, Capabilities: []string{}}
		add := func(every, offset int, capability string) {
			if k%every == offset%every {
				s.Capabilities = append(s.Capabilities, capability)
			}
		}
		switch t.kind {
		case protocol.TypeCar:
			s.Callsign = fmt.Sprintf("湘A-%0*d", width, i)
			add(3, 1, "armed")
			add(4, 2, "medical")
			add(10, 5, "k9")
		case protocol.TypeMotorcycle:
			s.Callsign = fmt.Sprintf("铁骑-%0*d", width, i)
			add(4, 1, "armed")
			add(5, 3, "medical")
		case protocol.TypeFoot:
			s.Callsign = fmt.Sprintf("步巡-%0*d", width, i)
			add(5, 2, "medical")
		default:
			s.Callsign = fmt.Sprintf("志愿-%0*d", width, i)
			add(5, 4, "medical")
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// ByType counts the units of each type.
func ByType(specs []api.Enrolment) map[string]int {
	n := map[string]int{}
	for _, s := range specs {
		n[string(s.Type)]++
	}
	return n
}
