package hubapi

import (
	"testing"

	"kuaifan/testkit/leakcheck"
)

// Nothing may be left running when the tests end: no idle connection of a
// client, no fake hub.
func TestMain(m *testing.M) { leakcheck.Main(m) }
