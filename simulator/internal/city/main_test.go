package city

import (
	"testing"

	"kuaifan/testkit/leakcheck"
)

// Nothing may be left running when the tests end (TestHubDistrictsAreChangsha
// starts a real hub).
func TestMain(m *testing.M) { leakcheck.Main(m) }
