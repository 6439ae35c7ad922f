package responder

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"time"

	"kuaifan/hub/internal/bearer"
)

// session is one signed-in phone.
type session struct {
	unit    string
	expires time.Time // renewed on every use
	created time.Time
}

// maxSessionsPerUnit bounds what one unit's sign-ins keep in memory: a
// phone that signs in again and again (its storage cleared) pushes out its
// oldest sessions.
const maxSessionsPerUnit = 8

// newSession signs unit in and returns its token. Only the token's hash
// is kept, so the map's lookups say nothing of tokens by their timing.
func (s *Server) newSession(unit string) (token string, expires time.Time) {
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand crashes the program instead)
	token = base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.cfg.Now()
	expires = now.Add(s.cfg.SessionIdle)

	s.mu.Lock()
	defer s.mu.Unlock()
	var oldest [32]byte
	n := 0
	for k, se := range s.sessions {
		switch {
		case !now.Before(se.expires):
			delete(s.sessions, k)
		case se.unit == unit:
			if n == 0 || se.created.Before(s.sessions[oldest].created) {
				oldest = k
			}
			n++
		}
	}
	if n >= maxSessionsPerUnit {
		delete(s.sessions, oldest)
	}
	s.sessions[sha256.Sum256([]byte(token))] = &session{unit: unit, expires: expires, created: now}
	return token, expires
}

// authenticate returns the unit of the request's session (a Bearer token),
// renewing it; "" if there is none, it expired, or its unit was revoked.
func (s *Server) authenticate(r *http.Request) string {
	token, ok := bearer.Token(r.Header.Get("Authorization"))
	if !ok {
		return ""
	}
	return s.redeem(token)
}

// redeem is authenticate for a token already read.
func (s *Server) redeem(token string) string {
	key := sha256.Sum256([]byte(token))
	now := s.cfg.Now()
	s.mu.Lock()
	se, ok := s.sessions[key]
	if ok && !now.Before(se.expires) {
		delete(s.sessions, key)
		ok = false
	}
	var unit string
	if ok {
		se.expires = now.Add(s.cfg.SessionIdle)
		unit = se.unit
	}
	s.mu.Unlock()
	if !ok {
		return ""
	}
	if _, _, enrolled := s.cfg.Units.ReportsBy(unit); !enrolled {
		s.endSession(token) // revoked: its phone must not go on reporting
		return ""
	}
	return unit
}

func (s *Server) endSession(token string) {
	key := sha256.Sum256([]byte(token))
	s.mu.Lock()
	delete(s.sessions, key)
	s.mu.Unlock()
}

// failure counts a key's failed sign-ins since its last success.
type failure struct {
	n    int
	last time.Time
}

// Sign-in backoff. The first freeFailures failures cost nothing (a typo);
// then each doubles the wait, from a second up to maxBackoff. A key quiet
// for forgetAfter starts again from nothing. A secret is 256 random bits,
// so this is not what keeps it from being guessed: it keeps a script from
// filling the log and the CPU (a SHA-256 per try) and tells a person that
// something is wrong.
const (
	freeFailures = 3
	maxBackoff   = 5 * time.Minute
	forgetAfter  = 15 * time.Minute
	maxFailKeys  = 10000 // beyond it, keys quiet for a minute are dropped
)

func backoff(n int) time.Duration {
	if n <= freeFailures {
		return 0
	}
	return min(time.Second<<min(n-freeFailures-1, 16), maxBackoff)
}

// wait is how long a sign-in for these keys must wait; 0: go ahead.
func (s *Server) wait(keys ...string) time.Duration {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var d time.Duration
	for _, k := range keys {
		f := s.fails[k]
		if f == nil || now.Sub(f.last) > forgetAfter {
			continue
		}
		d = max(d, f.last.Add(backoff(f.n)).Sub(now))
	}
	return d
}

// failed records a failed sign-in for these keys and returns the count of
// the worst of them.
func (s *Server) failed(keys ...string) int {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fails) >= maxFailKeys {
		for k, f := range s.fails {
			if now.Sub(f.last) > time.Minute {
				delete(s.fails, k)
			}
		}
	}
	worst := 0
	for _, k := range keys {
		f := s.fails[k]
		if f == nil || now.Sub(f.last) > forgetAfter {
			f = &failure{}
			s.fails[k] = f
		}
		f.n++
		f.last = now
		worst = max(worst, f.n)
	}
	return worst
}

func (s *Server) succeeded(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.fails, k)
	}
}

// addrKey is the backoff key of a request's address: the host, an IPv6
// address by its /64 (one subscriber's network).
func addrKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		return "addr:" + ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return "addr:" + host
}
