package simulator

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"kuaifan/protocol"
)

func TestMovementSpeedAndBox(t *testing.T) {
	box := Changsha()
	corners := []District{ // start right at the edges to exercise the reflections
		{"north-west", box.MaxLat, box.MinLon},
		{"south-east", box.MinLat, box.MaxLon},
	}
	tests := []struct {
		kind      protocol.UnitType
		districts []District
		speed     float64 // m/s, the type's nominal speed
	}{
		{protocol.TypeCar, ChangshaDistricts(), 8},
		{protocol.TypeMotorcycle, ChangshaDistricts(), 11},
		{protocol.TypeFoot, ChangshaDistricts(), 1.3},
		{protocol.TypeVolunteer, ChangshaDistricts(), 1.3},
		{protocol.TypeCar, corners, 8},
		{protocol.TypeMotorcycle, corners, 11},
	}
	for i, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(42, uint64(i)))
			m := newMover(tt.kind, box, tt.districts, rng)
			if !box.Contains(m.lat, m.lon) {
				t.Fatalf("starts outside the box at %v, %v", m.lat, m.lon)
			}
			const dt = 2 * time.Second
			var moving time.Duration
			var dist float64
			busySteps, steps := 0, 20000 // about 11 hours of patrol
			for range steps {
				lat, lon, wasBusy := m.lat, m.lon, m.busyLeft > 0
				m.step(dt, rng)
				if !box.Contains(m.lat, m.lon) {
					t.Fatalf("left the box: %v, %v", m.lat, m.lon)
				}
				if !(m.heading >= 0 && m.heading < 360) {
					t.Fatalf("heading %v outside [0, 360)", m.heading)
				}
				d := protocol.Haversine(lat, lon, m.lat, m.lon)
				if m.status() == protocol.StatusBusy || wasBusy {
					if d != 0 {
						t.Fatalf("a busy unit moved %.1f m", d)
					}
					busySteps++
					continue
				}
				if m.speed == 0 { // the step it became busy
					continue
				}
				// One step never goes further than its top speed allows
				// (a reflection only shortens it).
				if limit := 1.4 * tt.speed * dt.Seconds() * 1.001; d > limit {
					t.Fatalf("moved %.1f m in %v, more than %.1f m", d, dt, limit)
				}
				moving += dt
				dist += d
			}
			mean := dist / moving.Seconds()
			if math.Abs(mean-tt.speed) > 0.1*tt.speed {
				t.Errorf("mean speed %.2f m/s, want %.2f ± 10%%", mean, tt.speed)
			}
			busy := float64(busySteps) / float64(steps)
			if busy < 0.03 || busy > 0.35 {
				t.Errorf("busy %.0f%% of the time, want mostly available but busy now and then", 100*busy)
			}
		})
	}
}

func TestNormHeading(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{
		{0, 0}, {359.5, 359.5}, {360, 0}, {-90, 270}, {450, 90}, {-720, 0}, {-1e-15, 0},
	} {
		if got := normHeading(tt.in); got != tt.want || got < 0 || got >= 360 {
			t.Errorf("normHeading(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestStartPositionsSpreadAroundDistricts(t *testing.T) {
	box, districts := Changsha(), ChangshaDistricts()
	for _, d := range districts {
		if !box.Contains(d.Lat, d.Lon) {
			t.Errorf("district %s at %v, %v is outside the box", d.Name, d.Lat, d.Lon)
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 2000 {
		lat, lon := startPosition(box, districts, rng)
		if !box.Contains(lat, lon) {
			t.Fatalf("start %v, %v outside the box", lat, lon)
		}
		nearest := math.Inf(1)
		for _, d := range districts {
			nearest = math.Min(nearest, protocol.Haversine(lat, lon, d.Lat, d.Lon))
		}
		if nearest > 8000 { // 5 sigma of the 1.5 km spread, on two axes
			t.Fatalf("start %v, %v is %.0f m from every district centre", lat, lon, nearest)
		}
	}
}

// Telemetry built from any state of the walk is valid by construction and
// decodes to what was encoded.
func TestTelemetryDecodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.UnixMilli(1764403200000)
	for _, kind := range protocol.UnitTypes {
		m := newMover(kind, Changsha(), ChangshaDistricts(), rng)
		for i := range 3000 {
			m.step(2*time.Second, rng)
			now = now.Add(2 * time.Second)
			seq := uint64(1764403200000000 + i)
			msg := m.telemetry("sim-"+string(kind)+"-001", seq, now)
			payload, err := protocol.Encode(msg)
			if err != nil {
				t.Fatalf("encode %+v: %v", msg, err)
			}
			got, err := protocol.DecodeTelemetry(payload)
			if err != nil {
				t.Fatalf("decode %s: %v", payload, err)
			}
			if got.Unit != msg.Unit || got.Seq != seq || got.TS != now.UnixMilli() || got.Lat != msg.Lat ||
				got.Lon != msg.Lon || got.Status != m.status() || *got.SpeedMPS != *msg.SpeedMPS ||
				*got.HeadingDeg != *msg.HeadingDeg || *got.Battery != *msg.Battery || *got.AccM != *msg.AccM {
				t.Fatalf("round trip changed the message:\n sent %s\n got  %+v", payload, got)
			}
			if len(payload) > 250 {
				t.Fatalf("payload of %d bytes, numbers not rounded? %s", len(payload), payload)
			}
		}
	}
}
