// Package natstest runs a NATS Server cluster with MQTT and JetStream for a
// test, as kuaifan's units' clustered broker: every node serves MQTT on a port
// of its own, the nodes are routed into one cluster, and JetStream replicates
// MQTT sessions and messages across them.
//
// The nodes are nats-server processes built from the module kuaifan requires
// (github.com/nats-io/nats-server/v2), not the test's own code: a node can be
// killed with SIGKILL, as a crash would, and brought back on the same ports
// and storage; and a test built with -race does not slow the broker down
// tenfold.
package natstest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options configures a cluster; the zero value is a 3-node cluster with no
// authentication.
type Options struct {
	Nodes int // default 3
	// ConfigFile, if set, is included by every node's configuration: the
	// accounts, users and permissions (hub deploy-config's output). The
	// cluster sets the listeners, routes, server names, JetStream and the
	// mqtt block itself.
	ConfigFile string
	// Logs shows the servers' logs in the test's log at its end (they are
	// shown anyway when the test fails).
	Logs bool
}

// Cluster is a running NATS cluster. Its methods are safe for concurrent use.
type Cluster struct {
	t    testing.TB
	opts Options
	bin  string

	mu    sync.Mutex
	nodes []*node
}

type node struct {
	name                        string
	client, mqtt, route, status int // ports, kept across restarts
	dir                         string
	conf, log                   string    // paths
	cmd                         *exec.Cmd // nil while the node is down
	exited                      chan struct{}
}

var build struct {
	once sync.Once
	path string
	err  error
}

// binary builds nats-server once per test process, at the version in the
// build list (testkit's go.mod names it as a tool), into a temporary
// directory; go's build cache makes a rebuild a link.
func binary() (string, error) {
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "natstest-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "nats-server")
		cmd := exec.Command("go", "build", "-o", build.path, "github.com/nats-io/nats-server/v2")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("natstest: building nats-server: %v\n%s", err, out)
		}
	})
	return build.path, build.err
}

// Start starts the cluster and waits until every node is healthy (JetStream
// has a meta leader and the node is current). The nodes stop when the test
// ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, opts: opts, bin: bin}
	dir := t.TempDir()
	for i := range opts.Nodes {
		name := "n" + strconv.Itoa(i+1)
		c.nodes = append(c.nodes, &node{
			name:   name,
			client: freePort(t), mqtt: freePort(t), route: freePort(t), status: freePort(t),
			dir:  filepath.Join(dir, name),
			conf: filepath.Join(dir, name+".conf"),
			log:  filepath.Join(dir, name+".log"),
		})
	}
	t.Cleanup(c.stopAll)
	for i := range c.nodes {
		if err := c.writeConfig(i); err != nil {
			t.Fatal(err)
		}
		if err := c.start(i); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitHealthy(90 * time.Second)
	return c
}

// MQTTURL is node i's MQTT address as a paho broker URL.
func (c *Cluster) MQTTURL(i int) string {
	return fmt.Sprintf("tcp://127.0.0.1:%d", c.nodes[i].mqtt)
}

// MQTTURLs are every node's MQTT URLs, in node order.
func (c *Cluster) MQTTURLs() []string {
	urls := make([]string, len(c.nodes))
	for i := range c.nodes {
		urls[i] = c.MQTTURL(i)
	}
	return urls
}

// Nodes is the number of nodes.
func (c *Cluster) Nodes() int { return len(c.nodes) }

// Kill kills node i with SIGKILL, as a crash or a power cut would: its
// clients lose their connections and the others elect new leaders.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		c.t.Fatalf("natstest: node %s is not running", n.name)
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart brings node i back on its ports and storage.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if err := c.start(i); err != nil {
		c.t.Fatal(err)
	}
}

// Running says whether node i is up.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].cmd != nil
}

// Reload makes every running node read its configuration again (after the
// included file was rewritten: new units, a revoked one), as
// `nats-server --signal reload` does, and waits until each has.
func (c *Cluster) Reload() {
	c.t.Helper()
	c.mu.Lock()
	var running []*node
	for _, n := range c.nodes {
		if n.cmd != nil {
			running = append(running, n)
		}
	}
	c.mu.Unlock()
	for _, n := range running {
		before := strings.Count(readFile(n.log), "Reloaded server configuration")
		if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			c.t.Fatalf("natstest: reloading %s: %v", n.name, err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for strings.Count(readFile(n.log), "Reloaded server configuration") == before {
			if time.Now().After(deadline) {
				c.t.Fatalf("natstest: %s did not reload its configuration:\n%s", n.name, tail(readFile(n.log), 20))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// WaitHealthy waits until every running node answers healthy: JetStream has
// a meta leader and the node is current with it and with its streams.
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var bad []string
		c.mu.Lock()
		for _, n := range c.nodes {
			if n.cmd != nil && !healthy(n.status) {
				bad = append(bad, n.name)
			}
		}
		c.mu.Unlock()
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("natstest: %v not healthy after %s", bad, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func healthy(port int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// writeConfig writes node i's configuration: the test's accounts included,
// and the settings a kuaifan cluster needs (hub/deploy/nats says why).
func (c *Cluster) writeConfig(i int) error {
	n := c.nodes[i]
	var routes []string
	for j, other := range c.nodes {
		if j != i {
			routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", other.route))
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "server_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n", n.name, n.client, n.status)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n  limits { default_max_consumers: -1 }\n}\n", n.dir)
	fmt.Fprintf(&b, "mqtt {\n  listen: 127.0.0.1:%d\n  stream_replicas: %d\n  ack_wait: \"5s\"\n  max_ack_pending: 100\n"+
		"  js_api_timeout: \"15s\"\n  consumer_memory_storage: true\n}\n", n.mqtt, len(c.nodes))
	fmt.Fprintf(&b, "cluster {\n  name: kuaifan-test\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n", n.route, strings.Join(routes, ", "))
	if c.opts.ConfigFile != "" {
		abs, err := filepath.Abs(c.opts.ConfigFile)
		if err != nil {
			return err
		}
		// nats-server joins an include to the including file's directory,
		// an absolute path too.
		rel, err := filepath.Rel(filepath.Dir(n.conf), abs)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "include %q\n", rel)
	}
	return os.WriteFile(n.conf, b.Bytes(), 0o600)
}

func (c *Cluster) start(i int) error {
	n := c.nodes[i]
	logf, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.bin, "-c", n.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("natstest: starting %s: %w", n.name, err)
	}
	exited := make(chan struct{})
	go func() { // owns the process until it exits
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	c.mu.Lock()
	n.cmd, n.exited = cmd, exited
	c.mu.Unlock()
	// Ready once its MQTT listener accepts (JetStream's health is
	// WaitHealthy's business: it needs the other nodes).
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.mqtt), time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("natstest: %s exited:\n%s", n.name, tail(readFile(n.log), 30))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("natstest: %s not listening for MQTT:\n%s", n.name, tail(readFile(n.log), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Cluster) stopAll() {
	c.mu.Lock()
	type proc struct {
		cmd    *exec.Cmd
		exited chan struct{}
	}
	var procs []proc
	for _, n := range c.nodes {
		if n.cmd != nil {
			procs = append(procs, proc{n.cmd, n.exited})
			n.cmd = nil
		}
	}
	c.mu.Unlock()
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	if dir := os.Getenv("NATSTEST_LOGS"); dir != "" {
		for _, n := range c.nodes {
			_ = os.WriteFile(filepath.Join(dir, n.name+".log"), []byte(readFile(n.log)), 0o644)
		}
	}
	if c.t.Failed() || c.opts.Logs {
		for _, n := range c.nodes {
			c.t.Logf("natstest: %s's warnings and errors (end; NATSTEST_LOGS=DIR keeps the whole logs):\n%s",
				n.name, tail(problems(readFile(n.log)), 60))
		}
	}
}

// freePort asks the kernel for a free TCP port on the loopback interface.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// problems keeps a log's warnings, errors and the servers' exits.
func problems(log string) string {
	var keep []string
	for line := range strings.SplitSeq(log, "\n") {
		if strings.Contains(line, "[WRN]") || strings.Contains(line, "[ERR]") || strings.Contains(line, "[FTL]") ||
			strings.Contains(line, "Exiting") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
