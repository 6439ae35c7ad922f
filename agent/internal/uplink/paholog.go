package uplink

import (
	"context"
	"log/slog"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// LogPaho sends paho's own logs to h. paho logs through package variables,
// for the whole process: the command calls this once; a process of many
// agents (the simulator) leaves paho quiet.
//
// Each paho level goes one level down: paho logs every refused dial as an
// ERROR, twice, and a unit in a tunnel would fill its log with them (the Link
// reports each failed attempt itself, at Warn). paho's debug log, a line per
// packet, is passed on only if h takes debug records.
func LogPaho(h slog.Handler) {
	mqtt.CRITICAL, mqtt.ERROR, mqtt.WARN, mqtt.DEBUG = pahoLoggers(h)
}

func pahoLoggers(h slog.Handler) (critical, errors, warn, debug mqtt.Logger) {
	debug = mqtt.NOOPLogger{}
	if h.Enabled(context.Background(), slog.LevelDebug) {
		debug = slog.NewLogLogger(h, slog.LevelDebug)
	}
	return slog.NewLogLogger(h, slog.LevelError), slog.NewLogLogger(h, slog.LevelWarn),
		slog.NewLogLogger(h, slog.LevelInfo), debug
}
