package bearer

import (
	"fmt"
	"testing"
)

func TestToken(t *testing.T) {
	cases := []struct {
		header string
		token  string
		ok     bool
	}{
		{"Bearer t", "t", true},
		{"bearer t", "t", true},
		{"BEARER t", "t", true},
		{"bEArer t", "t", true},
		{"Bearer  t", "t", true},  // RFC 7235: 1*SP after the scheme
		{"Bearer   t", "t", true}, // likewise
		{"Bearer abc.DEF-_~+/=", "abc.DEF-_~+/=", true},
		{"Bearer t u", "t u", true}, // not a token68, but no token of ours has a space: it fails the comparison
		{"Basic dDp0", "", false},
		{"Basic t", "", false},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer   ", "", false},
		{"Bearert", "", false},
		{"Bearer\tt", "", false}, // the separator is SP only
		{" Bearer t", "", false}, // net/http trims the value; anything else left is not the scheme
		{"Bearerx t", "", false},
		{"t", "", false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q", tc.header), func(t *testing.T) {
			token, ok := Token(tc.header)
			if token != tc.token || ok != tc.ok {
				t.Errorf("Token(%q) = %q, %v; want %q, %v", tc.header, token, ok, tc.token, tc.ok)
			}
		})
	}
}
