package officerui

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"kuaifan/protocol/api"
)

// Every string exists in both languages, with the same verbs.
func TestMessagesComplete(t *testing.T) {
	for _, l := range []Lang{ZH, EN} {
		for k := range messages[l.Other()] {
			if _, ok := messages[l][k]; !ok {
				t.Errorf("%s lacks %q", l, k)
			}
		}
		for k, v := range messages[l] {
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s %q is empty", l, k)
			}
			if verbs(v) != verbs(messages[l.Other()][k]) {
				t.Errorf("%q: verbs %q in %s, %q in %s", k, verbs(v), l, verbs(messages[l.Other()][k]), l.Other())
			}
		}
	}
}

var verbRE = regexp.MustCompile(`%[-+#0 ]*[0-9.]*[a-zA-Z%]`)

func verbs(s string) string { return strings.Join(verbRE.FindAllString(s, -1), " ") }

// Every key the code names literally is in the table, and so are the keys
// built from vocabularies: statuses, assignment states, action types,
// directions, decline reasons, the hub's incident kinds.
func TestMessagesUsed(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	keyRE := regexp.MustCompile(`\bTf?\((?:lang|p\.lang|l), "([a-z0-9_.]*[a-z0-9_])"`)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range keyRE.FindAllStringSubmatch(string(src), -1) {
			n++
			if _, ok := messages[EN][m[1]]; !ok {
				t.Errorf("%s: key %q not in the table", f, m[1])
			}
		}
	}
	if n < 25 {
		t.Errorf("found only %d keys: is the pattern stale?", n)
	}
	var built []string
	for _, s := range []string{"", "available", "enroute", "on_scene", "busy", "off_duty"} {
		built = append(built, "status."+s)
	}
	for _, s := range []string{StateDispatched, StateEnroute, StateOnScene} {
		built = append(built, "card.state."+s)
	}
	for _, s := range []string{"ack", "decline", "arrived", "cleared", "status", "sos"} {
		built = append(built, "act."+s)
	}
	for i := range 8 {
		built = append(built, "dir."+string(rune('0'+i)))
	}
	for _, r := range DeclineReasons {
		built = append(built, "reason."+r)
	}
	for _, k := range api.Kinds {
		built = append(built, "kind."+k)
	}
	for _, k := range built {
		if _, ok := messages[EN][k]; !ok {
			t.Errorf("built key %q not in the table", k)
		}
	}
}

func TestLangFor(t *testing.T) {
	for in, want := range map[string]Lang{"zh-CN": ZH, "zh": ZH, "ZH-tw": ZH, " zh-Hans ": ZH, "en-US": EN, "": EN, "fr": EN} {
		if got := LangFor(in); got != want {
			t.Errorf("LangFor(%q) = %s, want %s", in, got, want)
		}
	}
}
