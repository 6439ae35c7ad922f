package ui

import (
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// A unit's day, worked out from its track: the stops it made, the distance
// it drove and how long it moved, and the track cut into runs of one speed
// class for the map.

// Stops: a unit that stayed within StopRadiusM of where it stopped for at
// least StopMin made a stop.
const (
	StopRadiusM = 50.0
	StopMin     = 3 * time.Minute
	// DayGap is the longest silence a day's track is drawn and counted
	// across: over a longer one the unit was off the air, not driving in
	// a straight line.
	DayGap = 5 * time.Minute
)

// Speed classes of the day's track, km/h: below 10, 10 to 30, 30 to 60,
// 60 and over.
var SpeedBounds = [...]float64{10, 30, 60}

// SpeedColours are the classes' palette colours.
var SpeedColours = [len(SpeedBounds) + 1]int{colTrack, colAvailable, colEnroute, colOnScene}

// SpeedClass is the class of a speed in km/h (0 slowest).
func SpeedClass(kmh float64) int {
	for i, b := range SpeedBounds {
		if kmh < b {
			return i
		}
	}
	return len(SpeedBounds)
}

// SegmentSpeed is the speed from point a to point b, m/s: b's own speed
// if the unit sent one, else the distance over the time; -1 when the time
// does not move forward.
func SegmentSpeed(a, b *api.TrackPoint) float64 {
	if b.SpeedMPS != nil && *b.SpeedMPS >= 0 {
		return *b.SpeedMPS
	}
	dt := float64(b.TS-a.TS) / 1000
	if dt <= 0 {
		return -1
	}
	return protocol.Haversine(a.Lat, a.Lon, b.Lat, b.Lon) / dt
}

// Stop is a place the unit stayed at.
type Stop struct {
	Lat, Lon   float64 // where, the mean of its fixes
	Start, End int64   // Unix ms of its first and last fix
	First      int     // index of its first fix in the track
	Last       int     // and of its last
}

// Duration is how long the stop lasted.
func (s Stop) Duration() time.Duration { return time.Duration(s.End-s.Start) * time.Millisecond }

// FindStops finds the stops of a track (oldest first): runs of fixes all
// within radiusM of the run's first, lasting at least minDur. A silence
// longer than DayGap ends a run.
func FindStops(pts []api.TrackPoint, radiusM float64, minDur time.Duration) []Stop {
	var stops []Stop
	gap := DayGap.Milliseconds()
	for i := 0; i < len(pts); {
		j := i
		sumLat, sumLon := pts[i].Lat, pts[i].Lon
		for j+1 < len(pts) && pts[j+1].TS-pts[j].TS <= gap &&
			protocol.Haversine(pts[i].Lat, pts[i].Lon, pts[j+1].Lat, pts[j+1].Lon) <= radiusM {
			j++
			sumLat += pts[j].Lat
			sumLon += pts[j].Lon
		}
		if time.Duration(pts[j].TS-pts[i].TS)*time.Millisecond >= minDur {
			n := float64(j - i + 1)
			stops = append(stops, Stop{Lat: sumLat / n, Lon: sumLon / n, Start: pts[i].TS, End: pts[j].TS, First: i, Last: j})
			i = j + 1
			continue
		}
		i++
	}
	return stops
}

// DaySummary is a day's track worked out.
type DaySummary struct {
	Points    int
	DistanceM float64       // driven: the segments outside stops and gaps
	Moving    time.Duration // the time of those segments at MovingMPS or faster
	Stops     []Stop
	// Paths are the track in runs of one speed class (SpeedColours),
	// broken at gaps.
	Paths []ScenePath
	// Classes is each path's speed class.
	Classes []int
}

// SummariseDay works out a day's track (oldest first).
func SummariseDay(pts []api.TrackPoint) DaySummary {
	s := DaySummary{Points: len(pts), Stops: FindStops(pts, StopRadiusM, StopMin)}
	inStop := make([]bool, len(pts)) // the segment from i to i+1 is inside a stop
	for _, st := range s.Stops {
		for i := st.First; i < st.Last; i++ {
			inStop[i] = true
		}
	}
	gap := DayGap.Milliseconds()
	cls := -1
	for i := 0; i+1 < len(pts); i++ {
		a, b := &pts[i], &pts[i+1]
		if b.TS-a.TS > gap || b.TS <= a.TS {
			cls = -1 // a new path after the silence
			continue
		}
		v := SegmentSpeed(a, b)
		d := protocol.Haversine(a.Lat, a.Lon, b.Lat, b.Lon)
		if !inStop[i] {
			s.DistanceM += d
			// Moving by either account: a unit's speedometer may say 0
			// between two fixes far apart (or the other way round).
			if max(v, d/(float64(b.TS-a.TS)/1000)) >= MovingMPS {
				s.Moving += time.Duration(b.TS-a.TS) * time.Millisecond
			}
		}
		c := SpeedClass(max(v, 0) * 3.6)
		if c != cls {
			s.Paths = append(s.Paths, ScenePath{Colour: SpeedColours[c], Pts: []LatLon{{Lat: a.Lat, Lon: a.Lon}}})
			s.Classes = append(s.Classes, c)
			cls = c
		}
		p := &s.Paths[len(s.Paths)-1]
		p.Pts = append(p.Pts, LatLon{Lat: b.Lat, Lon: b.Lon})
	}
	return s
}

// DayBounds is a local day's [00:00, next 00:00) in Unix ms, in the
// day's own location (a day with a clock change is 23 or 25 hours).
func DayBounds(day time.Time) (from, to int64) {
	y, m, d := day.Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, day.Location())
	return start.UnixMilli(), start.AddDate(0, 0, 1).UnixMilli()
}

// archiveIncident is an archive row as the map draws an incident.
func archiveIncident(r *api.ArchiveRow) *Incident {
	return &Incident{ID: r.ID, Status: r.Status, Lat: r.Lat, Lon: r.Lon, Kind: r.Kind, Priority: r.Priority,
		Summary: r.Summary, Created: r.Created, Closed: r.Closed}
}
