package dispatch

import "testing"

func TestCarriesMoveUps(t *testing.T) {
	for _, tc := range []struct {
		agent string
		want  bool
	}{
		{"", true},                      // none named since the hub started
		{"hubtest", true},               // another client
		{"kuaifan-agent/1.0", false},    // drops reposition at decoding
		{"kuaifan-agent/0.9", false},    //
		{"kuaifan-agent/1.1", true},     // the first that carries them out
		{"kuaifan-agent/1.12", true},    //
		{"kuaifan-agent/2.0", true},     //
		{"kuaifan-agent/1.1-dev", true}, //
		{"kuaifan-agent/devel", true},   // a development build's own string
	} {
		if got := carriesMoveUps(tc.agent); got != tc.want {
			t.Errorf("carriesMoveUps(%q) = %v, want %v", tc.agent, got, tc.want)
		}
	}
}
