package ui

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol/api"
)

func TestNiceStep(t *testing.T) {
	for _, tc := range []struct{ rough, want float64 }{
		{0.3, 0.5}, {1, 1}, {1.2, 2}, {2, 2}, {2.1, 5}, {4.9, 5}, {5.1, 10}, {7, 10}, {12, 20}, {250, 500}, {0, 1}, {-3, 1}, {math.NaN(), 1},
	} {
		if got := niceStep(tc.rough); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("niceStep(%g) = %g, want %g", tc.rough, got, tc.want)
		}
	}
}

func TestNiceAxis(t *testing.T) {
	for _, tc := range []struct {
		name    string
		max     float64
		n       int
		integer bool
		want    []float64
	}{
		{"empty data", 0, 4, true, []float64{0, 1}},
		{"negative", -5, 4, false, []float64{0, 1}},
		{"NaN", math.NaN(), 4, false, []float64{0, 1}},
		{"one incident", 1, 4, true, []float64{0, 1}},
		{"three, whole steps", 3, 4, true, []float64{0, 1, 2, 3}},
		{"seven", 7, 4, true, []float64{0, 2, 4, 6, 8}},
		{"exact bound", 20, 4, true, []float64{0, 5, 10, 15, 20}},
		{"just over", 21, 4, true, []float64{0, 10, 20, 30}},
		{"minutes", 4.3, 4, false, []float64{0, 2, 4, 6}},
		{"fractions", 0.3, 3, false, []float64{0, 0.1, 0.2, 0.3}},
		{"n below 1", 9, 0, true, []float64{0, 10}},
	} {
		got := niceAxis(tc.max, tc.n, tc.integer)
		if !slices.Equal(got.Ticks, tc.want) || got.Max != tc.want[len(tc.want)-1] {
			t.Errorf("%s: niceAxis(%g, %d) = %v (max %g), want %v", tc.name, tc.max, tc.n, got.Ticks, got.Max, tc.want)
		}
		if !(got.Max >= tc.max) && tc.max > 0 {
			t.Errorf("%s: the axis ends at %g, below the data's %g", tc.name, got.Max, tc.max)
		}
	}
}

func TestLinearAndBands(t *testing.T) {
	y := linear{0, 10, 200, 0} // a y axis: up is smaller
	for v, want := range map[float64]float64{0: 200, 5: 100, 10: 0, 12: -40} {
		if got := y.at(v); got != want {
			t.Errorf("y(%g) = %g, want %g", v, got, want)
		}
	}
	if got := (linear{3, 3, 7, 9}).at(3); got != 7 {
		t.Errorf("an empty domain maps to %g, want the range's start", got)
	}
	b := bands{N: 4, R0: 100, R1: 500, Pad: 0.2}
	for i, want := range []struct{ x, w, mid float64 }{{110, 80, 150}, {210, 80, 250}, {310, 80, 350}, {410, 80, 450}} {
		x, w := b.bar(i)
		if math.Abs(x-want.x) > 1e-9 || math.Abs(w-want.w) > 1e-9 || math.Abs(b.mid(i)-want.mid) > 1e-9 {
			t.Errorf("band %d: x %g w %g mid %g, want %+v", i, x, w, b.mid(i), want)
		}
	}
	one := bands{N: 1, R0: 0, R1: 100, Pad: 0.5}
	if x, w := one.bar(0); x != 25 || w != 50 {
		t.Errorf("one bar: x %g w %g, want 25, 50", x, w)
	}
	if (bands{N: 0, R0: 0, R1: 100}).step() != 0 {
		t.Error("no bands have a width")
	}
}

func TestSegments(t *testing.T) {
	vals := []float64{1, 2, math.NaN(), 4, math.NaN(), math.NaN(), 7}
	runs := segments(len(vals), func(i int) (chartPoint, bool) {
		return chartPoint{float64(i), vals[i]}, !math.IsNaN(vals[i])
	})
	var lens []int
	for _, r := range runs {
		lens = append(lens, len(r))
	}
	if !slices.Equal(lens, []int{2, 1, 1}) {
		t.Errorf("runs of %v", lens)
	}
	if len(segments(3, func(int) (chartPoint, bool) { return chartPoint{}, false })) != 0 {
		t.Error("runs without points")
	}
	if got := labelEvery(31, 8); got != 4 {
		t.Errorf("labelEvery(31, 8) = %d", got)
	}
	if got := labelEvery(7, 8); got != 1 {
		t.Errorf("labelEvery(7, 8) = %d", got)
	}
	if got := pointsAttr([]chartPoint{{1.005, 2}, {3.333333, 4.5}}); got != "1,2 3.33,4.5" && got != "1.01,2 3.33,4.5" {
		t.Errorf("points %q", got)
	}
}

func TestNumberFormats(t *testing.T) {
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 12345: "12,345", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := formatCount(n); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", n, got, want)
		}
	}
	if got := formatShare(EN, fp(0.6249)); got != "62%" {
		t.Errorf("share %q", got)
	}
	if got := formatShare(ZH, nil); got != "—" {
		t.Errorf("no share %q", got)
	}
	if got := formatSecondsP(ZH, fp(200)); got != "3分20秒" {
		t.Errorf("seconds %q", got)
	}
}

// The bars inside the plot, above the base line, as tall as their count.
func checkBars(t *testing.T, c chartSpec, class string) []chartBar {
	t.Helper()
	var out []chartBar
	for _, b := range c.Bars {
		if b.Class != class {
			continue
		}
		out = append(out, b)
		if b.X < 0 || b.Y < 0 || b.X+b.W > c.W+1e-9 || b.Y+b.H > c.H+1e-9 || b.W < 0 || b.H < 0 {
			t.Errorf("%s: bar %+v outside %gx%g", c.ID, b, c.W, c.H)
		}
	}
	return out
}

func TestHourChart(t *testing.T) {
	rows := []api.KPIRow{
		{Group: "07", Count: 2, Reached3: fp(0.5)},
		{Group: "08", Count: 8, Reached3: fp(1)},
		{Group: "09", Count: 4, Reached3: nil}, // no base: the line breaks
		{Group: "10", Count: 1, Reached3: fp(0)},
		{Group: "bad", Count: 99},
	}
	c := hourChart(EN, rows)
	bars := checkBars(t, c, "count")
	if len(bars) != 4 || c.Empty != "" {
		t.Fatalf("%d bars (empty %q), want 4", len(bars), c.Empty)
	}
	// Heights in proportion to the counts; the tallest reaches the top of
	// the axis (8 on a 0..8 axis).
	if r := bars[1].H / bars[0].H; math.Abs(r-4) > 1e-9 {
		t.Errorf("8 vs 2 incidents: heights %g and %g", bars[1].H, bars[0].H)
	}
	if math.Abs(bars[1].Y-14) > 1e-9 {
		t.Errorf("the tallest bar starts at %g, want the plot's top 14", bars[1].Y)
	}
	// Bars in their hour's band: the 08 bar is right of the 00 one.
	if !(bars[0].X < bars[1].X && bars[1].X < bars[2].X) {
		t.Errorf("bars out of order: %v", bars)
	}
	if len(c.Lines) != 2 || len(c.Lines[0].Points) != 2 || len(c.Lines[1].Points) != 1 {
		t.Errorf("share lines %+v: want one of 2 points, one of 1", c.Lines)
	}
	if len(c.Marks) != 3 {
		t.Errorf("%d marks", len(c.Marks))
	}
	if c.Title != "By hour of day" || hourChart(ZH, rows).Title != "按时段分布" {
		t.Errorf("titles %q", c.Title)
	}
	if !strings.Contains(bars[1].Tip, "08:00") || !strings.Contains(bars[1].Tip, "100%") {
		t.Errorf("tip %q", bars[1].Tip)
	}
	empty := hourChart(EN, nil)
	if len(empty.Bars) != 0 || empty.Empty == "" || len(empty.Rules) != 2 {
		t.Errorf("empty chart: %d bars, empty %q, %d rules", len(empty.Bars), empty.Empty, len(empty.Rules))
	}
}

func TestDistrictChart(t *testing.T) {
	ds := []District{{ID: "yuelu", EN: "Yuelu", ZH: "岳麓区"}, {ID: "tianxin", EN: "Tianxin", ZH: "天心区"}}
	rows := []api.KPIRow{
		{Group: "tianxin", Count: 10, Reached3: fp(0.9)},
		{Group: "none", Count: 3, Reached3: nil},
		{Group: "yuelu", Count: 1234, Reached3: fp(0.25)},
	}
	c := districtChart(EN, rows, ds)
	share := checkBars(t, c, "share")
	if len(share) != 3 || len(checkBars(t, c, "track")) != 3 {
		t.Fatalf("%d share bars", len(share))
	}
	// Worst first, without a base last; widths in proportion to the share.
	var labels []string
	for _, tx := range c.Texts {
		if tx.Class == "label" {
			labels = append(labels, tx.Text)
		}
	}
	if !slices.Equal(labels, []string{"Yuelu", "Tianxin", "Outside every district"}) {
		t.Errorf("labels %v", labels)
	}
	if r := share[1].W / share[0].W; math.Abs(r-3.6) > 1e-9 || share[2].W != 0 {
		t.Errorf("widths %g %g %g", share[0].W, share[1].W, share[2].W)
	}
	if !slices.ContainsFunc(c.Texts, func(x chartText) bool { return x.Text == "25% · 1,234 incidents" }) {
		t.Errorf("no value label with the share and count: %+v", c.Texts)
	}
	if zh := districtChart(ZH, rows, ds); !slices.ContainsFunc(zh.Texts, func(x chartText) bool { return x.Text == "岳麓区" }) {
		t.Error("no Chinese district name")
	}
	if one := districtChart(EN, rows[:1], ds); one.H <= 0 || len(one.Bars) != 2 {
		t.Errorf("one district: h %g, %d bars", one.H, len(one.Bars))
	}
	if empty := districtChart(EN, nil, ds); empty.Empty == "" || empty.H <= 0 {
		t.Errorf("empty: %+v", empty)
	}
}

func TestTrendChart(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, loc).UnixMilli()
	to := time.Date(2026, 12, 8, 0, 0, 0, 0, loc).UnixMilli()
	if got := windowDays(from, to, loc); len(got) != 7 || got[0] != "2026-12-01" || got[6] != "2026-12-07" {
		t.Fatalf("windowDays %v", got)
	}
	if got := windowDays(to, from, loc); len(got) != 0 {
		t.Errorf("a backward window has days %v", got)
	}
	rows := []api.KPIRow{
		{Group: "2026-12-02", Count: 3, ToArrivalP50: fp(120), ToArrivalP90: fp(300)},
		{Group: "2026-12-03", Count: 6, ToArrivalP50: fp(150), ToArrivalP90: fp(420)},
		{Group: "2026-12-06", Count: 1}, // nobody reached: no points
	}
	c := trendChart(EN, rows, from, to, loc)
	bars := checkBars(t, c, "count")
	if len(bars) != 3 {
		t.Fatalf("%d bars", len(bars))
	}
	// Seven bands: the 12-02 bar in the second, the 12-06 one in the sixth.
	step := (720.0 - 44 - 56) / 7
	if math.Abs((bars[2].X-bars[0].X)-4*step) > 1e-9 {
		t.Errorf("12-02 at %g, 12-06 at %g: want 4 bands apart", bars[0].X, bars[2].X)
	}
	var p50, p90 int
	for _, l := range c.Lines {
		switch l.Class {
		case "p50":
			p50 += len(l.Points)
		case "p90":
			p90 += len(l.Points)
		}
	}
	if p50 != 2 || p90 != 2 {
		t.Errorf("p50 %d, p90 %d points", p50, p90)
	}
	// The minutes axis covers 7 min (420 s): 0, 2, 4, 6, 8.
	var mins []string
	for _, tx := range c.Texts {
		if strings.Contains(tx.Class, "minutes") {
			mins = append(mins, tx.Text)
		}
	}
	if !slices.Equal(mins, []string{"0 min", "2 min", "4 min", "6 min", "8 min"}) {
		t.Errorf("minute ticks %v", mins)
	}
	// Arrivals in seconds: the minutes axis still reads 0..1 min.
	fast := trendChart(EN, []api.KPIRow{{Group: "2026-12-02", Count: 2, ToArrivalP50: fp(0.1), ToArrivalP90: fp(0.2)}}, from, to, loc)
	mins = nil
	for _, tx := range fast.Texts {
		if strings.Contains(tx.Class, "minutes") {
			mins = append(mins, tx.Text)
		}
	}
	if !slices.Equal(mins, []string{"0 min", "0.5 min", "1 min"}) {
		t.Errorf("minute ticks of fast arrivals %v", mins)
	}
	if c := trendChart(ZH, nil, from, to, loc); c.Empty == "" || c.Title != "每日趋势" || len(c.Bars) != 0 {
		t.Errorf("empty trend: %+v", c)
	}
	// 90 days: at most 8 date labels.
	long := trendChart(EN, nil, from, from+90*86_400_000, loc)
	n := 0
	for _, tx := range long.Texts {
		if tx.Class == "tick" && strings.Count(tx.Text, "-") == 1 {
			n++
		}
	}
	if n == 0 || n > 8 {
		t.Errorf("%d date labels over 90 days", n)
	}
}
