package simulator

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine Run starts, and every paho client it makes, must be gone
// when the tests end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
