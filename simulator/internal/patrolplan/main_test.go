package patrolplan

import (
	"testing"

	"kuaifan/testkit/leakcheck"
)

// Nothing may be left running when the tests end.
func TestMain(m *testing.M) { leakcheck.Main(m) }
