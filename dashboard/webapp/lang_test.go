package webapp

import (
	"strings"
	"testing"
)

func TestLangFor(t *testing.T) {
	for nav, want := range map[string]Lang{"zh-CN": ZH, "zh": ZH, "ZH-tw": ZH, " zh-Hans-CN": ZH, "en-US": EN, "": EN, "de": EN, "z": EN} {
		if got := LangFor(nav); got != want {
			t.Errorf("LangFor(%q) = %s, want %s", nav, got, want)
		}
	}
	if ZH.Other() != EN || EN.Other() != ZH {
		t.Error("Other")
	}
}

func TestCatalogLookup(t *testing.T) {
	c := Catalog{
		EN: {"a": "A", "only.en": "E", "n": "%d left"},
		ZH: {"a": "甲", "n": "剩 %d"},
	}
	for _, tc := range []struct {
		lang      Lang
		key, want string
	}{
		{ZH, "a", "甲"},
		{EN, "a", "A"},
		{ZH, "only.en", "E"},       // falls back to English
		{ZH, "no.such", "no.such"}, // then to the key
	} {
		if got := c.T(tc.lang, tc.key); got != tc.want {
			t.Errorf("T(%s, %q) = %q, want %q", tc.lang, tc.key, got, tc.want)
		}
	}
	if got := c.Tf(ZH, "n", 3); got != "剩 3" {
		t.Errorf("Tf %q", got)
	}
}

// Check finds each kind of fault, and none in a sound catalog.
func TestCatalogCheck(t *testing.T) {
	if errs := (Catalog{EN: {"a": "%d m"}, ZH: {"a": "%d 米"}}).Check(); len(errs) != 0 {
		t.Errorf("sound catalog: %v", errs)
	}
	bad := Catalog{
		EN: {"missing": "x", "empty": " ", "verbs": "%d m"},
		ZH: {"empty": "空", "verbs": "%s 米"},
	}
	var all []string
	for _, err := range bad.Check() {
		all = append(all, err.Error())
	}
	got := strings.Join(all, "\n")
	for _, want := range []string{`zh lacks "missing"`, `en "empty" is empty`, `"verbs": verbs "%d" in en, "%s" in zh`} {
		if !strings.Contains(got, want) {
			t.Errorf("Check lacks %q in:\n%s", want, got)
		}
	}
}
