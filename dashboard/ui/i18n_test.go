package ui

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

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
// built from the hub's vocabularies.
func TestMessagesUsed(t *testing.T) {
	keyRE := regexp.MustCompile(`\bTf?\((?:lang|m\.Lang|ct\.C\.Lang|d\.ctl\.C\.Lang|s\.Ctl\.C\.Lang|c\.Lang|l), "([a-z0-9_.]*[a-z0-9_])"`)
	n, errs := messages.CheckSources(".", keyRE)
	for _, err := range errs {
		t.Error(err)
	}
	if n < 50 {
		t.Errorf("found only %d keys: is the pattern stale?", n)
	}
	built := []string{}
	for _, s := range []string{"available", "enroute", "on_scene", "busy", "off_duty", "offline", "stale"} {
		built = append(built, "status."+s)
	}
	for _, s := range []string{"car", "motorcycle", "foot", "volunteer"} {
		built = append(built, "type."+s)
	}
	for _, s := range []string{api.IncidentOpen, api.IncidentDispatched, api.IncidentOnScene, api.IncidentClosed} {
		built = append(built, "inc.status."+s)
	}
	for _, s := range []string{api.AssignDispatched, api.AssignEnroute, api.AssignOnScene, api.AssignCleared, api.AssignDeclined, api.AssignTimeout, api.AssignCancelled} {
		built = append(built, "asg."+s)
	}
	for _, s := range api.EntryTypes {
		built = append(built, "ev."+s)
	}
	for _, reasons := range api.Reasons {
		for _, r := range reasons {
			built = append(built, "why."+r)
		}
	}
	for _, s := range []string{SortID, SortStatus, SortDistance} {
		built = append(built, "units.sort."+s)
	}
	for _, s := range []string{TabIncidents, TabMap, TabUnits} {
		built = append(built, "tab."+s)
	}
	for _, s := range []string{"dispatcher", "auto", "system"} {
		built = append(built, "actor."+s)
	}
	for _, r := range api.Roles {
		built = append(built, "role."+r)
	}
	for _, k := range api.Kinds {
		built = append(built, "kind."+k)
	}
	built = append(built, "tier.1", "tier.2", "tier.3", "tier.4", "tier.in.1", "tier.in.2", "tier.in.3", "tier.in.4", "inc.fig.dispatch", "inc.fig.ack", "inc.fig.arrival", "inc.fig.close")
	for _, k := range built {
		if _, ok := messages[EN][k]; !ok {
			t.Errorf("key %q not in the table", k)
		}
	}
}

func TestLookupFallbacks(t *testing.T) {
	if got := T(ZH, "inc.dispatch"); got != "派警" {
		t.Errorf("T zh %q", got)
	}
	if got := T(ZH, "no.such.key"); got != "no.such.key" {
		t.Errorf("missing key shows as %q", got)
	}
	if got := lookup(ZH, "ev.", "teleported"); got != "teleported" {
		t.Errorf("an unknown hub word shows as %q", got)
	}
	if got := KindName(ZH, "robbery"); got != "抢劫" {
		t.Errorf("kind %q", got)
	}
	if got := KindName(ZH, "cat_in_tree"); got != "cat_in_tree" {
		t.Errorf("unknown kind %q", got)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		lang Lang
		d    time.Duration
		want string
	}{
		{EN, -time.Second, "0 s"},
		{EN, 5 * time.Second, "5 s"},
		{EN, 200 * time.Second, "3 min 20 s"},
		{EN, 25 * time.Minute, "25 min"},
		{EN, 125 * time.Minute, "2 h 05 min"},
		{ZH, 5 * time.Second, "5秒"},
		{ZH, 200 * time.Second, "3分20秒"},
		{ZH, 125 * time.Minute, "2小时05分"},
	} {
		if got := FormatAge(tc.lang, tc.d); got != tc.want {
			t.Errorf("FormatAge(%s, %v) = %q, want %q", tc.lang, tc.d, got, tc.want)
		}
	}
	if got := FormatSeconds(EN, 4.24); got != "4.2 s" {
		t.Errorf("FormatSeconds %q", got)
	}
	if got := FormatSeconds(EN, 88.4); got != "1 min 28 s" {
		t.Errorf("FormatSeconds %q", got)
	}
	if got := FormatDistance(EN, 524.4); got != "524 m" {
		t.Errorf("FormatDistance %q", got)
	}
	if got := FormatDistance(ZH, 1778.6); got != "1.8公里" {
		t.Errorf("FormatDistance %q", got)
	}
	loc := time.FixedZone("CST", 8*3600)
	if got := FormatClock(time.Date(2026, 1, 1, 9, 5, 7, 0, loc).UnixMilli(), loc); got != "09:05:07" {
		t.Errorf("FormatClock %q", got)
	}
}

func TestLinkText(t *testing.T) {
	since := time.Date(2026, 1, 1, 14, 3, 7, 0, time.Local)
	for _, tc := range []struct {
		l    Link
		age  time.Duration
		have bool
		want string
	}{
		{Link{State: LinkConnected}, 2 * time.Second, true, "live · data 2 s old"},
		{Link{State: LinkReconnecting, Since: since}, 45 * time.Second, true, "reconnecting since 14:03:07 · data 45 s old"},
		{Link{State: LinkConnecting}, 0, false, "connecting… · no data yet"},
		{Link{State: LinkOffline}, 0, false, "signed out"},
	} {
		if got := LinkText(EN, tc.l, tc.age, tc.have); got != tc.want {
			t.Errorf("LinkText = %q, want %q", got, tc.want)
		}
	}
}

// A reason's text uses only the placeholders EntryText fills, the same ones
// in both languages.
func TestWhyPlaceholders(t *testing.T) {
	ph := regexp.MustCompile(`\{([a-z_]+)\}`)
	names := func(s string) []string {
		var out []string
		for _, m := range ph.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return out
	}
	n := 0
	for k, v := range messages[EN] {
		if !strings.HasPrefix(k, "why.") {
			continue
		}
		n++
		for _, p := range names(v) {
			if !slices.Contains(whyPlaceholders, p) {
				t.Errorf("%s: {%s} is not a placeholder EntryText fills", k, p)
			}
		}
		if a, b := names(v), names(messages[ZH][k]); !slices.Equal(a, b) {
			t.Errorf("%s: placeholders %v in English, %v in Chinese", k, a, b)
		}
	}
	if n < 20 {
		t.Errorf("only %d reasons", n)
	}
}
