// Package leakcheck fails a test binary that leaves goroutines behind: every
// test package of the hub, the agent and the dashboard uses Main as its
// TestMain. It wraps go.uber.org/goleak with the patience buntdb needs: a
// closed buntdb database stops its background goroutine only on that
// goroutine's next one-second tick.
package leakcheck

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// settle is how long goroutines get to finish after the tests: a little more
// than buntdb's tick, so only a database never closed counts as a leak.
const settle = 3 * time.Second

// Main runs the tests and then checks for leaked goroutines; use it as TestMain.
func Main(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		if err := Find(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "leakcheck: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Find polls goleak.Find until no goroutine is left over or the settle time is up.
func Find(opts ...goleak.Option) error {
	deadline := time.Now().Add(settle)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
