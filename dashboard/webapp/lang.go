package webapp

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Lang is a language a page speaks.
type Lang string

// The pages' languages: Simplified Chinese (the dispatchers and officers
// they are built for) and English.
const (
	ZH Lang = "zh"
	EN Lang = "en"
)

// Langs are the languages every catalog must cover.
var Langs = []Lang{ZH, EN}

// LangFor picks the language for a browser's navigator.language: Chinese for
// any "zh…" tag, English otherwise.
func LangFor(navigatorLanguage string) Lang {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(navigatorLanguage)), "zh") {
		return ZH
	}
	return EN
}

// Other is the language the switch offers.
func (l Lang) Other() Lang {
	if l == ZH {
		return EN
	}
	return ZH
}

// Catalog is every string a page shows: a table of keys per language.
type Catalog map[Lang]map[string]string

// T looks a key up in lang's table, falling back to English, then to the
// key itself (so a missing string shows, rather than an empty label).
func (c Catalog) T(lang Lang, key string) string {
	if s, ok := c[lang][key]; ok {
		return s
	}
	if s, ok := c[EN][key]; ok {
		return s
	}
	return key
}

// Tf is T with fmt verbs.
func (c Catalog) Tf(lang Lang, key string, args ...any) string {
	return fmt.Sprintf(c.T(lang, key), args...)
}

// Check is what the pages' tests demand of their catalog: every key in
// every language, none empty, and the same fmt verbs in both (a %d in one
// and %s in the other would print garbage). It returns one error a fault.
func (c Catalog) Check() []error {
	var errs []error
	for _, l := range Langs {
		for k := range c[l.Other()] {
			if _, ok := c[l][k]; !ok {
				errs = append(errs, fmt.Errorf("%s lacks %q", l, k))
			}
		}
		for k, v := range c[l] {
			if strings.TrimSpace(v) == "" {
				errs = append(errs, fmt.Errorf("%s %q is empty", l, k))
			}
			if verbs(v) != verbs(c[l.Other()][k]) {
				errs = append(errs, fmt.Errorf("%q: verbs %q in %s, %q in %s", k, verbs(v), l, verbs(c[l.Other()][k]), l.Other()))
			}
		}
	}
	return errs
}

// CheckSources is what the pages' tests demand of the code in dir: every
// key a non-test .go file names literally — key's first group, a T or Tf
// call the package spells its own way — is in the English table. It
// returns how many keys it found (so a stale pattern shows) and one error a
// fault.
func (c Catalog) CheckSources(dir string, key *regexp.Regexp) (int, []error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	n := 0
	var errs []error
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return n, append(errs, err)
		}
		for _, m := range key.FindAllStringSubmatch(string(src), -1) {
			n++
			if _, ok := c[EN][m[1]]; !ok {
				errs = append(errs, fmt.Errorf("%s: key %q not in the table", f, m[1]))
			}
		}
	}
	return n, errs
}

var verbRE = regexp.MustCompile(`%[-+#0 ]*[0-9.]*[a-zA-Z%]`)

func verbs(s string) string { return strings.Join(verbRE.FindAllString(s, -1), " ") }
