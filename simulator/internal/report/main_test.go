package report

import (
	"testing"

	"kuaifan/testkit/leakcheck"
)

// Nothing may be left running when the tests end: the coverage sampler.
func TestMain(m *testing.M) { leakcheck.Main(m) }
