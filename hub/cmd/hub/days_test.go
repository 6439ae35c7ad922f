package main

import (
	"testing"
	"time"
)

func TestDaysFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"2160h", 90 * 24 * time.Hour, true},
		{"36h", 36 * time.Hour, true},
		{"0d", 0, false},
		{"-3d", 0, false},
		{"1.5d", 0, false},
		{"d", 0, false},
		{"0s", 0, false},
		{"-1h", 0, false},
		{"ninety", 0, false},
	} {
		var d days
		err := d.Set(tc.in)
		if (err == nil) != tc.ok || tc.ok && time.Duration(d) != tc.want {
			t.Errorf("Set(%q) = %v, %v; want %v (ok %v)", tc.in, time.Duration(d), err, tc.want, tc.ok)
		}
	}
	d := days(90 * 24 * time.Hour)
	if d.String() != "90d" {
		t.Errorf("String() = %q", d.String())
	}
}
