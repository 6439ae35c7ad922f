package simulator

import (
	"math"
	"math/rand/v2"

	"kuaifan/protocol"
)

// Box is a rectangle of WGS-84 degrees that simulated units stay inside.
type Box struct {
	MinLat, MaxLat, MinLon, MaxLon float64
}

// Contains reports whether the point is inside the box, edges included.
func (b Box) Contains(lat, lon float64) bool {
	return lat >= b.MinLat && lat <= b.MaxLat && lon >= b.MinLon && lon <= b.MaxLon
}

// Changsha is the built-in city: the urban districts of Changsha on both
// banks of the Xiang river, from Tianxin and Yuhua in the south to Kaifu in
// the north, Yuelu in the west and Xingsha in the east. Wangcheng, further
// north-west, is left out for now.
func Changsha() Box {
	return Box{MinLat: 28.08, MaxLat: 28.32, MinLon: 112.85, MaxLon: 113.10}
}

// District is a place where units start their shift.
type District struct {
	Name     string
	Lat, Lon float64
}

// ChangshaDistricts are the district centres units start around (WGS-84,
// to about 100 m: good enough to spread a fleet, not for navigation).
func ChangshaDistricts() []District {
	return []District{
		{"五一广场 Wuyi Square", 28.1960, 112.9770},
		{"芙蓉区 Furong", 28.1852, 113.0328},
		{"天心区 Tianxin", 28.1146, 112.9898},
		{"岳麓区 Yuelu", 28.2353, 112.9311},
		{"开福区 Kaifu", 28.2559, 112.9853},
		{"雨花区 Yuhua", 28.1354, 113.0354},
		{"星沙 Xingsha", 28.2372, 113.0800},
	}
}

// metresPerDegLat is the length of one degree of latitude on the sphere
// protocol.Haversine uses, so simulated speeds agree with the hub's distances.
const metresPerDegLat = protocol.EarthRadiusM * math.Pi / 180

// startPosition picks a point around a random district centre (a Gaussian
// spread of about 1.5 km), inside the box.
func startPosition(box Box, districts []District, rng *rand.Rand) (lat, lon float64) {
	const spreadM = 1500
	d := districts[rng.IntN(len(districts))]
	for range 100 {
		lat = d.Lat + rng.NormFloat64()*spreadM/metresPerDegLat
		lon = d.Lon + rng.NormFloat64()*spreadM/(metresPerDegLat*math.Cos(d.Lat*math.Pi/180))
		if box.Contains(lat, lon) {
			return lat, lon
		}
	}
	// A district outside the box (a caller's own list): its nearest point inside.
	return clamp(d.Lat, box.MinLat, box.MaxLat), clamp(d.Lon, box.MinLon, box.MaxLon)
}

func clamp(x, lo, hi float64) float64 {
	return math.Max(lo, math.Min(hi, x))
}
