package ui

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// The tree go-app has mounted, as a browser would hold it after any number of
// re-renders: the elements it kept, with the attributes and the event
// handlers it left on them. go-app keeps these unexported; reading them here
// is what lets a host test click a row *after* a re-render, through go-app's
// own diffing (the path where a reused row can keep a handler bound to the
// item it showed first), without a browser.

// node is one mounted HTML element.
type node struct {
	tag      string
	attrs    map[string]string
	handlers map[string]app.EventHandler // by event name
	scopes   map[string]string           // the EventScope of each handler
}

func (n node) has(class string) bool { return slices.Contains(strings.Fields(n.attrs["class"]), class) }

// click runs the element's click handler as the browser would after the click:
// the Go function go-app has bound to this element now.
func (n node) click(t *testing.T) {
	t.Helper()
	h := n.handlers["click"]
	if h == nil {
		t.Fatalf("<%s %v> has no click handler", n.tag, n.attrs)
	}
	h(app.Context{}, app.Event{})
}

// mountedNodes lists the mounted elements under a component, depth first.
func mountedNodes(root app.UI) []node {
	var out []node
	walkMounted(root, func(n node) { out = append(out, n) })
	return out
}

// selectNodes is the mounted elements with tag ("" any) whose class list has
// class ("" any), in document order.
func selectNodes(root app.UI, tag, class string) []node {
	var out []node
	for _, n := range mountedNodes(root) {
		if (tag == "" || n.tag == tag) && (class == "" || n.has(class)) {
			out = append(out, n)
		}
	}
	return out
}

func walkMounted(ui app.UI, visit func(node)) {
	v := reflect.ValueOf(ui)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	e := v.Elem()
	if e.Kind() != reflect.Struct {
		return
	}
	if _, ok := ui.(app.Composer); ok {
		if r := e.FieldByName("rootElement"); r.IsValid() {
			if root, ok := exported(r).Interface().(app.UI); ok {
				walkMounted(root, visit)
			}
		}
		return
	}
	if _, ok := ui.(app.HTML); !ok {
		return // text, raw HTML
	}
	n := node{tag: e.FieldByName("tag").String(), attrs: map[string]string{},
		handlers: map[string]app.EventHandler{}, scopes: map[string]string{}}
	for it := exported(e.FieldByName("attributes")).MapRange(); it.Next(); {
		n.attrs[it.Key().String()] = it.Value().String()
	}
	for it := exported(e.FieldByName("eventHandlers")).MapRange(); it.Next(); {
		h := reflect.New(it.Value().Type()).Elem()
		h.Set(it.Value())
		name := it.Key().String()
		if fn, ok := exported(h.FieldByName("goHandler")).Interface().(app.EventHandler); ok {
			n.handlers[name] = fn
		}
		n.scopes[name] = h.FieldByName("scope").String()
	}
	visit(n)
	children := exported(e.FieldByName("children"))
	for i := 0; i < children.Len(); i++ {
		if c, ok := children.Index(i).Interface().(app.UI); ok {
			walkMounted(c, visit)
		}
	}
}

// exported makes an unexported field of an addressable struct readable.
func exported(f reflect.Value) reflect.Value {
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}

// mounter mounts a component once and re-renders it as its parent would:
// Load with a fresh instance whose props changed (Rev), which go-app turns
// into an update of the mounted one.
type mounter struct {
	t      *testing.T
	e      app.TestEngine
	first  app.Composer
	render func(rev int64) app.Composer
	rev    int64
}

func mount(t *testing.T, render func(rev int64) app.Composer) *mounter {
	t.Helper()
	m := &mounter{t: t, e: app.NewTestEngine(), render: render, rev: 1}
	m.first = render(m.rev)
	if err := m.e.Load(m.first); err != nil {
		t.Fatal(err)
	}
	m.e.ConsumeAll()
	return m
}

// rerender updates the mounted component with new props.
func (m *mounter) rerender() {
	m.t.Helper()
	m.rev++
	if err := m.e.Load(m.render(m.rev)); err != nil {
		m.t.Fatal(err)
	}
	m.e.ConsumeAll()
}

// nodes is the mounted tree's elements of tag and class.
func (m *mounter) nodes(tag, class string) []node { return selectNodes(m.first, tag, class) }

func TestMountedTreeReadsHandlers(t *testing.T) {
	clicked := ""
	m := mount(t, func(rev int64) app.Composer {
		return &probe{Rev: rev, on: func(id string) { clicked = id }}
	})
	rows := m.nodes("li", "row")
	if len(rows) != 2 || rows[1].attrs["data-id"] != "b" {
		t.Fatalf("rows %+v", rows)
	}
	rows[1].click(t)
	if clicked != "b" {
		t.Errorf("clicked %q", clicked)
	}
	if rows[1].scopes["click"] != "/b" {
		t.Errorf("scope %q", rows[1].scopes["click"])
	}
}

// probe is a two-row list for the test of the tree reader itself.
type probe struct {
	app.Compo
	Rev int64
	on  func(string)
}

func (p *probe) Render() app.UI {
	ids := []string{"a", "b"}
	return app.Ul().Body(app.Range(ids).Slice(func(i int) app.UI {
		id := ids[i]
		return app.Li().Class("row").DataSet("id", id).
			OnClick(func(app.Context, app.Event) { p.on(id) }, app.EventScope(id))
	}))
}
