package protocol

import "math"

// EarthRadiusM is the mean Earth radius (IUGG) used by every distance in kuaifan.
const EarthRadiusM = 6371008.8

// ValidLatLon reports whether lat, lon are finite WGS-84 degrees in range.
// NaN and ±Inf fail every comparison below, so they are rejected too.
func ValidLatLon(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
}

// Haversine returns the great-circle distance in metres between two points
// given in degrees.
func Haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	φ1, φ2 := lat1*rad, lat2*rad
	dφ := (lat2 - lat1) * rad
	dλ := (lon2 - lon1) * rad
	s1, s2 := math.Sin(dφ/2), math.Sin(dλ/2)
	h := s1*s1 + math.Cos(φ1)*math.Cos(φ2)*s2*s2
	if h > 1 {
		h = 1 // rounding near antipodes
	}
	return 2 * EarthRadiusM * math.Asin(math.Sqrt(h))
}
