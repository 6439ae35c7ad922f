// Package clip shortens what a client sent before a message quotes it back:
// an error about a 100 KB unit id must name the id, not return all of it
// (nor put it all in a log line).
package clip

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Max is how many bytes of the client's input a message keeps.
const Max = 64

// String returns s, or its first Max bytes and "…" if it is longer.
func String(s string) string { return To(s, Max) }

// Quote is strconv.Quote(String(s)): for a message that shows the input in
// quotes, with whatever it holds escaped.
func Quote(s string) string { return strconv.Quote(String(s)) }

// To returns s, or its first n bytes and "…" if it is longer, as valid UTF-8:
// a character is never cut in two, and a byte that is not UTF-8 becomes
// U+FFFD (a log line or a JSON error then shows what came, not mojibake).
func To(s string, n int) string {
	if len(s) <= n && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s { // a byte that is not UTF-8 comes as utf8.RuneError
		if b.Len()+utf8.RuneLen(r) > n {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// maxQuoteTries bounds the quotation marks Quotes tries to read a quoted
// string from and cannot: each try may read to the end of msg.
const maxQuoteTries = 8

// Quotes clips every Go-quoted string in msg (as %q and strconv.Quote write
// them) to Max bytes of its content, and leaves the rest of msg as it is:
// for messages from code that quotes a client's input in full.
func Quotes(msg string) string {
	var b strings.Builder
	rest := msg
	for fails := 0; fails < maxQuoteTries; {
		i := strings.IndexByte(rest, '"')
		if i < 0 {
			break
		}
		q, err := strconv.QuotedPrefix(rest[i:])
		if err != nil {
			fails++
			b.WriteString(rest[:i+1])
			rest = rest[i+1:]
			continue
		}
		b.WriteString(rest[:i])
		if s, _ := strconv.Unquote(q); len(s) > Max {
			b.WriteString(Quote(s))
		} else {
			b.WriteString(q)
		}
		rest = rest[i+len(q):]
	}
	b.WriteString(rest)
	return b.String()
}
