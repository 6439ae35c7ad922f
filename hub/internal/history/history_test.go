package history

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"

	"kuaifan/protocol"
	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tempSet != "" {
		os.RemoveAll(tempSet)
	}
	if code == 0 {
		if err := leakcheck.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "leakcheck: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func open(t testing.TB, dir string) *History {
	t.Helper()
	h, err := Open(Config{Dir: dir, CacheSize: 8 << 20, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func fp(v float64) *float64 { return &v }

// day0 is a Monday at midnight UTC.
var day0 = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC).UnixMilli()

func TestPositionRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		p    Position
	}{
		{"gpsd", Position{Lat: 28.123456789, Lon: 112.987654321, Status: protocol.StatusAvailable,
			AccM: fp(4.5), SpeedMPS: fp(8.25), HeadingDeg: fp(359.9), Battery: fp(0.87)}},
		{"phone", Position{Lat: 28.1234567, Lon: -112.9876543, Status: protocol.StatusEnroute, SpeedMPS: fp(0)}},
		{"full precision", Position{Lat: 28.203748192736451, Lon: 112.95012345678901, Status: protocol.StatusOnScene,
			HeadingDeg: fp(math.Pi * 50)}},
		{"integers", Position{Lat: 28, Lon: 113, Status: protocol.StatusBusy, Battery: fp(1)}},
		{"poles and antimeridian", Position{Lat: -90, Lon: 180, Status: protocol.StatusOffDuty}},
		{"negative zero", Position{Lat: math.Copysign(0, -1), Lon: 0, Status: protocol.StatusAvailable, AccM: fp(math.Copysign(0, -1))}},
		{"tiny and huge", Position{Lat: 5e-324, Lon: 1e300, Status: protocol.StatusAvailable, SpeedMPS: fp(-1e-9)}},
		{"not a number", Position{Lat: math.NaN(), Lon: math.Inf(-1), Status: protocol.StatusAvailable}},
		{"unknown status", Position{Lat: 1.5, Lon: 2.5, Status: "on_break"}},
		{"no status", Position{Lat: 1.5, Lon: 2.5}},
		{"ten decimals", Position{Lat: 28.1234567891, Lon: 0.0000000001, Status: protocol.StatusAvailable}},
	}
	h := open(t, t.TempDir())
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			p.Unit, p.Seq, p.TS = fmt.Sprintf("u%d", i), uint64(1000+i), day0+int64(i)*1234567
			// the value on its own
			var q Position
			if err := decodePosition(encodePosition(nil, &p), &q, nil); err != nil {
				t.Fatal(err)
			}
			q.Unit, q.Seq, q.TS = p.Unit, p.Seq, p.TS
			assertSamePosition(t, q, p)
			// and through the store
			if err := h.Append(Batch{Positions: []Position{p}}); err != nil {
				t.Fatal(err)
			}
			got, err := h.Track(p.Unit, p.TS, p.TS, 0)
			if err != nil || len(got) != 1 {
				t.Fatalf("track = %v, %v", got, err)
			}
			assertSamePosition(t, got[0], p)
		})
	}
}

// assertSamePosition compares bit for bit (NaN and -0 included).
func assertSamePosition(t *testing.T, got, want Position) {
	t.Helper()
	bits := func(f *float64) string {
		if f == nil {
			return "nil"
		}
		return fmt.Sprintf("%#x", math.Float64bits(*f))
	}
	g := fmt.Sprintf("%s %d %d %#x %#x %q %s %s %s %s", got.Unit, got.Seq, got.TS, math.Float64bits(got.Lat), math.Float64bits(got.Lon),
		got.Status, bits(got.AccM), bits(got.SpeedMPS), bits(got.HeadingDeg), bits(got.Battery))
	w := fmt.Sprintf("%s %d %d %#x %#x %q %s %s %s %s", want.Unit, want.Seq, want.TS, math.Float64bits(want.Lat), math.Float64bits(want.Lon),
		want.Status, bits(want.AccM), bits(want.SpeedMPS), bits(want.HeadingDeg), bits(want.Battery))
	if g != w {
		t.Errorf("got  %s\nwant %s", g, w)
	}
}

func TestRandomFloatsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100_000; i++ {
		var v float64
		switch i % 4 {
		case 0:
			v = math.Float64frombits(r.Uint64())
		case 1:
			v = (r.Float64() - 0.5) * 360
		default: // k decimals, as parsed from JSON
			k := r.IntN(12)
			v = math.Round((r.Float64()-0.5)*360*math.Pow10(k)) / math.Pow10(k)
		}
		p := Position{Lat: v, Lon: -v, Battery: &v}
		var q Position
		if err := decodePosition(encodePosition(nil, &p), &q, nil); err != nil {
			t.Fatal(err)
		}
		if math.Float64bits(q.Lat) != math.Float64bits(v) || math.Float64bits(q.Lon) != math.Float64bits(-v) ||
			math.Float64bits(*q.Battery) != math.Float64bits(v) {
			t.Fatalf("%v (%#x) came back as %v %v %v", v, math.Float64bits(v), q.Lat, q.Lon, *q.Battery)
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	h := open(t, t.TempDir())
	events := []protocol.Event{
		{Unit: "car-1", Seq: 1, TS: day0 + 1, Type: protocol.EventAck, Incident: "INC-1"},
		{Unit: "car-1", Seq: 2, TS: day0 + 2, Type: protocol.EventStatus, Status: protocol.StatusBusy},
		{Unit: "car-1", Seq: 3, TS: day0 + msPerDay + 3, Type: "something-new", Incident: "x", Status: "y"},
		{Unit: "car-2", Seq: 1, TS: day0 + 5, Type: protocol.EventCleared, Incident: "INC-1"},
	}
	if err := h.Append(Batch{Events: events}); err != nil {
		t.Fatal(err)
	}
	got, err := h.Events("car-1", 0, math.MaxInt64, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, events[:3]) {
		t.Errorf("events = %+v", got)
	}
	for _, e := range events {
		if ok, err := h.HasEvent(e.Unit, e.TS, e.Seq); !ok || err != nil {
			t.Errorf("HasEvent(%v) = %v, %v", e, ok, err)
		}
	}
	if ok, _ := h.HasEvent("car-1", day0+1, 2); ok {
		t.Error("HasEvent with another seq")
	}
	if ok, _ := h.HasPosition("car-1", day0+1, 1); ok {
		t.Error("an event is not a position")
	}
}

// track makes n positions of unit every step ms from ts.
func track(unit string, ts, step int64, n int) []Position {
	var ps []Position
	for i := range n {
		ps = append(ps, Position{Unit: unit, Seq: uint64(i + 1), TS: ts + int64(i)*step,
			Lat: 28.2 + float64(i)*1e-4, Lon: 112.9, Status: protocol.StatusAvailable})
	}
	return ps
}

func seqs(ps []Position) []uint64 {
	var s []uint64
	for _, p := range ps {
		s = append(s, p.Seq)
	}
	return s
}

func TestTrackBoundsAndLimit(t *testing.T) {
	h := open(t, t.TempDir())
	// 10 positions a minute apart from 23:55 on day0-1: five on each side of midnight
	ps := track("car-1", day0-5*msPerMinute, msPerMinute, 10)
	ps = append(ps, track("car-10", day0, 1000, 3)...) // a unit whose id extends car-1's
	ps = append(ps, track("car-", day0, 1000, 3)...)
	if err := h.Append(Batch{Positions: ps}); err != nil {
		t.Fatal(err)
	}
	if got := h.Days(Positions); !slices.Equal(got, []string{"2026-12-06", "2026-12-07"}) {
		t.Errorf("days = %v", got)
	}
	at := func(i int) int64 { return ps[i].TS }
	cases := []struct {
		name         string
		since, until int64
		limit        int
		want         []uint64
	}{
		{"all", math.MinInt64, math.MaxInt64, 0, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"inclusive bounds", at(2), at(4), 0, []uint64{3, 4, 5}},
		{"just inside", at(2) - 1, at(4) + 1, 0, []uint64{3, 4, 5}},
		{"just outside", at(2) + 1, at(4) - 1, 0, []uint64{4}},
		{"across midnight", at(3), at(6), 0, []uint64{4, 5, 6, 7}},
		{"last ms of the day", day0 - 1, day0 - 1, 0, nil},
		{"midnight", day0, day0, 0, []uint64{6}},
		{"limit", math.MinInt64, math.MaxInt64, 3, []uint64{1, 2, 3}},
		{"limit across midnight", at(4), math.MaxInt64, 2, []uint64{5, 6}},
		{"limit above count", at(8), math.MaxInt64, 5, []uint64{9, 10}},
		{"until before since", at(5), at(4), 0, nil},
		{"before all", 0, at(0) - 1, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := h.Track("car-1", tc.since, tc.until, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqs(got), tc.want) {
				t.Errorf("seqs = %v, want %v", seqs(got), tc.want)
			}
			for _, p := range got {
				assertSamePosition(t, p, ps[p.Seq-1])
			}
		})
	}
	if got, _ := h.Track("car-", math.MinInt64, math.MaxInt64, 0); len(got) != 3 {
		t.Errorf("car- has %d positions", len(got))
	}
	if got, _ := h.Track("nobody", math.MinInt64, math.MaxInt64, 0); got == nil || len(got) != 0 {
		t.Errorf("unknown unit: %v", got)
	}
}

func TestMidnightBatchAndReopen(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir)
	b := Batch{
		Positions: []Position{
			{Unit: "u", Seq: 1, TS: day0 - 1, Lat: 1, Lon: 2},
			{Unit: "u", Seq: 2, TS: day0, Lat: 1, Lon: 2},
			{Unit: "u", Seq: 3, TS: day0 + msPerDay + 1, Lat: 1, Lon: 2},
		},
		Events: []protocol.Event{{Unit: "u", Seq: 4, TS: day0 - 1, Type: protocol.EventAck}},
	}
	if err := h.Append(b); err != nil {
		t.Fatal(err)
	}
	if err := h.Append(b); err != nil { // written again: idempotent
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"positions/2026-12-06", "positions/2026-12-07", "positions/2026-12-08", "events/2026-12-06"} {
		if _, err := os.Stat(filepath.Join(dir, d)); err != nil {
			t.Error(err)
		}
	}
	h2 := open(t, dir)
	got, err := h2.Track("u", 0, math.MaxInt64, 0)
	if err != nil || !slices.Equal(seqs(got), []uint64{1, 2, 3}) {
		t.Fatalf("after reopen: %v, %v", seqs(got), err)
	}
	for _, p := range b.Positions {
		if ok, err := h2.HasPosition(p.Unit, p.TS, p.Seq); !ok || err != nil {
			t.Errorf("HasPosition(%d) = %v, %v", p.Seq, ok, err)
		}
		if ok, _ := h2.HasPosition(p.Unit, p.TS+1, p.Seq); ok {
			t.Errorf("HasPosition(%d) at another time", p.Seq)
		}
	}
	if ok, _ := h2.HasPosition("u", day0+5*msPerDay, 1); ok {
		t.Error("HasPosition on a day that does not exist")
	}
	if ev, _ := h2.Events("u", 0, math.MaxInt64, 0); len(ev) != 1 {
		t.Errorf("events after reopen = %v", ev)
	}
	if s := h2.Stats(); s.Skipped != 0 || s.Undecodable != 0 {
		t.Errorf("stats = %+v", s)
	}
	if _, err := h2.Track("u", 0, 1, 0); err != nil {
		t.Fatal(err)
	}
}

func TestSkipped(t *testing.T) {
	h := open(t, t.TempDir())
	b := Batch{Positions: []Position{
		{Unit: "", TS: day0},
		{Unit: "a\x00b", TS: day0},
		{Unit: "u", TS: maxTS},
		{Unit: "u", TS: minTS - 1},
		{Unit: "u", TS: -1, Seq: 7}, // 1969 is fine
	}}
	if err := h.Append(b); err != nil {
		t.Fatal(err)
	}
	if s := h.Stats(); s.Skipped != 4 {
		t.Errorf("skipped = %d", s.Skipped)
	}
	if got, _ := h.Track("u", math.MinInt64, math.MaxInt64, 0); len(got) != 1 || got[0].TS != -1 {
		t.Errorf("track = %v", got)
	}
	if !slices.Equal(h.Days(Positions), []string{"1969-12-31"}) {
		t.Errorf("days = %v", h.Days(Positions))
	}
}

func TestDropBefore(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir)
	var b Batch
	for d := range 5 {
		ts := day0 + int64(d)*msPerDay + 3600_000
		b.Positions = append(b.Positions, Position{Unit: "u", Seq: uint64(d + 1), TS: ts, Lat: 1, Lon: 1})
		b.Events = append(b.Events, protocol.Event{Unit: "u", Seq: uint64(d + 100), TS: ts, Type: protocol.EventAck})
	}
	if err := h.Append(b); err != nil {
		t.Fatal(err)
	}
	// Keep positions from day0+3 12:00 on: days 0–2 go, day 3 holds newer records and stays.
	dropped, err := h.DropBefore(Positions, time.UnixMilli(day0+3*msPerDay+12*3600_000))
	if err != nil || !slices.Equal(dropped, []string{"2026-12-07", "2026-12-08", "2026-12-09"}) {
		t.Fatalf("dropped %v, %v", dropped, err)
	}
	if got, _ := h.Track("u", 0, math.MaxInt64, 0); !slices.Equal(seqs(got), []uint64{4, 5}) {
		t.Errorf("track after drop = %v", seqs(got))
	}
	if _, err := os.Stat(filepath.Join(dir, "positions", "2026-12-07")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dropped day still there: %v", err)
	}
	if ev, _ := h.Events("u", 0, math.MaxInt64, 0); len(ev) != 5 {
		t.Errorf("events kept longer: %d", len(ev))
	}
	// A late record of a dropped day is skipped, not a day made again.
	if err := h.Append(Batch{Positions: []Position{{Unit: "u", Seq: 9, TS: day0, Lat: 1, Lon: 1}}}); err != nil {
		t.Fatal(err)
	}
	if h.Stats().Skipped != 1 || len(h.Days(Positions)) != 2 {
		t.Errorf("stats %+v, days %v", h.Stats(), h.Days(Positions))
	}
	if dropped, err := h.DropBefore(Events, time.UnixMilli(day0+msPerDay)); err != nil || len(dropped) != 1 {
		t.Errorf("events dropped %v, %v", dropped, err)
	}
	if dropped, err := h.DropBefore(Positions, time.UnixMilli(day0)); err != nil || len(dropped) != 0 {
		t.Errorf("dropping less again: %v, %v", dropped, err)
	}
}

// corrupt damages a day's DB beyond what pebble opens.
func corrupt(t *testing.T, dayDir string) {
	t.Helper()
	ents, err := os.ReadDir(dayDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "MANIFEST-") {
			if err := os.WriteFile(filepath.Join(dayDir, e.Name()), []byte("this is not a manifest at all, not at all"), 0o644); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no manifest")
	}
}

func TestDamagedDaySetAside(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir)
	ps := append(track("u", day0-msPerDay, 1000, 3), track("u", day0, 1000, 3)...)
	for i := range ps {
		ps[i].Seq = uint64(i + 1)
	}
	if err := h.Append(Batch{Positions: ps}); err != nil {
		t.Fatal(err)
	}
	h.Close()
	corrupt(t, filepath.Join(dir, "positions", "2026-12-07"))
	if err := os.Mkdir(filepath.Join(dir, "positions", "2026-12-05"), 0o755); err != nil { // empty: not damage
		t.Fatal(err)
	}

	h = open(t, dir)
	got, err := h.Track("u", 0, math.MaxInt64, 0)
	if err != nil || !slices.Equal(seqs(got), []uint64{1, 2, 3}) {
		t.Fatalf("track = %v, %v", seqs(got), err)
	}
	if d := h.Damage(); len(d) != 1 || !strings.Contains(d[0], "positions/2026-12-07") || !strings.Contains(d[0], "set aside") {
		t.Errorf("damage = %q", d)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "positions", "2026-12-07.corrupt-*"))
	if len(aside) != 1 {
		t.Errorf("set aside: %v", aside)
	}
	if ok, err := h.HasPosition("u", ps[3].TS, ps[3].Seq); ok || err != nil {
		t.Errorf("HasPosition on the damaged day = %v, %v", ok, err)
	}
	// The day starts afresh.
	if err := h.Append(Batch{Positions: ps[3:4]}); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.Track("u", 0, math.MaxInt64, 0); !slices.Equal(seqs(got), []uint64{1, 2, 3, 4}) {
		t.Errorf("track = %v", seqs(got))
	}
	if h.Damaged() != 1 {
		t.Errorf("damaged = %d", h.Damaged())
	}
}

func TestUndecodableRecordSkipped(t *testing.T) {
	h := open(t, t.TempDir())
	ps := track("u", day0, 1000, 3)
	if err := h.Append(Batch{Positions: ps}); err != nil {
		t.Fatal(err)
	}
	d, err := h.acquire(h.roots[Positions], dayOf(day0), false)
	if err != nil || d == nil {
		t.Fatal(d, err)
	}
	err = d.db.Set(recordKey(nil, kindPosition, "u", ps[1].TS, ps[1].Seq), []byte{9, 9}, pebble.Sync)
	d.release()
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Track("u", 0, math.MaxInt64, 0)
	if err != nil || !slices.Equal(seqs(got), []uint64{1, 3}) {
		t.Errorf("track = %v, %v", seqs(got), err)
	}
	n := 0
	if _, err := h.Area(AreaQuery{MinLat: -90, MinLon: -180, MaxLat: 90, MaxLon: 180, Since: 0, Until: math.MaxInt64},
		func(*Position) error { n++; return nil }); err != nil || n != 2 {
		t.Errorf("area: %d, %v", n, err)
	}
	if s := h.Stats(); s.Undecodable != 2 || h.Damaged() != 1 {
		t.Errorf("stats %+v, damage %q", s, h.Damage())
	}
}

// randomPositions makes units wandering a 0.1° square around (28.2, 112.95)
// for two days, some of them across the cell lines at whole hundredths.
func randomPositions(r *rand.Rand, units, perUnit int) []Position {
	var ps []Position
	for u := range units {
		lat, lon := 28.15+r.Float64()*0.1, 112.9+r.Float64()*0.1
		ts := day0 - msPerDay/2 + r.Int64N(msPerDay)
		for i := range perUnit {
			lat += (r.Float64() - 0.5) * 0.004
			lon += (r.Float64() - 0.5) * 0.004
			ts += 1 + r.Int64N(60_000)
			ps = append(ps, Position{Unit: fmt.Sprintf("unit-%d", u), Seq: uint64(i + 1), TS: ts,
				Lat: lat, Lon: lon, Status: protocol.StatusAvailable, SpeedMPS: fp(float64(i % 30))})
		}
	}
	return ps
}

func TestAreaMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	h := open(t, t.TempDir())
	ps := randomPositions(r, 60, 400)
	// in several batches, shuffled
	r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	for i := 0; i < len(ps); i += 1000 {
		if err := h.Append(Batch{Positions: ps[i:min(i+1000, len(ps))]}); err != nil {
			t.Fatal(err)
		}
	}
	key := func(p *Position) string { return fmt.Sprintf("%d|%s|%d|%d", dayOf(p.TS), p.Unit, p.TS, p.Seq) }
	for q := range 200 {
		a := AreaQuery{MinLat: 28.15 + r.Float64()*0.1, MinLon: 112.9 + r.Float64()*0.1}
		a.MaxLat, a.MaxLon = a.MinLat+r.Float64()*0.05, a.MinLon+r.Float64()*0.05
		a.Since = day0 - msPerDay/2 + r.Int64N(msPerDay*3/2)
		a.Until = a.Since + r.Int64N(6*3600_000)
		if q%10 == 0 {
			a.Since, a.Until = math.MinInt64, math.MaxInt64
		}
		var want []string
		for i := range ps {
			p := &ps[i]
			if p.TS >= a.Since && p.TS <= a.Until && p.Lat >= a.MinLat && p.Lat <= a.MaxLat && p.Lon >= a.MinLon && p.Lon <= a.MaxLon {
				want = append(want, key(p))
			}
		}
		slices.Sort(want) // day, unit (same length prefix), ts, seq: padded below
		var got []string
		next, err := h.Area(a, func(p *Position) error {
			got = append(got, key(p))
			return nil
		})
		if err != nil || !next.IsZero() {
			t.Fatal(next, err)
		}
		sortKeys(want)
		if !slices.Equal(got, want) {
			t.Fatalf("query %d %+v: got %d positions, want %d\n got %v\nwant %v", q, a, len(got), len(want), head(got), head(want))
		}
		// The same in pages.
		a.Limit = 1 + r.IntN(20)
		var paged []string
		for pages := 0; ; pages++ {
			n := 0
			next, err := h.Area(a, func(p *Position) error {
				paged = append(paged, key(p))
				n++
				return nil
			})
			if err != nil || n > a.Limit || pages > len(want)+1 {
				t.Fatal(n, err)
			}
			if next.IsZero() {
				break
			}
			if a.After, err = ParseCursor(next.String()); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(paged, want) {
			t.Fatalf("query %d in pages of %d: got %d positions, want %d", q, a.Limit, len(paged), len(want))
		}
	}
}

// sortKeys sorts "day|unit|ts|seq" the way Area visits: numerically where numbers.
func sortKeys(ks []string) {
	slices.SortFunc(ks, func(a, b string) int {
		var da, db, ta, tb int64
		var ua, ub string
		var sa, sb uint64
		fa, fb := strings.Split(a, "|"), strings.Split(b, "|")
		fmt.Sscan(fa[0], &da)
		fmt.Sscan(fb[0], &db)
		ua, ub = fa[1], fb[1]
		fmt.Sscan(fa[2], &ta)
		fmt.Sscan(fb[2], &tb)
		fmt.Sscan(fa[3], &sa)
		fmt.Sscan(fb[3], &sb)
		switch {
		case da != db:
			return cmpInt(da, db)
		case ua != ub:
			return strings.Compare(ua, ub)
		case ta != tb:
			return cmpInt(ta, tb)
		}
		return cmpInt(int64(sa), int64(sb))
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func head(s []string) []string { return s[:min(len(s), 5)] }

func TestAreaEdges(t *testing.T) {
	h := open(t, t.TempDir())
	ps := []Position{
		{Unit: "a", Seq: 1, TS: day0, Lat: 28.2, Lon: 112.95},           // exactly on cell lines
		{Unit: "a", Seq: 2, TS: day0 + 1, Lat: -33.87, Lon: 151.21},     // far away
		{Unit: "b", Seq: 1, TS: day0 + 2, Lat: 90, Lon: 180},            // the corner of the world
		{Unit: "b", Seq: 2, TS: day0 + 3, Lat: math.NaN(), Lon: 112.95}, // in no box
		{Unit: "c", Seq: 1, TS: day0 + 59_999, Lat: 28.2, Lon: 112.95},
		{Unit: "c", Seq: 2, TS: day0 + 60_000, Lat: 28.2, Lon: 112.95},
	}
	if err := h.Append(Batch{Positions: ps}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		q    AreaQuery
		want []string
	}{
		{"point box", AreaQuery{MinLat: 28.2, MinLon: 112.95, MaxLat: 28.2, MaxLon: 112.95, Until: math.MaxInt64}, []string{"a1", "c1", "c2"}},
		{"world", AreaQuery{MinLat: -90, MinLon: -180, MaxLat: 90, MaxLon: 180, Until: math.MaxInt64}, []string{"a1", "a2", "b1", "c1", "c2"}},
		{"beyond the world", AreaQuery{MinLat: -1000, MinLon: -1000, MaxLat: 1000, MaxLon: 1000, Until: math.MaxInt64}, []string{"a1", "a2", "b1", "c1", "c2"}},
		{"first minute", AreaQuery{MinLat: 28, MinLon: 112, MaxLat: 29, MaxLon: 113, Since: day0, Until: day0 + 59_999}, []string{"a1", "c1"}},
		{"second minute", AreaQuery{MinLat: 28, MinLon: 112, MaxLat: 29, MaxLon: 113, Since: day0 + 60_000, Until: day0 + 60_000}, []string{"c2"}},
		{"empty box", AreaQuery{MinLat: 29, MinLon: 112, MaxLat: 28, MaxLon: 113, Until: math.MaxInt64}, nil},
		{"NaN box", AreaQuery{MinLat: math.NaN(), MinLon: 112, MaxLat: 28, MaxLon: 113, Until: math.MaxInt64}, nil},
		{"limit", AreaQuery{MinLat: -90, MinLon: -180, MaxLat: 90, MaxLon: 180, Until: math.MaxInt64, Limit: 2}, []string{"a1", "a2"}},
		{"after", AreaQuery{MinLat: -90, MinLon: -180, MaxLat: 90, MaxLon: 180, Until: math.MaxInt64, After: Cursor{TS: day0 + 1, Seq: 2, Unit: "a"}}, []string{"b1", "c1", "c2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			if _, err := h.Area(tc.q, func(p *Position) error {
				got = append(got, fmt.Sprintf("%s%d", p.Unit, p.Seq))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	stop := errors.New("stop")
	if _, err := h.Area(cases[1].q, func(*Position) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("visit's error: %v", err)
	}
	if _, err := ParseCursor("1.2"); err == nil {
		t.Error("bad cursor parsed")
	}
}

// TestConcurrentAppendAndRead runs writers, readers, the idle closer and
// retention at once (for -race).
func TestConcurrentAppendAndRead(t *testing.T) {
	h, err := Open(Config{Dir: t.TempDir(), CacheSize: 8 << 20, MemTableSize: 1 << 20, IdleClose: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	const writers, perWriter = 4, 300
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unit := fmt.Sprintf("w%d", w)
			for i := range perWriter {
				ts := day0 + int64(i)*(msPerDay/100) // 3 days
				err := h.Append(Batch{
					Positions: []Position{{Unit: unit, Seq: uint64(i + 1), TS: ts, Lat: 28.2, Lon: 112.95}},
					Events:    []protocol.Event{{Unit: unit, Seq: uint64(i + 1), TS: ts, Type: protocol.EventAck}},
				})
				if err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					time.Sleep(30 * time.Millisecond) // let days go idle
				}
			}
		}()
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	for w := range writers {
		readers.Add(1)
		go func() {
			defer readers.Done()
			unit := fmt.Sprintf("w%d", w)
			last := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := h.Track(unit, 0, math.MaxInt64, 0)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) < last {
					t.Errorf("track of %s shrank from %d to %d", unit, last, len(got))
				}
				last = len(got)
				for i := 1; i < len(got); i++ {
					if got[i].TS < got[i-1].TS {
						t.Error("out of order")
					}
				}
				if _, err := h.Area(AreaQuery{MinLat: 28, MinLon: 112, MaxLat: 29, MaxLon: 113, Until: math.MaxInt64, Limit: 50},
					func(*Position) error { return nil }); err != nil {
					t.Error(err)
				}
				h.Stats()
			}
		}()
	}
	wg.Wait()
	close(done)
	readers.Wait()
	for w := range writers {
		got, err := h.Track(fmt.Sprintf("w%d", w), 0, math.MaxInt64, 0)
		if err != nil || len(got) != perWriter {
			t.Errorf("w%d: %d positions, %v", w, len(got), err)
		}
	}
	// Retention while writing goes on.
	var wg2 sync.WaitGroup
	wg2.Add(1)
	go func() {
		defer wg2.Done()
		for i := range 200 {
			if err := h.Append(Batch{Positions: []Position{{Unit: "late", Seq: uint64(i + 1), TS: day0 + int64(i%3)*msPerDay, Lat: 1, Lon: 1}}}); err != nil {
				t.Error(err)
			}
		}
	}()
	if _, err := h.DropBefore(Positions, time.UnixMilli(day0+msPerDay)); err != nil {
		t.Error(err)
	}
	wg2.Wait()
	if got := h.Days(Positions); len(got) != 2 {
		t.Errorf("days = %v", got)
	}
}
