package ui

import (
	"strconv"
	"strings"

	"kuaifan/protocol/api"
)

// EntryText is a timeline step's explanation in lang, from the reason and
// figures the hub recorded (api.Entry.Reason, Params); an entry without a
// reason (an older hub) shows its English detail. name turns a unit id into
// what a person reads (its callsign), camera a camera's id (its name; nil:
// the id).
func EntryText(lang Lang, e Entry, name, camera func(string) string) string {
	if e.Reason == "" {
		return e.Detail
	}
	p := e.Params
	if p == nil {
		p = &api.Params{}
	}
	tmpl, ok := whyText(lang, e.Reason, p)
	if !ok {
		return e.Detail // a reason this dashboard does not know yet
	}
	secs := func(v *float64) string {
		if v == nil {
			return T(lang, "bar.none")
		}
		return FormatSeconds(lang, *v)
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		j := strings.IndexByte(tmpl[i+1:], '}')
		if i < 0 || j < 0 {
			b.WriteString(tmpl)
			break
		}
		b.WriteString(tmpl[:i])
		key := tmpl[i+1 : i+1+j]
		tmpl = tmpl[i+j+2:]
		switch key {
		case "unit":
			b.WriteString(name(e.Unit))
		case "other":
			b.WriteString(name(p.Other))
		case "tier":
			b.WriteString(lookup(lang, "tier.in.", strconv.Itoa(p.Tier)))
		case "eta":
			b.WriteString(secs(p.ETAS))
		case "fix":
			b.WriteString(secs(p.FixAgeS))
		case "best":
			b.WriteString(secs(p.BestETAS))
		case "timeout":
			b.WriteString(secs(p.TimeoutS))
		case "state":
			b.WriteString(lookup(lang, "asg.", p.State))
		case "source":
			if p.Source == "" {
				b.WriteString(T(lang, "src.unknown"))
			} else {
				b.WriteString(lookup(lang, "src.", p.Source))
			}
		case "place":
			if p.Lat != nil && p.Lon != nil {
				b.WriteString(strconv.FormatFloat(*p.Lat, 'f', 5, 64) + ", " + strconv.FormatFloat(*p.Lon, 'f', 5, 64))
			}
		case "note":
			b.WriteString(p.Note)
		case "camera":
			if camera != nil {
				b.WriteString(camera(p.Camera))
			} else {
				b.WriteString(p.Camera)
			}
		case "kind":
			b.WriteString(KindName(lang, p.Kind))
		case "priority":
			b.WriteString(Tf(lang, "inc.p", p.Priority))
		case "ranked":
			parts := make([]string, 0, len(p.Ranked))
			for _, r := range p.Ranked {
				s := name(r.Unit) + " " + FormatSeconds(lang, r.ETAS)
				if r.Stale {
					s += " (" + T(lang, "inc.rec.stale") + ")"
				}
				parts = append(parts, s)
			}
			b.WriteString(strings.Join(parts, T(lang, "list.sep")))
		default:
			b.WriteString("{" + key + "}")
		}
	}
	return strings.TrimSpace(b.String())
}

// whyPlaceholders are the names a "why.*" text may use.
var whyPlaceholders = []string{"unit", "other", "tier", "eta", "fix", "best", "timeout", "state", "source",
	"place", "note", "camera", "kind", "priority", "ranked"}

// whyText picks the text of a reason: a variant for what the params say
// ("why.X.none" without another unit, ".stale" with a stale position's age,
// ".note" with a person's note, ".camera" with a camera of the set,
// ".camera.note" with both, ".sos" for the hub's sighting of an officer
// calling for help) where the table has one, else "why.X".
func whyText(lang Lang, reason string, p *api.Params) (string, bool) {
	var keys []string
	if p.Source == "sos" {
		// The hub's own sighting of an officer in trouble (the officer's
		// position, or another press of SOS): "seen by" would misread it.
		keys = append(keys, "why."+reason+".sos")
	}
	if p.Camera != "" && p.Note != "" {
		keys = append(keys, "why."+reason+".camera.note")
	}
	if p.Camera != "" {
		keys = append(keys, "why."+reason+".camera")
	}
	if p.Other == "" {
		keys = append(keys, "why."+reason+".none")
	}
	if p.FixAgeS != nil {
		keys = append(keys, "why."+reason+".stale")
	}
	if p.Note != "" {
		keys = append(keys, "why."+reason+".note")
	}
	keys = append(keys, "why."+reason)
	for _, k := range keys {
		if s, ok := messages[lang][k]; ok {
			return s, true
		}
		if s, ok := messages[EN][k]; ok {
			return s, true
		}
	}
	return "", false
}
