package officerui

import (
	"regexp"
	"testing"

	"kuaifan/protocol/api"
)

// Every string exists in both languages, non-empty, with the same verbs
// (webapp.Catalog.Check).
func TestMessagesComplete(t *testing.T) {
	for _, err := range messages.Check() {
		t.Error(err)
	}
}

// Every key the code names literally is in the table, and so are the keys
// built from vocabularies: statuses, assignment states, action types,
// directions, decline reasons, the hub's incident kinds.
func TestMessagesUsed(t *testing.T) {
	keyRE := regexp.MustCompile(`\bTf?\((?:lang|p\.lang|l), "([a-z0-9_.]*[a-z0-9_])"`)
	n, errs := messages.CheckSources(".", keyRE)
	for _, err := range errs {
		t.Error(err)
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
	for _, k := range []string{KindPoint, KindLine, KindArea} {
		built = append(built, "task.kind."+k)
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
