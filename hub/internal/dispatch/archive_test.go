package dispatch

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/protocol/kpi"
)

// The archive finds stored incidents by every filter and by text in their
// summary and notes, pages newest first without repeats even while new
// incidents arrive, survives a restart (incidents only in the store), and
// refuses bad queries.
func TestSearch(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.Location = time.UTC
		c.DistrictOf = func(lat, _ float64) string {
			if lat >= siteLat {
				return "north"
			}
			return ""
		}
	})
	start := r.clock.Now().UnixMilli()
	mk := func(kind string, prio int, dLat float64, summary string) Incident {
		t.Helper()
		r.clock.Advance(time.Minute)
		inc, err := r.d.Create(NewIncident{Lat: siteLat + dLat, Lon: siteLon, Kind: kind, Priority: prio, Summary: summary}, ActorDispatcher)
		if err != nil {
			t.Fatal(err)
		}
		return inc
	}
	theft := mk("theft", 2, 0, "Bicycle taken outside 五一广场")
	robbery := mk("robbery", 1, 0, "抢劫 two men on a scooter")
	noise := mk("noise", 3, -0.01, "party")
	fire := mk("fire", 1, 0, "smoke")
	r.place("car-1", protocol.TypeCar, 0.003, 0) // after them: nothing is sent by itself
	if _, err := r.d.Assign(robbery.ID, "car-1", ActorDispatcher); err != nil {
		t.Fatal(err)
	}
	if _, err := r.d.Sighting(robbery.ID, Sighting{Lat: siteLat + 0.001, Lon: siteLon, Source: "cam", Note: "Blue helmet"}, ActorDispatcher); err != nil {
		t.Fatal(err)
	}
	if _, err := r.d.Close(theft.ID, ActorDispatcher, "owner found it 在楼下"); err != nil {
		t.Fatal(err)
	}
	end := r.clock.Now().UnixMilli() + 1

	ids := func(p api.ArchivePage) []string {
		var out []string
		for _, row := range p.Incidents {
			out = append(out, row.ID)
		}
		return out
	}
	all := []string{fire.ID, noise.ID, robbery.ID, theft.ID}
	cases := []struct {
		name string
		q    ArchiveQuery
		want []string
	}{
		{"everything, newest first", ArchiveQuery{}, all},
		{"closed", ArchiveQuery{Status: api.ArchiveStatusClosed}, []string{theft.ID}},
		{"open", ArchiveQuery{Status: api.ArchiveStatusOpen}, []string{fire.ID, noise.ID, robbery.ID}},
		{"kind", ArchiveQuery{Kind: "robbery"}, []string{robbery.ID}},
		{"priority", ArchiveQuery{Priority: 1}, []string{fire.ID, robbery.ID}},
		{"district", ArchiveQuery{District: "north"}, []string{fire.ID, robbery.ID, theft.ID}},
		{"outside every district", ArchiveQuery{District: kpi.GroupNone}, []string{noise.ID}},
		{"unit ever assigned", ArchiveQuery{Unit: "car-1"}, []string{robbery.ID}},
		{"summary, any case", ArchiveQuery{Text: "BICYCLE"}, []string{theft.ID}},
		{"Chinese in the summary", ArchiveQuery{Text: "五一"}, []string{theft.ID}},
		{"a sighting's note", ArchiveQuery{Text: "blue helmet"}, []string{robbery.ID}},
		{"a close note", ArchiveQuery{Text: "楼下"}, []string{theft.ID}},
		{"the id", ArchiveQuery{Text: noise.ID}, []string{noise.ID}},
		{"filters together", ArchiveQuery{Priority: 1, Text: "smoke"}, []string{fire.ID}},
		{"nothing", ArchiveQuery{Text: "zebra"}, nil},
		{"window", ArchiveQuery{From: noise.Created, To: fire.Created}, []string{noise.ID}},
	}
	run := func(when string) {
		t.Helper()
		for _, c := range cases {
			q := c.q
			q.From, q.To = cmpOr(q.From, start), cmpOr(q.To, end)
			p, err := r.d.Search(q)
			if err != nil {
				t.Fatalf("%s: %s: %v", when, c.name, err)
			}
			if got := ids(p); !slices.Equal(got, c.want) || p.Total != len(c.want) || p.Next != "" {
				t.Errorf("%s: %s: %v (total %d, next %q), want %v", when, c.name, got, p.Total, p.Next, c.want)
			}
		}
	}
	run("live")
	p, _ := r.d.Search(ArchiveQuery{From: start, To: end, Unit: "car-1"})
	if row := p.Incidents[0]; row.Kind != "robbery" || row.Priority != 1 || row.Summary != robbery.Summary ||
		row.District != "north" || row.Closed != 0 || row.ToDispatchS == nil || row.ToArrivalS != nil || !slices.Equal(row.Units, []string{"car-1"}) {
		t.Errorf("robbery's row: %+v", row)
	}

	// Pages of one: each once, in order; an incident created between two
	// pages is newer than the cursor and does not shift them.
	var got []string
	q := ArchiveQuery{From: start, To: end + int64(time.Hour/time.Millisecond), Limit: 1}
	for i := 0; ; i++ {
		p, err := r.d.Search(q)
		if err != nil || len(p.Incidents) != 1 {
			t.Fatalf("page %d: %+v %v", i, p, err)
		}
		got = append(got, p.Incidents[0].ID)
		if i == 0 {
			mk("theft", 3, 0, "arrived while paging")
		}
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if !slices.Equal(got, all) {
		t.Errorf("paged: %v, want %v", got, all)
	}

	r.clock.Advance(48 * time.Hour) // theft closed two days ago: only in the store
	r.restart()
	run("after a restart")

	for _, c := range []struct {
		q    ArchiveQuery
		want string
	}{
		{ArchiveQuery{From: start}, "both required"},
		{ArchiveQuery{From: start, To: end, Status: "done"}, "status"},
		{ArchiveQuery{From: start, To: end, Priority: 4}, "priority"},
		{ArchiveQuery{From: start, To: end, Limit: api.ArchiveMaxLimit + 1}, "limit"},
		{ArchiveQuery{From: start, To: end, Cursor: "not a cursor"}, "cursor"},
		{ArchiveQuery{From: start, To: end, Cursor: "MTIz"}, "cursor"}, // "123": no id
	} {
		if _, err := r.d.Search(c.q); !errors.Is(err, ErrInvalid) || !contains(err, c.want) {
			t.Errorf("%+v: %v, want %q", c.q, err, c.want)
		}
	}
}

func cmpOr(v, def int64) int64 {
	if v != 0 {
		return v
	}
	return def
}

// Paging through random archives with random filters and page sizes gives
// exactly the brute-force answer: every match once, newest first.
func TestSearchAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 19))
	kinds := []string{"theft", "robbery", "noise"}
	districts := []string{"", "d1", "d2"}
	for round := range 200 {
		d := &Dispatcher{facts: map[string]*indexed{}}
		n := rng.IntN(60)
		var xs []*indexed
		for i := range n {
			x := &indexed{facts: kpi.Facts{ID: fmt.Sprintf("inc-%03d", i), Created: 1000 + int64(rng.IntN(30))*1000,
				Closed: rng.IntN(2) == 0, District: districts[rng.IntN(3)], Kind: kinds[rng.IntN(3)], Priority: 1 + rng.IntN(3)}}
			x.row = api.ArchiveRow{ID: x.facts.ID, Created: x.facts.Created}
			if rng.IntN(3) == 0 {
				x.row.Units = []string{fmt.Sprintf("u%d", rng.IntN(3))}
			}
			x.text = strings.ToLower(x.facts.ID + "\n" + x.facts.Kind)
			d.facts[x.facts.ID] = x
			xs = append(xs, x)
		}
		q := ArchiveQuery{From: 1000 + int64(rng.IntN(5))*1000, To: 20_000 + int64(rng.IntN(15))*1000, Limit: 1 + rng.IntN(7)}
		if rng.IntN(2) == 0 {
			q.Status = []string{api.ArchiveStatusAll, api.ArchiveStatusOpen, api.ArchiveStatusClosed}[rng.IntN(3)]
		}
		if rng.IntN(3) == 0 {
			q.District = []string{"d1", "d2", kpi.GroupNone}[rng.IntN(3)]
		}
		if rng.IntN(3) == 0 {
			q.Kind = kinds[rng.IntN(3)]
		}
		if rng.IntN(3) == 0 {
			q.Priority = 1 + rng.IntN(3)
		}
		if rng.IntN(3) == 0 {
			q.Unit = fmt.Sprintf("u%d", rng.IntN(3))
		}
		if rng.IntN(3) == 0 {
			q.Text = []string{"ROB", "inc-00", "1"}[rng.IntN(3)]
		}
		var want []string
		for _, x := range xs {
			f := x.facts
			district := f.District
			if district == "" {
				district = kpi.GroupNone
			}
			if f.Created >= q.From && f.Created < q.To &&
				(q.Status == "" || q.Status == api.ArchiveStatusAll || (q.Status == api.ArchiveStatusClosed) == f.Closed) &&
				(q.District == "" || q.District == district) && (q.Kind == "" || q.Kind == f.Kind) &&
				(q.Priority == 0 || q.Priority == f.Priority) && (q.Unit == "" || slices.Contains(x.row.Units, q.Unit)) &&
				strings.Contains(x.text, strings.ToLower(q.Text)) {
				want = append(want, f.ID)
			}
		}
		slices.SortFunc(want, func(a, b string) int {
			ca, cb := d.facts[a].facts.Created, d.facts[b].facts.Created
			if ca != cb {
				return int(cb - ca)
			}
			return strings.Compare(b, a)
		})
		var got []string
		for pages := 0; ; pages++ {
			p, err := d.Search(q)
			if err != nil || p.Total != len(want) || pages > n+1 {
				t.Fatalf("round %d %+v: total %d want %d, %v", round, q, p.Total, len(want), err)
			}
			for _, row := range p.Incidents {
				got = append(got, row.ID)
			}
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d %+v:\n got %v\nwant %v", round, q, got, want)
		}
	}
}

// Uncovered spans merge into periods, clipped to the report's day; one
// still open lasts until now.
func TestUncoveredPeriods(t *testing.T) {
	const from, to = 100_000, 200_000
	f := func(id string, created int64, spans ...kpi.Span) kpi.Facts {
		return kpi.Facts{ID: id, Created: created, UncoveredSpans: spans}
	}
	cases := []struct {
		name  string
		facts []kpi.Facts
		now   int64
		want  []api.UncoveredPeriod
	}{
		{"none", []kpi.Facts{f("a", 110_000)}, 300_000, []api.UncoveredPeriod{}},
		{"two apart", []kpi.Facts{f("a", 110_000, kpi.Span{FromS: 0, ToS: 10}), f("b", 150_000, kpi.Span{FromS: 5, ToS: 20})}, 300_000,
			[]api.UncoveredPeriod{{From: 110_000, To: 120_000, Incidents: []string{"a"}}, {From: 155_000, To: 170_000, Incidents: []string{"b"}}}},
		{"overlapping merge", []kpi.Facts{f("a", 110_000, kpi.Span{FromS: 0, ToS: 30}), f("b", 120_000, kpi.Span{FromS: 0, ToS: 40})}, 300_000,
			[]api.UncoveredPeriod{{From: 110_000, To: 160_000, Incidents: []string{"a", "b"}}}},
		{"one incident twice", []kpi.Facts{f("a", 110_000, kpi.Span{FromS: 0, ToS: 10}, kpi.Span{FromS: 10, ToS: 20})}, 300_000,
			[]api.UncoveredPeriod{{From: 110_000, To: 130_000, Incidents: []string{"a"}}}},
		{"from the day before, clipped", []kpi.Facts{f("a", 90_000, kpi.Span{FromS: 0, ToS: 20})}, 300_000,
			[]api.UncoveredPeriod{{From: 100_000, To: 110_000, Incidents: []string{"a"}}}},
		{"ended the day before", []kpi.Facts{f("a", 50_000, kpi.Span{FromS: 0, ToS: 20})}, 300_000, []api.UncoveredPeriod{}},
		{"still uncovered", []kpi.Facts{f("a", 150_000, kpi.Span{FromS: 10, ToS: -1})}, 180_000,
			[]api.UncoveredPeriod{{From: 160_000, To: 180_000, Open: true, Incidents: []string{"a"}}}},
		{"still uncovered past the day's end", []kpi.Facts{f("a", 150_000, kpi.Span{FromS: 10, ToS: -1})}, 300_000,
			[]api.UncoveredPeriod{{From: 160_000, To: 200_000, Incidents: []string{"a"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := uncoveredPeriods(c.facts, from, to, c.now)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// The daily report of a day with one incident reached, one never reached
// and one uncovered until a unit acknowledged: its figures by shift, the
// worst responses in order, the uncovered period; a bad date is refused.
func TestDailyReport(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Location = time.UTC })
	day := r.clock.Now().UTC().Format(time.DateOnly)
	// Nobody near: uncovered from creation.
	lonely := r.create("robbery", 1)
	r.clock.Advance(30 * time.Second)
	r.place("car-1", protocol.TypeCar, 0.002, 0)
	if _, err := r.d.Assign(lonely.ID, "car-1", ActorDispatcher); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(10 * time.Second)
	r.event("car-1", protocol.EventAck, lonely.ID) // covered at 40 s
	r.clock.Advance(50 * time.Second)
	r.event("car-1", protocol.EventArrived, lonely.ID) // reached at 90 s
	never := r.create("theft", 2)
	if _, err := r.d.Close(never.ID, ActorDispatcher, "caller withdrew"); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(time.Minute)

	rep, err := r.d.DailyReport("")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Date != day || rep.Zone != "UTC" || rep.To-rep.From != 24*3600*1000 || rep.Total.Count != 2 {
		t.Fatalf("report: %+v", rep)
	}
	if n := len(rep.Shifts); n != 1 || rep.Shifts[0].Count != 2 {
		t.Errorf("shifts %+v", rep.Shifts)
	}
	if len(rep.Worst) != 2 || rep.Worst[0].ID != never.ID || rep.Worst[1].ID != lonely.ID || *rep.Worst[1].ToArrivalS != 90 {
		t.Errorf("worst %+v", rep.Worst)
	}
	got := r.get(lonely.ID)
	var unc, cov int64
	for _, e := range got.Timeline {
		switch e.Type {
		case api.EntryUncovered:
			unc = cmpOr(unc, e.TS)
		case api.EntryCovered:
			cov = cmpOr(cov, e.TS)
		}
	}
	if unc == 0 || cov == 0 {
		t.Fatalf("robbery's timeline has no uncovered/covered pair: %+v", got.Timeline)
	}
	if len(rep.Uncovered) != 1 || rep.Uncovered[0].From != unc || rep.Uncovered[0].To != cov ||
		!slices.Equal(rep.Uncovered[0].Incidents, []string{lonely.ID}) {
		t.Errorf("uncovered %+v, want %d to %d", rep.Uncovered, unc, cov)
	}
	if other, err := r.d.DailyReport("2020-01-01"); err != nil || other.Total.Count != 0 || len(other.Worst) != 0 {
		t.Errorf("an empty day: %+v %v", other, err)
	}
	if _, err := r.d.DailyReport("07/12/2026"); !errors.Is(err, ErrInvalid) {
		t.Errorf("a bad date: %v", err)
	}
}

// BenchmarkSearch90Days searches 90 days × 300 incidents: the first page
// of everything, and a text search.
func BenchmarkSearch90Days(b *testing.B) {
	d := &Dispatcher{facts: map[string]*indexed{}}
	end := time.Now()
	from := end.Add(-90 * 24 * time.Hour)
	for i := range 90 * 300 {
		f := syntheticFacts(i, from)
		d.facts[f.ID] = &indexed{facts: f, row: api.ArchiveRow{ID: f.ID, Created: f.Created, Summary: "summary " + f.ID},
			text: fmt.Sprintf("%s\n%s\nsummary of incident number %d", f.ID, f.Kind, i)}
	}
	for name, q := range map[string]ArchiveQuery{"all": {}, "text": {Text: "number 1234"}} {
		b.Run(name, func(b *testing.B) {
			q.From, q.To = from.UnixMilli(), end.UnixMilli()+1
			for b.Loop() {
				if p, err := d.Search(q); err != nil || p.Total == 0 {
					b.Fatal(p.Total, err)
				}
			}
		})
	}
}
