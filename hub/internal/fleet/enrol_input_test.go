package fleet

import (
	"errors"
	"strings"
	"testing"

	"kuaifan/protocol"
)

// A refused enrolment names what was wrong without quoting all of it.
func TestEnrolErrorsClipTheInput(t *testing.T) {
	f := open(t, t.TempDir())
	huge := strings.Repeat("x", 100_000)
	for _, tc := range []struct {
		name string
		e    Enrolment
		says string
	}{
		{"id", Enrolment{ID: huge, Type: protocol.TypeCar}, "id"},
		{"type", Enrolment{ID: "car-1", Type: protocol.UnitType(huge)}, "type"},
		{"capability", Enrolment{ID: "car-1", Type: protocol.TypeCar, Capabilities: []string{huge}}, "capability"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.Enrol(tc.e, now)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Enrol: %.200v, want ErrInvalid about the %s", err, tc.says)
			}
			if n := len(err.Error()); n > 200 {
				t.Errorf("error of %d bytes: %.120q…", n, err.Error())
			}
		})
	}
}
