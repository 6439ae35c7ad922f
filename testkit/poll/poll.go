// Package poll waits in tests for something that happens asynchronously:
// a message confirmed, a unit online, a metric moved.
package poll

import (
	"testing"
	"time"
)

// Until calls check every 10 ms until it returns nil, and fails the test
// with check's last error once total has passed.
func Until(t testing.TB, total time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", total, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
