package stream

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"kuaifan/hub/internal/bearer"
	"kuaifan/hub/internal/clip"
)

// Ticket issues a single-use ticket for /ws?ticket=…, valid for TicketTTL:
// how a browser, which cannot set headers on a websocket, authenticates. The
// API hands it out to a signed-in caller (a session or a token). 256 random
// bits; only a hash is kept, and expired tickets are swept here.
func (s *Stream) Ticket() (ticket string, expires time.Time) { return s.TicketFor(nil) }

// TicketFor issues a ticket whose connection lasts while valid reports true
// (checked every Recheck): a person's stream ends with their session. nil:
// for as long as the client stays.
func (s *Stream) TicketFor(valid func() bool) (ticket string, expires time.Time) {
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand crashes the program instead)
	ticket = base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.cfg.Now()
	expires = now.Add(s.cfg.TicketTTL)

	s.ticketMu.Lock()
	defer s.ticketMu.Unlock()
	for k, t := range s.tickets {
		if !now.Before(t.expires) {
			delete(s.tickets, k)
		}
	}
	s.tickets[sha256.Sum256([]byte(ticket))] = issued{expires: expires, valid: valid}
	return ticket, expires
}

// issued is a ticket not yet spent.
type issued struct {
	expires time.Time
	valid   func() bool
}

// redeem spends a ticket: true once, if it was issued and has not expired,
// with what keeps its connection valid.
func (s *Stream) redeem(ticket string) (func() bool, bool) {
	if ticket == "" {
		return nil, false
	}
	// Keyed by a hash, so the map lookup's timing says nothing about tickets.
	key := sha256.Sum256([]byte(ticket))
	s.ticketMu.Lock()
	t, ok := s.tickets[key]
	delete(s.tickets, key)
	s.ticketMu.Unlock()
	return t.valid, ok && s.cfg.Now().Before(t.expires)
}

// authorize admits a Bearer token the hub knows (Config.Bearer), or a valid
// ticket in the query, with what keeps the connection valid (nil: always);
// else it says what is wrong.
func (s *Stream) authorize(r *http.Request) (valid func() bool, msg string, ok bool) {
	if token, ok := bearer.Token(r.Header.Get("Authorization")); ok {
		if s.cfg.Bearer != nil && s.cfg.Bearer(token) {
			return func() bool { return s.cfg.Bearer(token) }, "", true
		}
		return nil, "wrong Bearer token", false
	}
	q := r.URL.Query()
	if q.Has("ticket") {
		if valid, ok := s.redeem(q.Get("ticket")); ok {
			return valid, "", true
		}
		return nil, "unknown, used or expired ticket: get a new one", false
	}
	if q.Has("token") || q.Has("access_token") {
		// URLs end up in proxy and server logs: no token ever goes there.
		return nil, "a token is not accepted in the URL: send it as a Bearer header, or use a ticket", false
	}
	return nil, "a Bearer token or a ticket (?ticket=) is required", false
}

// checkOrigin allows a request without an Origin (not a browser: the auth
// decides), from the same host, or from a host matching OriginPatterns. It is
// coder/websocket's own rule, checked here first so a refusal is counted and
// answered like the API's; Accept checks it again.
func (s *Stream) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return fmt.Errorf("origin %s is not a URL with a host", clip.Quote(origin))
	}
	if strings.EqualFold(r.Host, u.Host) {
		return nil
	}
	for _, p := range s.origins {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return nil
		}
	}
	return errors.New("origin " + clip.String(origin) + " is not allowed to open the stream")
}
