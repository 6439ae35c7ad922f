// Package backoff spaces out retries — reconnecting to a broker, to gpsd, to
// a serial receiver shaken loose: waits double from Min to Max, and each is
// jittered into [d/2, d] so that a fleet of devices that lost the same server
// does not come back in lockstep.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff is not safe for concurrent use; each retry loop owns one.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns how long to wait before the next attempt.
func (b *Backoff) Next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = b.Min
	case b.cur < b.Max:
		b.cur = min(2*b.cur, b.Max)
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}

// Reset starts again from Min, after an attempt that worked.
func (b *Backoff) Reset() { b.cur = 0 }
