package fleet

import (
	"testing"

	"kuaifan/testkit/leakcheck"
)

// Every agent, paho client and stepper a test starts must be gone when the
// tests end.
func TestMain(m *testing.M) { leakcheck.Main(m) }
