package ui

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

// The three charts of the figures screen, built as chartSpecs from the
// hub's reports (pure: tested without a browser), and drawn as SVG.

// hourChart is the incidents by hour of day: a bar per hour (left axis,
// count) and the share reached within 3 minutes (right axis, 0–100 %), a
// line broken where an hour has no base.
func hourChart(lang Lang, rows []api.KPIRow) chartSpec {
	const w, h = 720.0, 260.0
	m := margins{Left: 44, Right: 48, Top: 14, Bottom: 30}
	c := chartSpec{ID: "chart-hour", Title: T(lang, "chart.hour.title"), W: w, H: h,
		Keys: []chartKey{{"count", T(lang, "chart.key.count")}, {"share", T(lang, "chart.key.reached3")}}}
	var byHour [24]*api.KPIRow
	maxCount := 0
	for i := range rows {
		hr, err := strconv.Atoi(rows[i].Group)
		if err != nil || hr < 0 || hr > 23 {
			continue
		}
		byHour[hr] = &rows[i]
		maxCount = max(maxCount, rows[i].Count)
	}
	if maxCount == 0 {
		c.Empty = T(lang, "chart.empty")
	}
	ax := niceAxis(float64(maxCount), 4, true)
	y := linear{0, ax.Max, h - m.Bottom, m.Top}
	share := linear{0, 1, h - m.Bottom, m.Top}
	bs := bands{N: 24, R0: m.Left, R1: w - m.Right, Pad: 0.2}
	c.valueAxis(ax, y, m, w, func(v float64) string { return formatCount(int(v)) })
	for _, s := range []float64{0, 0.5, 1} {
		c.Texts = append(c.Texts, chartText{X: w - m.Right + 6, Y: share.at(s) + 4, Text: formatShare(lang, &s), Anchor: "start", Class: "tick share"})
	}
	for hr := range 24 {
		if hr%3 == 0 {
			c.Texts = append(c.Texts, chartText{X: bs.mid(hr), Y: h - m.Bottom + 16, Text: fmt.Sprintf("%02d", hr), Anchor: "middle", Class: "tick"})
		}
		r := byHour[hr]
		if r == nil || r.Count == 0 {
			continue
		}
		x, bw := bs.bar(hr)
		c.Bars = append(c.Bars, chartBar{X: x, Y: y.at(float64(r.Count)), W: bw, H: y.at(0) - y.at(float64(r.Count)), Class: "count",
			Tip: Tf(lang, "chart.hour.tip", hr, formatCount(r.Count), formatShare(lang, r.Reached3))})
	}
	for _, run := range segments(24, func(i int) (chartPoint, bool) {
		r := byHour[i]
		if r == nil || r.Reached3 == nil {
			return chartPoint{}, false
		}
		return chartPoint{bs.mid(i), share.at(*r.Reached3)}, true
	}) {
		c.Lines = append(c.Lines, chartLine{Points: run, Class: "share"})
		for _, p := range run {
			c.Marks = append(c.Marks, chartMark{X: p.X, Y: p.Y, Class: "share"})
		}
	}
	c.Texts = append(c.Texts, chartText{X: (m.Left + w - m.Right) / 2, Y: h - 2, Text: T(lang, "chart.hour.axis"), Anchor: "middle", Class: "axis-title"})
	return c
}

// valueAxis adds a left value axis: its grid lines and tick labels.
func (c *chartSpec) valueAxis(ax axis, y linear, m margins, w float64, label func(float64) string) {
	for _, t := range ax.Ticks {
		cls := "grid"
		if t == 0 {
			cls = "base"
		}
		c.Rules = append(c.Rules, chartRule{X1: m.Left, Y1: y.at(t), X2: w - m.Right, Y2: y.at(t), Class: cls})
		c.Texts = append(c.Texts, chartText{X: m.Left - 6, Y: y.at(t) + 4, Text: label(t), Anchor: "end", Class: "tick"})
	}
}

// districtChart is a horizontal bar per district: the share reached within
// 3 minutes, with the count; the worst share first, districts without a
// base last.
func districtChart(lang Lang, rows []api.KPIRow, ds []District) chartSpec {
	const w, rowH = 720.0, 26.0
	m := margins{Left: 150, Right: 130, Top: 24, Bottom: 8}
	sorted := slices.Clone(rows)
	slices.SortStableFunc(sorted, func(a, b api.KPIRow) int {
		switch {
		case a.Reached3 == nil && b.Reached3 == nil:
			return 0
		case a.Reached3 == nil:
			return 1
		case b.Reached3 == nil:
			return -1
		}
		return cmp.Compare(*a.Reached3, *b.Reached3)
	})
	h := m.Top + rowH*float64(max(1, len(sorted))) + m.Bottom
	c := chartSpec{ID: "chart-district", Title: T(lang, "chart.district.title"), W: w, H: h,
		Keys: []chartKey{{"share-bar", T(lang, "chart.key.reached3")}}}
	if len(sorted) == 0 {
		c.Empty = T(lang, "chart.empty")
	}
	x := linear{0, 1, m.Left, w - m.Right}
	for _, s := range []float64{0, 0.25, 0.5, 0.75, 1} {
		cls := "grid"
		if s == 0 {
			cls = "base"
		}
		c.Rules = append(c.Rules, chartRule{X1: x.at(s), Y1: m.Top - 4, X2: x.at(s), Y2: h - m.Bottom, Class: cls})
		c.Texts = append(c.Texts, chartText{X: x.at(s), Y: m.Top - 8, Text: formatShare(lang, &s), Anchor: "middle", Class: "tick"})
	}
	for i, r := range sorted {
		top := m.Top + rowH*float64(i)
		name := districtName(lang, ds, r.Group)
		c.Texts = append(c.Texts, chartText{X: m.Left - 8, Y: top + rowH/2 + 4, Text: name, Anchor: "end", Class: "label"})
		c.Bars = append(c.Bars, chartBar{X: x.at(0), Y: top + 4, W: x.at(1) - x.at(0), H: rowH - 8, Class: "track"})
		sh := 0.0
		if r.Reached3 != nil {
			sh = *r.Reached3
		}
		c.Bars = append(c.Bars, chartBar{X: x.at(0), Y: top + 4, W: x.at(sh) - x.at(0), H: rowH - 8, Class: "share",
			Tip: Tf(lang, "chart.district.tip", name, formatShare(lang, r.Reached3), formatCount(r.Count))})
		c.Texts = append(c.Texts, chartText{X: w - m.Right + 8, Y: top + rowH/2 + 4, Anchor: "start", Class: "value",
			Text: Tf(lang, "chart.district.value", formatShare(lang, r.Reached3), formatCount(r.Count))})
	}
	return c
}

// trendChart is the window day by day: a bar per day (left axis, count;
// days without incidents are empty, not missing) and the P50 and P90 to
// arrival as lines (right axis, minutes). Days are the hub's local dates,
// from the report's window in loc.
func trendChart(lang Lang, rows []api.KPIRow, from, to int64, loc *time.Location) chartSpec {
	const w, h = 720.0, 260.0
	m := margins{Left: 44, Right: 56, Top: 14, Bottom: 30}
	c := chartSpec{ID: "chart-trend", Title: T(lang, "chart.trend.title"), W: w, H: h,
		Keys: []chartKey{{"count", T(lang, "chart.key.count")}, {"p50", T(lang, "chart.key.p50")}, {"p90", T(lang, "chart.key.p90")}}}
	days := windowDays(from, to, loc)
	byDay := map[string]*api.KPIRow{}
	maxCount, maxSec := 0, 0.0
	for i := range rows {
		byDay[rows[i].Group] = &rows[i]
		if !slices.Contains(days, rows[i].Group) {
			days = append(days, rows[i].Group) // a day the window's reckoning missed: still shown
		}
		maxCount = max(maxCount, rows[i].Count)
		for _, v := range []*float64{rows[i].ToArrivalP50, rows[i].ToArrivalP90} {
			if v != nil {
				maxSec = max(maxSec, *v)
			}
		}
	}
	slices.Sort(days)
	if maxCount == 0 {
		c.Empty = T(lang, "chart.empty")
	}
	ax := niceAxis(float64(maxCount), 4, true)
	y := linear{0, ax.Max, h - m.Bottom, m.Top}
	minAx := niceAxis(max(maxSec/60, 1), 4, false) // at least a minute: seconds would read "0 min"
	ym := linear{0, minAx.Max, h - m.Bottom, m.Top}
	bs := bands{N: len(days), R0: m.Left, R1: w - m.Right, Pad: 0.25}
	c.valueAxis(ax, y, m, w, func(v float64) string { return formatCount(int(v)) })
	for _, t := range minAx.Ticks {
		c.Texts = append(c.Texts, chartText{X: w - m.Right + 6, Y: ym.at(t) + 4, Text: Tf(lang, "chart.minutes", num(t)), Anchor: "start", Class: "tick minutes"})
	}
	every := labelEvery(len(days), 8)
	for i, d := range days {
		if i%every == 0 {
			c.Texts = append(c.Texts, chartText{X: bs.mid(i), Y: h - m.Bottom + 16, Text: shortDate(d), Anchor: "middle", Class: "tick"})
		}
		r := byDay[d]
		if r == nil || r.Count == 0 {
			continue
		}
		x, bw := bs.bar(i)
		c.Bars = append(c.Bars, chartBar{X: x, Y: y.at(float64(r.Count)), W: bw, H: y.at(0) - y.at(float64(r.Count)), Class: "count",
			Tip: Tf(lang, "chart.trend.tip", d, formatCount(r.Count), formatSecondsP(lang, r.ToArrivalP50), formatSecondsP(lang, r.ToArrivalP90))})
	}
	for _, s := range []struct {
		class string
		of    func(*api.KPIRow) *float64
	}{{"p50", func(r *api.KPIRow) *float64 { return r.ToArrivalP50 }}, {"p90", func(r *api.KPIRow) *float64 { return r.ToArrivalP90 }}} {
		for _, run := range segments(len(days), func(i int) (chartPoint, bool) {
			r := byDay[days[i]]
			if r == nil || s.of(r) == nil {
				return chartPoint{}, false
			}
			return chartPoint{bs.mid(i), ym.at(*s.of(r) / 60)}, true
		}) {
			c.Lines = append(c.Lines, chartLine{Points: run, Class: s.class})
			for _, p := range run {
				c.Marks = append(c.Marks, chartMark{X: p.X, Y: p.Y, Class: s.class})
			}
		}
	}
	return c
}

// windowDays is every local date ("2006-01-02") of [from, to) in loc.
func windowDays(from, to int64, loc *time.Location) []string {
	if loc == nil {
		loc = time.Local
	}
	var out []string
	if to <= from {
		return out
	}
	t := time.UnixMilli(from).In(loc)
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	for n := 0; d.UnixMilli() < to && n <= api.MaxKPIDays+1; n++ {
		out = append(out, d.Format(dateLayout))
		d = d.AddDate(0, 0, 1)
	}
	return out
}

// shortDate is "12-06" of "2026-12-06".
func shortDate(d string) string {
	if len(d) == len(dateLayout) {
		return d[5:]
	}
	return d
}

// chartView draws a chartSpec: a figure with its title, the SVG (every
// element made by svgEl: SVG needs its namespace) and the legend.
func chartView(c chartSpec) app.UI {
	var shapes []app.UI
	for _, r := range c.Rules {
		shapes = append(shapes, svgEl("line").Class(r.Class).Attr("x1", num(r.X1)).Attr("y1", num(r.Y1)).
			Attr("x2", num(r.X2)).Attr("y2", num(r.Y2)))
	}
	for _, b := range c.Bars {
		rect := svgEl("rect").Class("bar", b.Class).Attr("x", num(b.X)).Attr("y", num(b.Y)).
			Attr("width", num(max(0, b.W))).Attr("height", num(max(0, b.H)))
		if b.Tip != "" {
			rect = rect.Body(svgEl("title").Text(b.Tip))
		}
		shapes = append(shapes, rect)
	}
	for _, l := range c.Lines {
		shapes = append(shapes, svgEl("polyline").Class("line", l.Class).Attr("points", pointsAttr(l.Points)))
	}
	for _, mk := range c.Marks {
		shapes = append(shapes, svgEl("circle").Class("mark", mk.Class).Attr("cx", num(mk.X)).Attr("cy", num(mk.Y)).Attr("r", "3"))
	}
	for _, t := range c.Texts {
		shapes = append(shapes, svgEl("text").Class(t.Class).Attr("x", num(t.X)).Attr("y", num(t.Y)).
			Attr("text-anchor", t.Anchor).Text(t.Text))
	}
	return app.Div().ID(c.ID).Class("chart").Body(
		app.H3().Class("chart-title").Text(c.Title),
		maybe(c.Empty != "", app.P().Class("chart-empty").Text(c.Empty)),
		svgEl("svg").Class("chart-svg").Attr("viewBox", "0 0 "+num(c.W)+" "+num(c.H)).
			Attr("preserveAspectRatio", "xMidYMid meet").Attr("role", "img").Aria("label", c.Title).Body(
			append([]app.UI{svgEl("title").Text(c.Title)}, shapes...)...),
		app.Ul().Class("chart-legend").Body(app.Range(c.Keys).Slice(func(i int) app.UI {
			return app.Li().Body(app.Span().Class("swatch", c.Keys[i].Class), app.Text(c.Keys[i].Text))
		})),
	)
}
