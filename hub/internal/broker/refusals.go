package broker

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"kuaifan/hub/internal/clip"
)

// Refused connections cost their sender a TCP handshake and a few bytes, and
// need no credentials: what they make the hub log is bounded per address.
const (
	refusalLogLimit  = 5           // refusal lines per address per window; the rest are counted
	refusalLogWindow = time.Minute // how long an address's limit lasts
	refusalLogAddrs  = 1024        // addresses tracked; more share one entry ("other")
	otherAddrs       = "other"
)

// refusalLog decides which refused connections are logged: the first
// refusalLogLimit from an address in a window, and then, once the window is
// over, one summary line with the number left out. Every refusal is counted
// in the metrics regardless.
type refusalLog struct {
	log      *slog.Logger
	limit    int
	window   time.Duration
	maxAddrs int
	now      func() time.Time

	mu      sync.Mutex
	addrs   map[string]*addrRefusals // bounded by maxAddrs+1, swept every window
	started bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

type addrRefusals struct {
	start     time.Time // the window's start
	logged    int
	notLogged int
}

func newRefusalLog(log *slog.Logger) *refusalLog {
	return &refusalLog{log: log, limit: refusalLogLimit, window: refusalLogWindow, maxAddrs: refusalLogAddrs,
		now: time.Now, addrs: make(map[string]*addrRefusals), stop: make(chan struct{}), done: make(chan struct{})}
}

// allow reports whether a refusal from remote (host:port) is to be logged;
// if not, it is counted for the summary.
func (r *refusalLog) allow(remote string) bool {
	key := addrKey(remote)
	r.mu.Lock()
	now := r.now()
	c := r.addrs[key]
	if c == nil && len(r.addrs) >= r.maxAddrs {
		key = otherAddrs
		c = r.addrs[key]
	}
	var summary *addrRefusals
	if c != nil && now.Sub(c.start) >= r.window {
		if c.notLogged > 0 {
			summary = c
		}
		c = nil
	}
	if c == nil {
		c = &addrRefusals{start: now}
		r.addrs[key] = c
	}
	ok := c.logged < r.limit
	if ok {
		c.logged++
	} else {
		c.notLogged++
	}
	r.mu.Unlock()
	if summary != nil {
		r.summarize(key, summary)
	}
	return ok
}

// sweep forgets the addresses whose window is over (all of them if all),
// logging a summary for each with refusals left out.
func (r *refusalLog) sweep(all bool) {
	type entry struct {
		key string
		c   *addrRefusals
	}
	var due []entry
	r.mu.Lock()
	now := r.now()
	for key, c := range r.addrs {
		if all || now.Sub(c.start) >= r.window {
			delete(r.addrs, key)
			if c.notLogged > 0 {
				due = append(due, entry{key, c})
			}
		}
	}
	r.mu.Unlock()
	for _, e := range due {
		r.summarize(e.key, e.c)
	}
}

func (r *refusalLog) summarize(key string, c *addrRefusals) {
	r.log.Warn("broker: refused connections not logged", "remote", key, "not_logged", c.notLogged,
		"logged", c.logged, "since", c.start)
}

// start sweeps once a window until close, so that an address that went quiet
// still gets its summary and its entry freed.
func (r *refusalLog) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed {
		return
	}
	r.started = true
	go func() {
		defer close(r.done)
		t := time.NewTicker(r.window)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.sweep(false)
			case <-r.stop:
				return
			}
		}
	}()
}

// close stops the sweeper and logs every pending summary.
func (r *refusalLog) close() {
	r.mu.Lock()
	started, closed := r.started, r.closed
	r.closed = true
	r.mu.Unlock()
	if closed {
		return
	}
	if started {
		close(r.stop)
		<-r.done
	}
	r.sweep(true)
}

// addrKey is the address refusals are limited by: the IP, or an IPv6
// address's /64, which one host commonly has whole.
func addrKey(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return clip.To(remote, maxLoggedID)
	}
	a := ap.Addr().Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// Longest strings from a device logged whole; longer ones are clipped.
const (
	maxLoggedID    = 64  // a client id or username (a unit id has at most 32 bytes)
	maxLoggedTopic = 128 // a topic (a unit's own is well within)
)
