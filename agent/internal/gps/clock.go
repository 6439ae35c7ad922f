package gps

import (
	"time"
)

// clock is the time a source waits by: the real one, or a test's.
type clock interface {
	Now() time.Time
	// Sleep waits d, or until done is closed; it reports whether it slept
	// the whole d.
	Sleep(d time.Duration, done <-chan struct{}) bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// maxPaceGap is the longest pause a paced replay reproduces. A receiver in a
// tunnel still sends its no-fix epochs every second, so a longer silence in a
// log is a cut in the recording, not something to wait out.
const maxPaceGap = time.Minute

// pacer releases epochs at the rate they were recorded.
type pacer struct {
	clk     clock
	done    <-chan struct{}
	started bool
	prevTod time.Duration
	sched   time.Time // when the previous epoch was released
}

// epoch waits until the epoch at tod is due.
func (p *pacer) epoch(tod time.Duration) {
	now := p.clk.Now()
	if !p.started {
		p.started, p.prevTod, p.sched = true, tod, now
		return
	}
	gap := tod - p.prevTod
	if gap < -12*time.Hour {
		gap += 24 * time.Hour // the recording crossed midnight
	}
	p.prevTod = tod
	if gap <= 0 || gap > maxPaceGap {
		p.sched = now
		return
	}
	next := p.sched.Add(gap)
	if next.Before(now.Add(-time.Second)) {
		next = now // we fell behind (a slow reader): carry on, don't burst to catch up
	}
	p.sched = next
	if d := next.Sub(now); d > 0 {
		p.clk.Sleep(d, p.done)
	}
}
