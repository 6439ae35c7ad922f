package clip

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	long := strings.Repeat("a", 100_000)
	cases := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"short", "car-1", "car-1"},
		{"exactly Max", strings.Repeat("a", Max), strings.Repeat("a", Max)},
		{"one over", strings.Repeat("a", Max+1), strings.Repeat("a", Max) + "…"},
		{"100 KB", long, strings.Repeat("a", Max) + "…"},
		// 長 is 3 bytes: 21 of them are 63 bytes, and the 22nd would cross Max.
		{"no rune is split", strings.Repeat("長", 30), strings.Repeat("長", 21) + "…"},
		{"cut after a whole rune", "a" + strings.Repeat("長", 30), "a" + strings.Repeat("長", 21) + "…"},
		{"cut before a rune", "aa" + strings.Repeat("長", 30), "aa" + strings.Repeat("長", 20) + "…"},
		{"emoji", strings.Repeat("🚓", 20), strings.Repeat("🚓", 16) + "…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := String(tc.in)
			if got != tc.want {
				t.Errorf("String(%.80q) = %q, want %q", tc.in, got, tc.want)
			}
			if utf8.ValidString(tc.in) && !utf8.ValidString(got) {
				t.Errorf("String(%.80q) = %q is not valid UTF-8", tc.in, got)
			}
		})
	}
}

// Bytes that are not UTF-8 are still cut near Max, not scanned back to the start.
func TestStringInvalidUTF8(t *testing.T) {
	in := strings.Repeat("\x80", 1000)
	got := String(in)
	if len(got) < Max-utf8.UTFMax || len(got) > Max+len("…") {
		t.Errorf("String(1000 × 0x80) is %d bytes", len(got))
	}
}

func TestQuote(t *testing.T) {
	cases := []struct{ in, want string }{
		{"car-1", `"car-1"`},
		{"a\"b\n", `"a\"b\n"`},
		{strings.Repeat("x", 1000), `"` + strings.Repeat("x", Max) + `…"`},
	}
	for _, tc := range cases {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%.80q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	// The worst case stays bounded: every byte escaped.
	if got := Quote(strings.Repeat("\x00", 100_000)); len(got) > 4*Max+len(`"…"`) {
		t.Errorf("Quote of 100 KB of NULs is %d bytes", len(got))
	}
}

func TestTo(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 4, "hell…"},
		{"hello", 0, "…"},
		{"長長", 4, "長…"},
	}
	for _, tc := range cases {
		if got := To(tc.in, tc.n); got != tc.want {
			t.Errorf("To(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestQuotes(t *testing.T) {
	long := strings.Repeat("x", 1000)
	clipped := `"` + strings.Repeat("x", Max) + `…"`
	cases := []struct{ name, in, want string }{
		{"none", "no unit here", "no unit here"},
		{"short quote kept", `no incident "inc-1"`, `no incident "inc-1"`},
		{"long quote clipped", `no incident ` + strconv.Quote(long) + ` here`, `no incident ` + clipped + ` here`},
		{"two", strconv.Quote(long) + " and " + strconv.Quote(long), clipped + " and " + clipped},
		{"escaped quotes inside", `need ` + strconv.Quote(strings.Repeat(`"`, 100)) + ` is bad`,
			`need ` + strconv.Quote(strings.Repeat(`"`, Max)+"…") + ` is bad`},
		{"unterminated", `bad "` + long, `bad "` + long},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Quotes(tc.in); got != tc.want {
				t.Errorf("Quotes(%.80q) = %.200q, want %.200q", tc.in, got, tc.want)
			}
		})
	}
}

// An unterminated quoted string full of escaped quotes does not make Quotes
// scan the rest of the message again from each of them.
func TestQuotesStrayQuotes(t *testing.T) {
	in := `"` + strings.Repeat(`\"`, 50_000)
	start := time.Now()
	if got := Quotes(in); got != in {
		t.Errorf("Quotes changed a message without quoted strings")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Quotes took %v over 100 KB of stray quotes", d)
	}
}

func TestToIsValidUTF8(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"u1", "u1"},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{strings.Repeat("a", 65), strings.Repeat("a", 64) + "…"},
		{strings.Repeat("é", 40), strings.Repeat("é", 32) + "…"},       // never half a character
		{strings.Repeat("a", 63) + "é", strings.Repeat("a", 63) + "…"}, // 65 bytes
		{"a\xffb", "a\uFFFDb"},
		{strings.Repeat("\xff", 100), strings.Repeat("\uFFFD", 21) + "…"},
	} {
		got := To(tc.in, 64)
		if got != tc.want {
			t.Errorf("To(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !utf8.ValidString(got) || len(got) > 64+len("…") {
			t.Errorf("To(%q) = %q: invalid or too long", tc.in, got)
		}
	}
}
