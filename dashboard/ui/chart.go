package ui

import (
	"math"
	"strconv"
	"strings"
)

// The figures' charts are drawn by the dashboard itself, as inline SVG: no
// chart library (app.wasm's budget, and a closed network). What is here is
// plain geometry — scales, nice axes, bands of bars — and a chart as a list
// of shapes in a W×H box (chartSpec); the components turn a spec into SVG
// elements (kpi_charts.go) and nothing else.

// axis is a value axis from 0 to Max with its ticks (Max is the last).
type axis struct {
	Max   float64
	Ticks []float64
}

// niceStep is the step of 1, 2 or 5 × 10^k nearest above rough.
func niceStep(rough float64) float64 {
	if !(rough > 0) || math.IsInf(rough, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(rough)))
	switch f := rough / p; {
	case f <= 1+1e-9:
		return p
	case f <= 2+1e-9:
		return 2 * p
	case f <= 5+1e-9:
		return 5 * p
	}
	return 10 * p
}

// niceAxis is an axis from 0 to a round bound at or above maxV with about n
// steps; integer axes (counts) step by whole numbers. No data (maxV 0,
// negative or NaN) gives the axis 0..1.
func niceAxis(maxV float64, n int, integer bool) axis {
	if n < 1 {
		n = 1
	}
	if !(maxV > 0) || math.IsInf(maxV, 0) {
		return axis{Max: 1, Ticks: []float64{0, 1}}
	}
	step := niceStep(maxV / float64(n))
	if integer && step < 1 {
		step = 1
	}
	steps := int(math.Ceil(maxV/step - 1e-9))
	a := axis{Max: roundTo(float64(steps)*step, step)}
	for i := 0; i <= steps; i++ {
		// i*step, not a running sum: 0.1+0.1+0.1 is not 0.3.
		a.Ticks = append(a.Ticks, roundTo(float64(i)*step, step))
	}
	return a
}

// roundTo drops the floating-point noise of a multiple of step.
func roundTo(v, step float64) float64 {
	digits := max(0, -math.Floor(math.Log10(step))+1)
	p := math.Pow(10, digits)
	return math.Round(v*p) / p
}

// linear maps the domain [D0, D1] onto the range [R0, R1] (pixels; R1 may
// be below R0, as a y axis is).
type linear struct{ D0, D1, R0, R1 float64 }

func (s linear) at(v float64) float64 {
	if s.D1 == s.D0 {
		return s.R0
	}
	return s.R0 + (v-s.D0)/(s.D1-s.D0)*(s.R1-s.R0)
}

// bands divides [R0, R1] into N equal bands, a bar in the middle of each
// with Pad (0..1) of the band left empty around it.
type bands struct {
	N      int
	R0, R1 float64
	Pad    float64
}

// step is one band's width.
func (b bands) step() float64 {
	if b.N <= 0 {
		return 0
	}
	return (b.R1 - b.R0) / float64(b.N)
}

// bar is where band i's bar starts and how wide it is.
func (b bands) bar(i int) (x, w float64) {
	s := b.step()
	return b.R0 + float64(i)*s + s*b.Pad/2, s * (1 - b.Pad)
}

// mid is the middle of band i.
func (b bands) mid(i int) float64 {
	s := b.step()
	return b.R0 + (float64(i)+0.5)*s
}

// margins are the room around a chart's plot for its axes' labels.
type margins struct{ Left, Right, Top, Bottom float64 }

// chartSpec is a chart as shapes in a W×H box: what kpi_charts.go draws.
type chartSpec struct {
	ID    string
	Title string
	W, H  float64
	Rules []chartRule // grid lines and axes
	Bars  []chartBar
	Lines []chartLine
	Marks []chartMark
	Texts []chartText
	Keys  []chartKey // the legend
	Empty string     // said instead of the plot when there is no data
}

type chartBar struct {
	X, Y, W, H float64
	Class, Tip string
}

type chartPoint struct{ X, Y float64 }

type chartLine struct {
	Points []chartPoint
	Class  string
}

type chartMark struct {
	X, Y       float64
	Class, Tip string
}

type chartText struct {
	X, Y   float64
	Text   string
	Anchor string // "start", "middle", "end"
	Class  string
}

type chartRule struct {
	X1, Y1, X2, Y2 float64
	Class          string
}

type chartKey struct{ Class, Text string }

// segments splits a series with gaps (ok false) into the runs a line
// joins: a missing value breaks the line rather than bridging it.
func segments(n int, at func(i int) (p chartPoint, ok bool)) [][]chartPoint {
	var out [][]chartPoint
	var run []chartPoint
	for i := range n {
		p, ok := at(i)
		if !ok {
			if len(run) > 0 {
				out = append(out, run)
			}
			run = nil
			continue
		}
		run = append(run, p)
	}
	if len(run) > 0 {
		out = append(out, run)
	}
	return out
}

// labelEvery is the step between labels so that at most most of n show.
func labelEvery(n, most int) int {
	if most < 1 || n <= most {
		return 1
	}
	return (n + most - 1) / most
}

// pointsAttr is a polyline's points="x,y x,y".
func pointsAttr(ps []chartPoint) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(num(p.X))
		b.WriteByte(',')
		b.WriteString(num(p.Y))
	}
	return b.String()
}

// num is a coordinate as an attribute: two decimals at most, no noise.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// formatCount is a count with the thousands grouped ("12,345"): both
// languages group by three in figures.
func formatCount(n int) string {
	s := strconv.Itoa(max(n, -n))
	var b strings.Builder
	if n < 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatShare is a share (0..1) as a percentage; nil (no base) is a dash.
func formatShare(lang Lang, v *float64) string {
	if v == nil || math.IsNaN(*v) {
		return T(lang, "bar.none")
	}
	return Tf(lang, "pages.pct", math.Round(*v*100))
}

// formatSecondsP is FormatSeconds of a percentile that may be absent.
func formatSecondsP(lang Lang, v *float64) string {
	if v == nil {
		return T(lang, "bar.none")
	}
	return FormatSeconds(lang, *v)
}
