package ui

import (
	"regexp"
	"strconv"
	"strings"
)

// elem is an HTML start tag as the tests see it. go-app writes attributes
// in map order, so tests look them up rather than match text.
type elem struct {
	tag   string
	attrs map[string]string
}

var (
	tagRE  = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s=>]+(?:="(?:[^"\\]|\\.)*")?)*)\s*/?>`)
	attrRE = regexp.MustCompile(`([^\s=>]+)(?:=("(?:[^"\\]|\\.)*"))?`)
)

func parseElems(html string) []elem {
	var out []elem
	for _, m := range tagRE.FindAllStringSubmatch(html, -1) {
		e := elem{tag: strings.ToLower(m[1]), attrs: map[string]string{}}
		for _, a := range attrRE.FindAllStringSubmatch(m[2], -1) {
			v := "true"
			if a[2] != "" {
				if u, err := strconv.Unquote(a[2]); err == nil {
					v = u
				} else {
					v = strings.Trim(a[2], `"`)
				}
			}
			e.attrs[a[1]] = v
		}
		out = append(out, e)
	}
	return out
}

// has reports whether e has every class in cls.
func (e elem) has(cls ...string) bool {
	have := strings.Fields(e.attrs["class"])
	for _, c := range cls {
		found := false
		for _, h := range have {
			if h == c {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// find returns the elements with a tag ("" any) and matching attributes
// ("class" is matched as a set of classes).
func find(es []elem, tag string, attrs map[string]string) []elem {
	var out []elem
next:
	for _, e := range es {
		if tag != "" && e.tag != tag {
			continue
		}
		for k, v := range attrs {
			if k == "class" {
				if !e.has(strings.Fields(v)...) {
					continue next
				}
				continue
			}
			if e.attrs[k] != v {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}
