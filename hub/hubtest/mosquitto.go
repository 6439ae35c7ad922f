package hubtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InstallHint is how to get the broker StartMosquitto needs.
const InstallHint = "apt-get install mosquitto"

// MosquittoOptions configures a test broker.
type MosquittoOptions struct {
	// Users maps username → password (written with mosquitto_passwd -b). Empty:
	// anonymous clients are allowed.
	Users map[string]string
	// ACLFile is the path of a Mosquitto ACL file (for example
	// hub/deploy/mosquitto/acl); empty: no ACL.
	ACLFile string
	// Persistence keeps sessions, queued messages and retained messages
	// across Stop and Restart (saved on a clean stop).
	Persistence bool
	// Quiet logs errors, warnings and notices only, as a deployment would.
	// By default the broker logs every packet, which a test's failure report
	// can show, but which under load costs Mosquitto's one thread a log line
	// per message.
	Quiet bool
	// ExtraConfig is appended to the generated mosquitto.conf.
	ExtraConfig string
	// Config, if set, is a complete mosquitto.conf to run instead of one
	// made from the options above (hub deploy-config's, with its password
	// file and ACL at paths the test wrote): its listener, log_dest and
	// persistence_location lines are replaced by the test's port on
	// 127.0.0.1, log file and directory, and it runs as the current user.
	// ExtraConfig is appended to it.
	Config string
}

// Mosquitto is a Mosquitto broker run for one test on 127.0.0.1. Its methods
// other than URL, Addr and LogPath must be called from the test's goroutine.
type Mosquitto struct {
	t       testing.TB
	bin     string
	dir     string
	conf    string
	logPath string
	port    int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// StartMosquitto starts a broker and stops it when the test ends. If mosquitto
// is not installed, the test is skipped — or fails when CI=true, so CI never
// passes by skipping.
func StartMosquitto(t testing.TB, opts MosquittoOptions) *Mosquitto {
	t.Helper()
	bin := findMosquitto()
	if bin == "" {
		msg := "mosquitto not found in PATH or /usr/sbin; install it with: " + InstallHint
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	m := &Mosquitto{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	m.conf = filepath.Join(m.dir, "mosquitto.conf")
	m.logPath = filepath.Join(m.dir, "mosquitto.log")
	m.writeConfig(opts)
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("mosquitto log (%s):\n%s", m.logPath, m.Log())
		}
	})
	m.start()
	return m
}

func findMosquitto() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto"
	}
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("hubtest: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (m *Mosquitto) writeConfig(opts MosquittoOptions) {
	t := m.t
	t.Helper()
	if opts.Config != "" {
		m.writeGivenConfig(opts)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "listener %d 127.0.0.1\n", m.port)
	// Run as root, mosquitto switches to the user "mosquitto", which cannot
	// read the test's private temporary directory. Naming the current user
	// keeps it as it is.
	if u, err := user.Current(); err == nil && u.Username != "" {
		fmt.Fprintf(&b, "user %s\n", u.Username)
	}
	fmt.Fprintf(&b, "log_dest file %s\nconnection_messages true\nlog_timestamp_format %%H:%%M:%%S\n", m.logPath)
	if opts.Quiet {
		b.WriteString("log_type error\nlog_type warning\nlog_type notice\n")
	} else {
		b.WriteString("log_type all\n")
	}
	if len(opts.Users) == 0 {
		b.WriteString("allow_anonymous true\n")
	} else {
		pw := filepath.Join(m.dir, "passwd")
		if err := os.WriteFile(pw, nil, 0o600); err != nil {
			t.Fatalf("hubtest: %v", err)
		}
		names := make([]string, 0, len(opts.Users))
		for name := range opts.Users {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			out, err := exec.Command(mosquittoPasswd(m.bin), "-b", pw, name, opts.Users[name]).CombinedOutput()
			if err != nil {
				t.Fatalf("hubtest: mosquitto_passwd for %q: %v\n%s", name, err, out)
			}
		}
		fmt.Fprintf(&b, "allow_anonymous false\npassword_file %s\n", pw)
	}
	if opts.ACLFile != "" {
		abs, err := filepath.Abs(opts.ACLFile)
		if err != nil {
			t.Fatalf("hubtest: %v", err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("hubtest: ACL file: %v", err)
		}
		fmt.Fprintf(&b, "acl_file %s\n", abs)
	}
	if opts.Persistence {
		fmt.Fprintf(&b, "persistence true\npersistence_location %s%c\n", m.dir, filepath.Separator)
	}
	b.WriteString(opts.ExtraConfig)
	if err := os.WriteFile(m.conf, []byte(b.String()), 0o600); err != nil {
		t.Fatalf("hubtest: writing mosquitto.conf: %v", err)
	}
}

// writeGivenConfig writes opts.Config with the test's listener, log and
// directory.
func (m *Mosquitto) writeGivenConfig(opts MosquittoOptions) {
	var b strings.Builder
	for line := range strings.Lines(opts.Config) {
		switch fields := strings.Fields(line); {
		case len(fields) > 0 && fields[0] == "listener":
			fmt.Fprintf(&b, "listener %d 127.0.0.1\n", m.port)
		case len(fields) > 0 && fields[0] == "log_dest":
			fmt.Fprintf(&b, "log_dest file %s\n", m.logPath)
		case len(fields) > 0 && fields[0] == "persistence_location":
			fmt.Fprintf(&b, "persistence_location %s%c\n", m.dir, filepath.Separator)
		default:
			b.WriteString(strings.TrimSuffix(line, "\n") + "\n")
		}
	}
	// See writeConfig: as root, mosquitto would switch to a user that
	// cannot read the test's directory.
	if u, err := user.Current(); err == nil && u.Username != "" {
		fmt.Fprintf(&b, "user %s\n", u.Username)
	}
	b.WriteString(opts.ExtraConfig)
	if err := os.WriteFile(m.conf, []byte(b.String()), 0o600); err != nil {
		m.t.Fatalf("hubtest: writing mosquitto.conf: %v", err)
	}
}

// mosquittoPasswd finds mosquitto_passwd (in PATH, or /usr/bin next to a
// broker in /usr/sbin).
func mosquittoPasswd(broker string) string {
	if p, err := exec.LookPath("mosquitto_passwd"); err == nil {
		return p
	}
	for _, dir := range []string{filepath.Dir(broker), "/usr/bin"} {
		p := filepath.Join(dir, "mosquitto_passwd")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "mosquitto_passwd"
}

// start runs the broker and waits until it accepts TCP connections.
func (m *Mosquitto) start() {
	m.t.Helper()
	if err := m.launch(); err != nil {
		m.t.Fatalf("hubtest: %v", err)
	}
}

// launch is start returning its error, for any goroutine.
func (m *Mosquitto) launch() error {
	m.mu.Lock()
	if m.cmd != nil {
		m.mu.Unlock()
		return errors.New("mosquitto already running")
	}
	cmd := exec.Command(m.bin, "-c", m.conf)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		m.mu.Unlock()
		return fmt.Errorf("starting mosquitto: %w", err)
	}
	done := make(chan struct{})
	go func() { // ends when the process does; Stop waits for it
		_ = cmd.Wait()
		close(done)
	}()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.Addr(), time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-done:
			m.forget()
			return fmt.Errorf("mosquitto exited at start: %v\n%s\nlog:\n%s", cmd.ProcessState, stderr.String(), m.Log())
		default:
		}
		if time.Now().After(deadline) {
			m.Stop()
			return fmt.Errorf("mosquitto not accepting on %s after 10 s\nlog:\n%s", m.Addr(), m.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (m *Mosquitto) forget() {
	m.mu.Lock()
	m.cmd, m.done = nil, nil
	m.mu.Unlock()
}

// Stop stops the broker (SIGTERM, so a persistent one saves its state; SIGKILL
// after 10 s) and waits for it to exit. Stopping a stopped broker does nothing.
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd, m.done = nil, nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart stops the broker and starts it again on the same port. It fails
// the test on an error: call it on the test's goroutine.
func (m *Mosquitto) Restart() {
	m.t.Helper()
	m.Stop()
	m.start()
}

// RestartErr is Restart for other goroutines (a fault injector's): it
// returns the error instead of failing the test.
func (m *Mosquitto) RestartErr() error {
	m.Stop()
	return m.launch()
}

// Reload makes the broker read its configuration again — the password file
// and the ACL with it — as systemctl reload mosquitto does (SIGHUP). It
// returns at once: the broker reloads in its own time.
func (m *Mosquitto) Reload() {
	m.t.Helper()
	m.mu.Lock()
	cmd := m.cmd
	m.mu.Unlock()
	if cmd == nil {
		m.t.Fatal("hubtest: reloading a stopped mosquitto")
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		m.t.Fatalf("hubtest: reloading mosquitto: %v", err)
	}
}

// URL is the broker's address for paho: "tcp://127.0.0.1:port".
func (m *Mosquitto) URL() string { return "tcp://" + m.Addr() }

// Addr is "127.0.0.1:port".
func (m *Mosquitto) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port)) }

// LogPath is the broker's log file (printed by the cleanup when the test failed).
func (m *Mosquitto) LogPath() string { return m.logPath }

// Log returns the broker's log so far.
func (m *Mosquitto) Log() string {
	b, err := os.ReadFile(m.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}
