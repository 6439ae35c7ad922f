package simulator

import (
	"testing"

	"kuaifan/testkit/leakcheck"
)

// Every goroutine a run starts — the agents, their paho clients, the
// steppers, the call-taker, the dispatcher — must be gone when the tests end.
func TestMain(m *testing.M) { leakcheck.Main(m) }
