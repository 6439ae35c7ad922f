// Package cli is what the simulator command does besides its flags: the
// admin token from a file or the environment, the logger (and paho's), a
// context ended by SIGINT or SIGTERM, shell commands for the external
// broker, the lists of scenarios and faults for the help, and the report
// printed as text or JSON with the exit code that goes with it.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/simulator/internal/faults"
	"kuaifan/simulator/internal/scenario"
)

// TokenEnv is the environment variable the admin token is read from
// without a token file.
const TokenEnv = "HUB_ADMIN_TOKEN"

// Parse parses a command's flags; when it is not ok, the command exits
// with code (0 after -h, 2 on a mistake, which the flag package or this
// function has already reported).
func Parse(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return 2, false
	}
	return 0, true
}

// AdminToken is the admin token when there is no token file: from
// HUB_ADMIN_TOKEN. With a token file it is "" (the run reads the file once
// the hub answers).
func AdminToken(tokenFile string) (string, error) {
	if tokenFile != "" {
		return "", nil
	}
	token := os.Getenv(TokenEnv)
	if token == "" {
		return "", errors.New("no admin token: give -token-file or set " + TokenEnv)
	}
	return token, nil
}

// Logger is a text logger on w at level ("debug", "info", "warn" or
// "error"). It also takes over paho's package loggers: with one client per
// unit, a broker restart makes every client log each failed reconnect, so
// its errors and warnings go to debug; the agents and the report say what
// matters.
func Logger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
	mqtt.CRITICAL = slog.NewLogLogger(log.Handler(), slog.LevelError)
	mqtt.ERROR = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	mqtt.WARN = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	return log, nil
}

// SignalContext ends on SIGINT or SIGTERM; after the first, a second one
// kills the process (the run is winding down and may take its final wait).
func SignalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}

// Shell runs a command line with sh -c, its output on w: for
// -broker-restart-cmd and -broker-reload-cmd.
func Shell(cmdline string, w io.Writer) func(context.Context) error {
	return func(ctx context.Context) error {
		cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%q: %w", cmdline, err)
		}
		return nil
	}
}

// PrintReport writes a report as indented JSON or as its text.
func PrintReport(w io.Writer, asJSON bool, rep fmt.Stringer) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		return
	}
	fmt.Fprint(w, rep.String())
}

// ExitCode is the command's exit code after a run that ended with err
// (said on stderr): 0, 130 when interrupted, else 1.
func ExitCode(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "simulator: interrupted:", err)
		return 130
	}
	fmt.Fprintln(stderr, err)
	return 1
}

// ScenarioHelp lists the built-in scenarios, one line each, for -h.
func ScenarioHelp(w io.Writer) {
	for _, n := range scenario.BuiltinNames() {
		sc, _ := scenario.Builtin(n)
		d := strings.Join(strings.Fields(sc.Description), " ")
		fmt.Fprintf(w, "  %-14s %s [%v simulated at ×%g, %d units]\n", n, d, sc.Duration, sc.TimeScale, sc.Units)
	}
}

// FaultHelp lists the faults, one line each, for -h.
func FaultHelp(w io.Writer) {
	for _, n := range faults.Names() {
		fmt.Fprintf(w, "  %-14s %s\n", n, faults.Help(n))
	}
}

// ListScenarios is simulator scenarios: each built-in scenario with its
// length, scale, fleet and description, or with asJSON each in full, as
// the JSON a -scenario file takes.
func ListScenarios(w io.Writer, asJSON bool) error {
	for _, n := range scenario.BuiltinNames() {
		sc, _ := scenario.Builtin(n)
		if asJSON {
			b, err := json.MarshalIndent(sc, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s\n", b)
			continue
		}
		fmt.Fprintf(w, "%s — %v simulated at ×%g (%v wall), %d units, %d steps\n", n, sc.Duration, sc.TimeScale,
			(time.Duration(float64(sc.Duration) / sc.TimeScale)).Round(time.Second), sc.Units, len(sc.Steps))
		fmt.Fprintf(w, "    %s\n\n", strings.Join(strings.Fields(sc.Description), " "))
	}
	return nil
}
