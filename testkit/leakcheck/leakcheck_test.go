package leakcheck

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { Main(m) }

// Find waits out a goroutine that ends within the settle time (a closed
// buntdb's last tick) and reports one that never ends.
func TestFind(t *testing.T) {
	for _, c := range []struct {
		name  string
		lives time.Duration // how long the goroutine runs; 0: until the check is over
		leak  bool
	}{
		{"none", -1, false},
		{"ends within the settle time", settle / 3, false},
		{"never ends", 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			release := make(chan struct{})
			ended := make(chan struct{})
			if c.lives < 0 {
				close(ended)
			} else {
				go func() {
					defer close(ended)
					if c.lives > 0 {
						time.Sleep(c.lives)
						return
					}
					<-release
				}()
			}
			start := time.Now()
			err := Find(ignore)
			close(release)
			<-ended
			if (err != nil) != c.leak {
				t.Errorf("Find after %v: %v; want a leak: %v", time.Since(start).Round(time.Millisecond), err, c.leak)
			}
			if c.leak && time.Since(start) < settle {
				t.Errorf("a leak reported after %v, before the settle time %v", time.Since(start), settle)
			}
		})
	}
}
