package officerui

import (
	"math"
	"strconv"
	"time"
)

// The patrol tasks' card (巡逻任务, additive 2026-12): the unit's tasks of
// the hub's patrol plans running now — checkpoints to hold (点), routes to
// drive (线), areas to be present in (面) — each with what it asks and
// where it is from the latest fix.

// Window states of a checkpoint, the card's data-window hook.
const (
	WindowOpen   = "open"   // now is inside the window
	WindowNext   = "next"   // the window opens later
	WindowPassed = "passed" // the window the hub sent has closed (no newer list yet)
	WindowNone   = "none"   // no window left in this shift
)

// TaskRow is one task as the card shows it.
type TaskRow struct {
	Plan, ID, Kind string // Kind as the hub names it: point, line, area
	KindName       string // 点 checkpoint, 线 route, 面 area
	Name           string // the task's name; its id when it has none
	// Window is a checkpoint's window in local time, "HH:MM–HH:MM" ("" for
	// a line, an area, or a checkpoint with no window left); WindowState
	// says where now is against it, When says it in words ("now", "in 25
	// min").
	Window, WindowState, When string
	Detail                    string // dwell; length and share to drive; minutes to be present
	// Where is the distance and direction from the latest fix to the
	// checkpoint, the route's start or the area's centre, so named; "no GPS
	// fix" without one (HasFix false).
	Where                 string
	HasFix                bool
	DistanceM, BearingDeg float64
}

// TasksShown says whether the page shows the tasks: only without an
// assignment, which takes the screen — an incident comes before a patrol
// task, and its buttons must stay by its card. A move-up does not hide
// them: the tasks come below its card.
func TasksShown(s State) bool { return s.Assignment == nil && len(s.Tasks) > 0 }

// TasksFor fills the task rows for s's tasks, in the hub's order, with
// windows shown in loc (the device's time zone: time.Local in the
// browser). The agent has left out the tasks whose shift has ended.
func TasksFor(lang Lang, s State, loc *time.Location) []TaskRow {
	rows := make([]TaskRow, 0, len(s.Tasks))
	for _, t := range s.Tasks {
		r := TaskRow{Plan: t.Plan, ID: t.ID, Kind: t.Kind, KindName: kindOfTask(lang, t.Kind), Name: t.Name}
		if r.Name == "" {
			r.Name = t.ID
		}
		f := figuresFor(lang, s, t.Lat, t.Lon, time.Time{})
		r.HasFix, r.DistanceM, r.BearingDeg = f.HasFix, f.DistanceM, f.BearingDeg
		where := T(lang, "card.nofix")
		if f.HasFix {
			where = f.Distance + " · " + f.Direction
		}
		r.Where = where
		switch t.Kind {
		case KindPoint:
			r.Window, r.WindowState, r.When = windowOf(lang, t, s.Now, loc)
			if t.DwellMin > 0 {
				r.Detail = Tf(lang, "task.dwell", minutes(t.DwellMin))
			} else {
				r.Detail = T(lang, "task.visit")
			}
		case KindLine:
			r.Detail = Tf(lang, "task.length", FormatDistance(lang, t.LengthM))
			if t.CoverShare > 0 {
				r.Detail += " · " + Tf(lang, "task.share", int(math.Round(t.CoverShare*100)))
			}
			if f.HasFix {
				r.Where = Tf(lang, "task.to_start", where)
			}
		case KindArea:
			if t.MinPresenceMin > 0 {
				r.Detail = Tf(lang, "task.presence", minutes(t.MinPresenceMin))
			} else {
				r.Detail = T(lang, "task.visit")
			}
			if f.HasFix {
				r.Where = Tf(lang, "task.to_centre", where)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// windowOf is a checkpoint's window in loc, and where now is against it.
func windowOf(lang Lang, t Task, now time.Time, loc *time.Location) (window, state, when string) {
	if t.To.IsZero() {
		return "", WindowNone, T(lang, "task.window.none")
	}
	window = t.From.In(loc).Format("15:04") + "–" + t.To.In(loc).Format("15:04")
	switch {
	case now.Before(t.From):
		return window, WindowNext, FormatIn(lang, t.From.Sub(now))
	case now.Before(t.To):
		return window, WindowOpen, T(lang, "task.window.open")
	}
	return window, WindowPassed, T(lang, "task.window.passed")
}

// FormatIn is how long until a window opens, rounded up to the minute like
// the ETA: "in 1 min" for 20 s gets the officer there early, not late.
func FormatIn(lang Lang, d time.Duration) string {
	m := max(int(math.Ceil(d.Minutes())), 1)
	if m < 60 {
		return Tf(lang, "task.in_min", m)
	}
	return Tf(lang, "task.in_h", m/60, m%60)
}

// minutes shows a plan's minutes as written, to a tenth: 10, or 7.5.
func minutes(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// kindOfTask names a task's kind; one the page does not know shows as itself.
func kindOfTask(lang Lang, kind string) string {
	if s, ok := messages[lang]["task.kind."+kind]; ok {
		return s
	}
	return kind
}
