package stream

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
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
// API hands it out to a caller that presented the admin token. 256 random
// bits; only a hash is kept, and expired tickets are swept here.
func (s *Stream) Ticket() (ticket string, expires time.Time) {
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand crashes the program instead)
	ticket = base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.cfg.Now()
	expires = now.Add(s.cfg.TicketTTL)

	s.ticketMu.Lock()
	defer s.ticketMu.Unlock()
	for k, exp := range s.tickets {
		if !now.Before(exp) {
			delete(s.tickets, k)
		}
	}
	s.tickets[sha256.Sum256([]byte(ticket))] = expires
	return ticket, expires
}

// redeem spends a ticket: true once, if it was issued and has not expired.
func (s *Stream) redeem(ticket string) bool {
	if ticket == "" {
		return false
	}
	// Keyed by a hash, so the map lookup's timing says nothing about tickets.
	key := sha256.Sum256([]byte(ticket))
	s.ticketMu.Lock()
	exp, ok := s.tickets[key]
	delete(s.tickets, key)
	s.ticketMu.Unlock()
	return ok && s.cfg.Now().Before(exp)
}

// authorize admits the admin token as a Bearer token, or a valid ticket in
// the query; else it says what is wrong.
func (s *Stream) authorize(r *http.Request) (string, bool) {
	if token, ok := bearer.Token(r.Header.Get("Authorization")); ok {
		if s.cfg.AdminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.AdminToken)) == 1 {
			return "", true
		}
		return "wrong Bearer token", false
	}
	q := r.URL.Query()
	if q.Has("ticket") {
		if s.redeem(q.Get("ticket")) {
			return "", true
		}
		return "unknown, used or expired ticket: get a new one", false
	}
	if q.Has("token") || q.Has("access_token") {
		// URLs end up in proxy and server logs: the admin token never goes there.
		return "the admin token is not accepted in the URL: send it as a Bearer header, or use a ticket", false
	}
	return "a Bearer token or a ticket (?ticket=) is required", false
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
