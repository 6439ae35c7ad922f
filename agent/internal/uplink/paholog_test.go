package uplink

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// paho's levels each go one level down; its debug log only to a handler
// that takes debug records, and the handler's level filters the rest.
func TestPahoLoggers(t *testing.T) {
	for _, c := range []struct {
		level slog.Level
		want  []string // what each of CRITICAL, ERROR, WARN, DEBUG logs; "" nothing
	}{
		{slog.LevelDebug, []string{"level=ERROR", "level=WARN", "level=INFO", "level=DEBUG"}},
		{slog.LevelInfo, []string{"level=ERROR", "level=WARN", "level=INFO", ""}},
		{slog.LevelWarn, []string{"level=ERROR", "level=WARN", "", ""}},
		{slog.LevelError, []string{"level=ERROR", "", "", ""}},
	} {
		t.Run(c.level.String(), func(t *testing.T) {
			var buf bytes.Buffer
			critical, errors, warn, debug := pahoLoggers(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: c.level}))
			for i, l := range []interface{ Println(...any) }{critical, errors, warn, debug} {
				buf.Reset()
				l.Println("[client]", "paho says", i)
				out := buf.String()
				switch {
				case c.want[i] == "" && out != "":
					t.Errorf("logger %d logged %q", i, out)
				case c.want[i] != "" && (!strings.Contains(out, c.want[i]) || !strings.Contains(out, "paho says")):
					t.Errorf("logger %d logged %q; want %s", i, out, c.want[i])
				}
			}
		})
	}
}
