package backoff

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for i, w := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		w *= time.Millisecond
		if d := b.Next(); d < w/2 || d > w {
			t.Errorf("wait %d = %v, want in [%v, %v]", i, d, w/2, w)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Errorf("after Reset: %v", d)
	}
	seen := map[time.Duration]bool{}
	for range 50 {
		b.Reset()
		seen[b.Next()/time.Millisecond] = true
	}
	if len(seen) < 10 {
		t.Errorf("50 first waits took only %d values: no jitter", len(seen))
	}
}
