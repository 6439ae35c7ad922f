package patrol

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Error is a plan refused: where, which field and why. Every error Parse,
// ParseGeoJSON and Validate return is one, so an editor can point at the
// field.
type Error struct {
	// Where is the part at fault as people read it: `task "cp-3"`,
	// `task 7` (the seventh, without a usable id), `shift "night"`,
	// `feature 4`; "" for the plan itself.
	Where string
	// Task is the id of the task at fault, "" when the error is not about
	// a task or the task has no usable id.
	Task string
	// Field is the JSON field at fault ("radius_m", "windows"), "" when
	// the whole part is.
	Field  string
	Detail string
}

func (e *Error) Error() string {
	var b strings.Builder
	for _, s := range []string{e.Where, e.Field, e.Detail} {
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(s)
	}
	return b.String()
}

func fieldErr(field, format string, args ...any) *Error {
	return &Error{Field: field, Detail: fmt.Sprintf(format, args...)}
}

// at places e in a part of the plan, keeping a more precise place it has.
func (e *Error) at(where, task string) *Error {
	if e.Where == "" {
		e.Where = where
	}
	if e.Task == "" {
		e.Task = task
	}
	return e
}

func taskWhere(id string, index int) string {
	if validID(id) {
		return fmt.Sprintf("task %q", id)
	}
	return fmt.Sprintf("task %d", index+1)
}

// jsonError turns encoding/json's error into one naming the field in the
// plan's terms rather than Go's.
func jsonError(err error) *Error {
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return &Error{Detail: fmt.Sprintf("want %s, not a JSON %s", goType(typ.Type.String()), typ.Value)}
		}
		return fieldErr(field, "want %s, not a JSON %s", goType(typ.Type.String()), typ.Value)
	case errors.As(err, &syn):
		return &Error{Detail: fmt.Sprintf("not JSON: %v (at byte %d)", syn, syn.Offset)}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fieldErr(strings.Trim(f, `"`), "unknown field")
	}
	if strings.HasPrefix(msg, "unexpected EOF") {
		return &Error{Detail: "not JSON: unexpected end"}
	}
	return &Error{Detail: strings.TrimPrefix(msg, "json: ")}
}

// goType names a Go type as JSON people do.
func goType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"), strings.HasPrefix(t, "[2]"):
		return "a list"
	case strings.HasPrefix(t, "float"), strings.HasPrefix(t, "int"), strings.HasPrefix(t, "*float"):
		return "a number"
	case t == "string", t == "*string", strings.HasSuffix(t, "UnitType"), strings.HasSuffix(t, "Kind"):
		return "a string"
	case t == "bool":
		return "true or false"
	}
	return "an object"
}
