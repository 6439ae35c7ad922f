package patrol

import (
	"time"

	"kuaifan/protocol"
)

// Current is a task a unit has now, as the officer's terminal shows it.
type Current struct {
	Task       Task   `json:"task"`
	Shift      string `json:"shift"`       // the shift it is for, running now
	ShiftStart int64  `json:"shift_start"` // Unix ms
	ShiftEnd   int64  `json:"shift_end"`   // Unix ms
	// Window is a point's window to hold the checkpoint in: the one open
	// now, else the next of this shift; the whole shift for a point
	// without windows. It is absent for a point whose windows of this
	// shift are over, and for lines and areas (the whole shift is theirs).
	Window *Span `json:"window,omitempty"`
}

// Span is a time span [From, To), Unix ms.
type Span struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// CurrentTasks returns the unit's tasks in the shifts running at now: one
// Current per task and running shift it applies in, in the plan's order
// of tasks (then of shifts). A unit is given by its id and type; an empty
// type matches tasks by id only. Shifts that overlap (a plan may have
// them) can give a task twice, once per shift. None is an empty list.
func (p *Plan) CurrentTasks(unitID string, unitType protocol.UnitType, now time.Time) ([]Current, error) {
	loc, err := p.Location()
	if err != nil {
		return nil, err
	}
	type running struct {
		shift      Shift
		start, end time.Time
	}
	var shifts []running
	local := now.In(loc)
	for _, s := range p.Shifts {
		// The shift started today or, crossing midnight or lasting a day,
		// yesterday; the later start wins should both run (a 24-hour
		// shift on a daylight saving change).
		for _, back := range []int{0, 1} {
			y, m, d := local.AddDate(0, 0, -back).Date()
			start, end := s.Span().on(y, m, d, loc)
			if !now.Before(start) && now.Before(end) {
				shifts = append(shifts, running{s, start, end})
				break
			}
		}
	}
	out := []Current{} // a list on the wire, never null
	for i := range p.Tasks {
		t := &p.Tasks[i]
		if !t.AssignedTo(unitID, unitType) {
			continue
		}
		for _, r := range shifts {
			if !t.InShift(r.shift.ID) {
				continue
			}
			c := Current{Task: *t, Shift: r.shift.ID, ShiftStart: r.start.UnixMilli(), ShiftEnd: r.end.UnixMilli()}
			if t.Kind == KindPoint {
				c.Window = nextWindow(t, r.shift, r.start, r.end, now)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// nextWindow is the point's window open at now or the first to open
// after it, in the shift from start to end; nil when all are over.
func nextWindow(t *Task, s Shift, start, end, now time.Time) *Span {
	if len(t.Windows) == 0 {
		return &Span{start.UnixMilli(), end.UnixMilli()}
	}
	var best *Span
	for _, w := range t.Windows {
		from, to := s.WindowBounds(w, start)
		if !to.After(now) {
			continue
		}
		if best == nil || from.UnixMilli() < best.From {
			best = &Span{from.UnixMilli(), to.UnixMilli()}
		}
	}
	return best
}
