package patrol

import (
	"fmt"
	"strings"
	"time"
)

// Clock is a time of day: minutes after midnight, 0 to 1439. As JSON it is
// "HH:MM"; "24:00" is read as midnight, "00:00".
type Clock int

// ParseClock reads "HH:MM", 00:00 to 24:00.
func ParseClock(s string) (Clock, error) {
	if len(s) != 5 || s[2] != ':' || !digits(s[:2]) || !digits(s[3:]) {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 24 || m > 59 || h == 24 && m > 0 {
		return 0, fmt.Errorf("%q is not a time of day from 00:00 to 24:00", s)
	}
	return Clock((h*60 + m) % 1440), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Valid reports whether c is 0 to 1439.
func (c Clock) Valid() bool { return c >= 0 && c < 1440 }

func (c Clock) String() string {
	if !c.Valid() {
		return fmt.Sprintf("Clock(%d)", int(c))
	}
	return fmt.Sprintf("%02d:%02d", c/60, c%60)
}

// MarshalText writes "HH:MM".
func (c Clock) MarshalText() ([]byte, error) {
	if !c.Valid() {
		return nil, fmt.Errorf("patrol: clock %d is not 0 to 1439 minutes", int(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText reads "HH:MM" (ParseClock).
func (c *Clock) UnmarshalText(b []byte) error {
	v, err := ParseClock(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Window is a span of clock time, "HH:MM-HH:MM". An End at or before Start
// is the next day's ("23:30-00:30" is an hour), and End equal to Start is
// 24 hours.
type Window struct {
	Start, End Clock
}

// ParseWindow reads "HH:MM-HH:MM".
func ParseWindow(s string) (Window, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Window{}, fmt.Errorf("%q is not HH:MM-HH:MM", s)
	}
	start, err := ParseClock(a)
	if err != nil {
		return Window{}, fmt.Errorf("%q: start %w", s, err)
	}
	end, err := ParseClock(b)
	if err != nil {
		return Window{}, fmt.Errorf("%q: end %w", s, err)
	}
	return Window{start, end}, nil
}

// Minutes is the window's length: 1 to 1440.
func (w Window) Minutes() int {
	if d := int(w.End-w.Start) % 1440; d > 0 {
		return d
	} else if d < 0 {
		return d + 1440
	}
	return 1440
}

// Within reports whether w lies within outer (a shift's span): it starts
// no earlier and ends no later, counting past midnight as outer does.
func (w Window) Within(outer Window) bool {
	offset := (int(w.Start-outer.Start)%1440 + 1440) % 1440
	return offset+w.Minutes() <= outer.Minutes()
}

func (w Window) String() string { return w.Start.String() + "-" + w.End.String() }

// MarshalText writes "HH:MM-HH:MM".
func (w Window) MarshalText() ([]byte, error) {
	if !w.Start.Valid() || !w.End.Valid() {
		return nil, fmt.Errorf("patrol: window %v is not two clock times", w)
	}
	return []byte(w.String()), nil
}

// UnmarshalText reads "HH:MM-HH:MM" (ParseWindow).
func (w *Window) UnmarshalText(b []byte) error {
	v, err := ParseWindow(string(b))
	if err != nil {
		return err
	}
	*w = v
	return nil
}

// on returns the window's times starting on the local date y-m-d in loc.
// time.Date places a clock time that a daylight saving change skips or
// repeats as its package says; kuaifan's zones have no such changes.
func (w Window) on(y int, m time.Month, d int, loc *time.Location) (from, to time.Time) {
	from = time.Date(y, m, d, 0, int(w.Start), 0, 0, loc)
	endDay := d
	if w.End <= w.Start {
		endDay++
	}
	return from, time.Date(y, m, endDay, 0, int(w.End), 0, 0, loc)
}
