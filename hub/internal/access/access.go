package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"kuaifan/hub/internal/bearer"
	wire "kuaifan/protocol/api"
)

// FirstAdminFile holds the first admin's one-time password until it is
// changed.
const FirstAdminFile = "admin.password"

// FirstAdmin is the name of the account made on first start.
const FirstAdmin = "admin"

// Config is how the service is set up; zero fields take the defaults.
type Config struct {
	Dir            string // the data directory: accounts.json, admin.password
	BootstrapToken string // the admin token for machines; "": none
	SessionIdle    time.Duration
	SessionMax     time.Duration
	Hashing        Hashing
	Hasher         Hasher        // nil: in this process (LocalHasher)
	Hashers        int           // passwords hashed at once
	HashWait       time.Duration // longest wait for a hasher before 503
	BackoffAfter   int           // failures in a row before each attempt waits
	LockAfter      int           // failures in a row that lock the name
	LockFor        time.Duration
	Now            func() time.Time
	Logger         *slog.Logger
}

// Defaults of Config.
const (
	DefaultSessionIdle  = 30 * time.Minute
	DefaultSessionMax   = 12 * time.Hour
	DefaultHashers      = 2
	DefaultHashWait     = 5 * time.Second
	DefaultBackoffAfter = 3
	DefaultLockAfter    = 10
	DefaultLockFor      = 15 * time.Minute
	maxBackoff          = 5 * time.Minute
)

// Errors of authentication and sign-in.
var (
	ErrNoCredentials = errors.New("no credentials: sign in, or send a Bearer token")
	ErrBadToken      = errors.New("unknown or revoked Bearer token")
	ErrSessionEnded  = errors.New("the session has ended: sign in again")
	ErrWrongPassword = errors.New("wrong name or password")
	ErrBusy          = errors.New("too many sign-ins at once: try again")
)

// WaitError is a sign-in refused until At: backing off after failures, or
// locked.
type WaitError struct {
	At     time.Time
	Locked bool
}

func (e *WaitError) Error() string {
	if e.Locked {
		return "too many failed sign-ins: locked until " + e.At.UTC().Format(time.RFC3339)
	}
	return "too many failed sign-ins: wait before trying again"
}

// Kind is what a principal authenticated with.
type Kind uint8

// Kinds of principals.
const (
	Nobody Kind = iota
	Person
	Machine   // an API token
	Bootstrap // the bootstrap admin token
)

// Principal is who makes a call.
type Principal struct {
	Kind       Kind
	Name       string
	Role       Role
	MustChange bool
	sess       *session
	key        [32]byte // the session's key
	tokenID    string   // an API token's id
}

// Actor is how the audit log and the timeline name the principal.
func (p Principal) Actor() string {
	switch p.Kind {
	case Person:
		return wire.ActorUserPrefix + p.Name
	case Machine:
		return wire.ActorTokenPrefix + p.Name
	case Bootstrap:
		return wire.ActorTokenPrefix + "admin"
	}
	return ""
}

// Cookie reports whether the principal came with the session cookie (and
// so must show the CSRF token on writes).
func (p Principal) Cookie() bool { return p.sess != nil }

type session struct {
	user     string
	gen      uint64
	changing bool // its person's password is being changed by it: kept through the new Gen
	csrf     string
	addr     string
	created  time.Time
	lastSeen time.Time
}

type failure struct {
	count    int
	last     time.Time
	until    time.Time // no attempt before
	locked   bool
	inFlight bool
}

// Service authenticates calls and signs people in and out.
type Service struct {
	cfg      Config
	accounts *Accounts
	hashers  chan struct{}
	// dummy is a hash checked for unknown names, so they take as long;
	// made at the first sign-in, not at every start.
	dummy func() string
	boot  []byte

	saveMu sync.Mutex // one write of the sessions file at a time

	mu         sync.Mutex
	dirty      bool // a session's activity changed since the last save
	sessions   map[[32]byte]*session
	failures   map[string]*failure
	lastSignIn map[string]time.Time
	tokenUsed  map[string]time.Time
}

// New opens the accounts in cfg.Dir.
func New(cfg Config) (*Service, error) {
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = DefaultSessionMax
	}
	if cfg.Hashing == (Hashing{}) {
		cfg.Hashing = DefaultHashing
	}
	if cfg.Hasher == nil {
		cfg.Hasher = LocalHasher{}
	}
	if cfg.Hashers <= 0 {
		cfg.Hashers = DefaultHashers
	}
	if cfg.HashWait <= 0 {
		cfg.HashWait = DefaultHashWait
	}
	if cfg.BackoffAfter <= 0 {
		cfg.BackoffAfter = DefaultBackoffAfter
	}
	if cfg.LockAfter <= 0 {
		cfg.LockAfter = DefaultLockAfter
	}
	if cfg.LockFor <= 0 {
		cfg.LockFor = DefaultLockFor
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	acc, err := OpenAccounts(cfg.Dir, cfg.Now)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, accounts: acc, hashers: make(chan struct{}, cfg.Hashers),
		dummy: sync.OnceValue(func() string { return hashPassword(NewPassword(), cfg.Hashing) }), boot: []byte(cfg.BootstrapToken),
		sessions: map[[32]byte]*session{}, failures: map[string]*failure{},
		lastSignIn: map[string]time.Time{}, tokenUsed: map[string]time.Time{},
	}
	if err := s.loadSessions(); err != nil {
		return nil, err
	}
	return s, nil
}

// Accounts is the accounts file the service reads.
func (s *Service) Accounts() *Accounts { return s.accounts }

// Hashing is the cost new passwords are hashed with.
func (s *Service) Hashing() Hashing { return s.cfg.Hashing }

// SessionIdle is the idle timeout of a session.
func (s *Service) SessionIdle() time.Duration { return s.cfg.SessionIdle }

// Run reloads the accounts file when another process changed it (within a
// second) and sweeps ended sessions, until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	sweep, saved := s.cfg.Now(), s.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			s.saveSessions()
			return
		case <-t.C:
		}
		if now := s.cfg.Now(); now.Sub(saved) >= saveEvery {
			saved = now
			s.mu.Lock()
			dirty := s.dirty
			s.mu.Unlock()
			if dirty {
				s.saveSessions()
			}
		}
		if changed, err := s.accounts.Reload(); err != nil {
			s.cfg.Logger.Error("accounts file does not read; keeping the accounts as they were", "err", err)
		} else if changed {
			s.cfg.Logger.Info("accounts reloaded", "file", s.accounts.Path())
		}
		if now := s.cfg.Now(); now.Sub(sweep) >= time.Minute {
			sweep = now
			s.mu.Lock()
			for k, ss := range s.sessions {
				if s.ended(ss, now) {
					delete(s.sessions, k)
				}
			}
			// A failure long past, not locking anything, is forgotten:
			// names tried at random do not pile up.
			for k, f := range s.failures {
				if !f.inFlight && now.After(f.until) && now.Sub(f.last) > s.cfg.LockFor {
					delete(s.failures, k)
				}
			}
			s.mu.Unlock()
		}
	}
}

// EnsureFirstAdmin makes the first admin, with a one-time password written
// to <dir>/admin.password, when there is no account at all. It answers that
// file while it exists (the password not yet changed), else "".
func (s *Service) EnsureFirstAdmin() (file string, made bool, err error) {
	file = filepath.Join(s.cfg.Dir, FirstAdminFile)
	if len(s.accounts.Users()) == 0 {
		pw := NewPassword()
		if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
			return "", false, fmt.Errorf("first admin: %w", err)
		}
		if err := s.accounts.AddUser(FirstAdmin, Admin, pw, true, s.cfg.Hashing); err != nil {
			return "", false, fmt.Errorf("first admin: %w", err)
		}
		return file, true, nil
	}
	if _, err := os.Stat(file); err != nil {
		return "", false, nil
	}
	return file, false, nil
}

// Authenticate says who makes the call: a Bearer token (the bootstrap token
// or an API token) or else the session cookie.
func (s *Service) Authenticate(r *http.Request) (Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := bearer.Token(h)
		if !ok {
			return Principal{}, ErrBadToken
		}
		return s.Bearer(tok)
	}
	c, err := r.Cookie(wire.SessionCookie)
	if err != nil || c.Value == "" {
		return Principal{}, ErrNoCredentials
	}
	return s.Session(c.Value)
}

// Bearer authenticates a Bearer token.
func (s *Service) Bearer(tok string) (Principal, error) {
	if len(s.boot) > 0 && subtle.ConstantTimeCompare([]byte(tok), s.boot) == 1 {
		return Principal{Kind: Bootstrap, Name: "admin", Role: Admin}, nil
	}
	rec, ok := s.accounts.token(tok)
	if !ok {
		return Principal{}, ErrBadToken
	}
	s.mu.Lock()
	s.tokenUsed[rec.ID] = s.cfg.Now()
	s.mu.Unlock()
	return Principal{Kind: Machine, Name: rec.Name, Role: rec.Role, tokenID: rec.ID}, nil
}

// Session authenticates a session cookie's value; the call counts as the
// session's activity.
func (s *Service) Session(cookie string) (Principal, error) {
	key := sha256.Sum256([]byte(cookie))
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[key]
	if !ok {
		return Principal{}, ErrSessionEnded
	}
	u, found := s.accounts.User(ss.user)
	if !found || u.Disabled || (u.Gen != ss.gen && !ss.changing) || s.ended(ss, now) {
		delete(s.sessions, key)
		return Principal{}, ErrSessionEnded
	}
	ss.lastSeen = now
	s.dirty = true
	return Principal{Kind: Person, Name: u.Name, Role: u.Role, MustChange: u.MustChange, sess: ss, key: key}, nil
}

func (s *Service) ended(ss *session, now time.Time) bool {
	return now.Sub(ss.lastSeen) >= s.cfg.SessionIdle || now.Sub(ss.created) >= s.cfg.SessionMax
}

// Valid reports whether p's credentials still hold — the session has not
// ended, the token is not revoked — without counting as activity: an open
// stream keeps no session alive.
func (s *Service) Valid(p Principal) bool {
	switch p.Kind {
	case Bootstrap:
		return true
	case Machine:
		s.accounts.mu.RLock()
		defer s.accounts.mu.RUnlock()
		t, ok := s.accounts.tokens[p.tokenID]
		return ok && t.Revoked == 0
	case Person:
		u, found := s.accounts.User(p.Name)
		s.mu.Lock()
		defer s.mu.Unlock()
		ss, ok := s.sessions[p.key]
		return ok && ss == p.sess && found && !u.Disabled && (u.Gen == ss.gen || ss.changing) && !s.ended(ss, s.cfg.Now())
	}
	return false
}

// CSRFOK reports whether token is the CSRF token of p's session.
func (s *Service) CSRFOK(p Principal, token string) bool {
	if p.sess == nil {
		return true
	}
	s.mu.Lock()
	want := p.sess.csrf
	s.mu.Unlock()
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1
}

// Describe is what GET /api/session answers for p.
func (s *Service) Describe(p Principal) wire.Session {
	out := wire.Session{Name: p.Name, Role: p.Role.String(), MustChange: p.MustChange}
	if p.sess == nil {
		out.Token = true
		return out
	}
	s.mu.Lock()
	out.CSRF = p.sess.csrf
	out.Expires = p.sess.created.Add(s.cfg.SessionMax).UnixMilli()
	s.mu.Unlock()
	out.IdleS = int64(s.cfg.SessionIdle / time.Second)
	return out
}

// hash runs f with one of the hashers, waiting at most HashWait.
func (s *Service) hash(ctx context.Context, f func()) error {
	t := time.NewTimer(s.cfg.HashWait)
	defer t.Stop()
	select {
	case s.hashers <- struct{}{}:
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashers }()
	f()
	return nil
}

// SignIn checks a name and password and, if they match an enabled account,
// starts a session: it answers the principal and the cookie's value. Failures
// back off and lock the name (and back off the address); every failure is
// logged.
func (s *Service) SignIn(ctx context.Context, name, password, addr string) (Principal, string, error) {
	name = NormalName(name)
	host := hostOf(addr)
	if err := s.admit(name, host); err != nil {
		return Principal{}, "", err
	}
	u, found := s.accounts.User(name)
	hash := ""
	if !found {
		hash = s.dummy()
	} else {
		hash = u.Hash
	}
	match, herr := s.check(ctx, password, hash)
	if herr != nil && !errors.Is(herr, errBadHash) {
		s.release(name, host)
		return Principal{}, "", herr
	}
	if herr != nil {
		s.cfg.Logger.Error("stored password hash does not read", "user", name)
	}
	if !found || u.Disabled || !match || herr != nil {
		s.failed(name, host)
		return Principal{}, "", ErrWrongPassword
	}
	s.succeeded(name, host)

	var raw [32]byte
	_, _ = rand.Read(raw[:])
	cookie := base64.RawURLEncoding.EncodeToString(raw[:])
	key := sha256.Sum256([]byte(cookie))
	now := s.cfg.Now()
	ss := &session{user: u.Name, gen: u.Gen, csrf: randomToken(), addr: addr, created: now, lastSeen: now}
	s.mu.Lock()
	s.sessions[key] = ss
	s.lastSignIn[u.Name] = now
	s.mu.Unlock()
	s.saveSessions()
	s.cfg.Logger.Info("signed in", "user", u.Name, "role", u.Role.String(), "addr", addr)
	return Principal{Kind: Person, Name: u.Name, Role: u.Role, MustChange: u.MustChange, sess: ss, key: key}, cookie, nil
}

func randomToken() string {
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// An address's failures back off like a name's, but later (many people sign
// in from one command centre's NAT) and never lock it.
const addrFactor = 5

// admit refuses an attempt while its name or address backs off or is
// locked, or while another attempt for the name is being checked.
func (s *Service) admit(name, host string) error {
	now := s.cfg.Now()
	u, found := s.accounts.User(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	// A password set since the failures (an admin's reset, also by `hub
	// user passwd`) lifts the name's lock.
	if f := s.failures["user:"+name]; f != nil && !f.inFlight && found && u.PasswordChanged > f.last.UnixMilli() {
		delete(s.failures, "user:"+name)
	}
	for _, k := range []string{"user:" + name, "addr:" + host} {
		f := s.failures[k]
		if f == nil {
			continue
		}
		if now.Before(f.until) {
			return &WaitError{At: f.until, Locked: f.locked}
		}
		if f.inFlight {
			return &WaitError{At: now.Add(time.Second)}
		}
	}
	f := s.failures["user:"+name]
	if f == nil {
		f = &failure{}
		s.failures["user:"+name] = f
	}
	f.inFlight = true
	return nil
}

func (s *Service) release(name, host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.failures["user:"+name]; f != nil {
		f.inFlight = false
		if f.count == 0 {
			delete(s.failures, "user:"+name)
		}
	}
}

func (s *Service) failed(name, host string) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failures["user:"+name]
	if f == nil {
		f = &failure{}
		s.failures["user:"+name] = f
	}
	f.inFlight = false
	f.count++
	f.last = now
	switch {
	case f.count >= s.cfg.LockAfter:
		f.until, f.locked = now.Add(s.cfg.LockFor), true
		s.cfg.Logger.Warn("sign-in locked after failures", "user", name, "addr", host, "failures", f.count, "until", f.until)
	case f.count >= s.cfg.BackoffAfter:
		f.until = now.Add(backoff(f.count - s.cfg.BackoffAfter + 1))
		s.cfg.Logger.Warn("sign-in failed", "user", name, "addr", host, "failures", f.count, "retry_after", f.until.Sub(now))
	default:
		s.cfg.Logger.Warn("sign-in failed", "user", name, "addr", host, "failures", f.count)
	}
	a := s.failures["addr:"+host]
	if a == nil {
		a = &failure{}
		s.failures["addr:"+host] = a
	}
	a.count++
	a.last = now
	if a.count >= s.cfg.BackoffAfter*addrFactor {
		a.until = now.Add(backoff(a.count - s.cfg.BackoffAfter*addrFactor + 1))
		s.cfg.Logger.Warn("sign-ins from address backing off", "addr", host, "failures", a.count, "retry_after", a.until.Sub(now))
	}
}

// backoff is the wait after the n-th failure past the threshold: 2 s, 4 s,
// 8 s… up to 5 min.
func backoff(n int) time.Duration {
	d := 2 * time.Second
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

func (s *Service) succeeded(name, host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failures, "user:"+name)
	delete(s.failures, "addr:"+host)
}

// LockedUntil is when a name's lock ends, or zero.
func (s *Service) LockedUntil(name string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.failures["user:"+NormalName(name)]; f != nil && f.locked && s.cfg.Now().Before(f.until) {
		return f.until
	}
	return time.Time{}
}

// SignOut ends p's session.
func (s *Service) SignOut(p Principal) {
	if p.sess == nil {
		return
	}
	s.mu.Lock()
	delete(s.sessions, p.key)
	s.mu.Unlock()
	s.saveSessions()
	s.cfg.Logger.Info("signed out", "user", p.Name)
}

// ChangePassword changes the signed-in person's own password after checking
// the old one (a wrong one counts as a failed sign-in). Their other sessions
// end; this one stays.
func (s *Service) ChangePassword(ctx context.Context, p Principal, old, new, addr string) error {
	if p.sess == nil {
		return fmt.Errorf("%w: a token has no password; sign in as a person", ErrInvalid)
	}
	if err := checkNewPassword(p.Name, new); err != nil {
		return err
	}
	if old == new {
		return fmt.Errorf("%w: the new password is the old one", ErrInvalid)
	}
	host := hostOf(addr)
	if err := s.admit(p.Name, host); err != nil {
		return err
	}
	u, found := s.accounts.User(p.Name)
	if !found {
		s.release(p.Name, host)
		return ErrSessionEnded
	}
	match, err := s.check(ctx, old, u.Hash)
	if err != nil && !errors.Is(err, errBadHash) {
		s.release(p.Name, host)
		return err
	}
	if !match {
		s.failed(p.Name, host)
		return ErrWrongPassword
	}
	s.succeeded(p.Name, host)
	// Until the new Gen is this session's, its own calls (the dashboard's
	// keep-alive) must not find it ended.
	s.mu.Lock()
	p.sess.changing = true
	s.mu.Unlock()
	var rec UserRecord
	rec, err = s.setPassword(ctx, p.Name, new, false)
	s.mu.Lock()
	p.sess.changing = false
	if err == nil {
		p.sess.gen = rec.Gen
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.saveSessions()
	s.firstAdminChanged(p.Name)
	return nil
}

// firstAdminChanged removes the first admin's password file once that
// password no longer works.
func (s *Service) firstAdminChanged(name string) {
	if name == FirstAdmin {
		_ = os.Remove(filepath.Join(s.cfg.Dir, FirstAdminFile))
	}
}

// AddUser makes an account; an empty password has one made, which is
// answered.
func (s *Service) AddUser(ctx context.Context, name string, role Role, password string, mustChange bool) (string, error) {
	if password == "" {
		password, mustChange = NewPassword(), true
	}
	if err := s.accounts.addUser(name, role, password, mustChange, s.hashNew(ctx)); err != nil {
		return "", err
	}
	return password, nil
}

// hashNew hashes a new password with the configured cost, on a hasher.
func (s *Service) hashNew(ctx context.Context) func(string) (string, error) {
	return func(password string) (string, error) {
		var out string
		var err error
		if herr := s.hash(ctx, func() { out, err = s.cfg.Hasher.Hash(ctx, password, s.cfg.Hashing) }); herr != nil {
			return "", herr
		}
		return out, err
	}
}

// check checks a password against its stored hash, on a hasher.
func (s *Service) check(ctx context.Context, password, encoded string) (bool, error) {
	var ok bool
	var err error
	if herr := s.hash(ctx, func() { ok, err = s.cfg.Hasher.Check(ctx, password, encoded) }); herr != nil {
		return false, herr
	}
	return ok, err
}

func (s *Service) setPassword(ctx context.Context, name, password string, mustChange bool) (UserRecord, error) {
	return s.accounts.setPassword(name, password, mustChange, s.hashNew(ctx))
}

// ResetPassword gives an account a new one-time password (one is made for
// an empty password), ends its sessions and clears its lockout.
func (s *Service) ResetPassword(ctx context.Context, name, password string) (string, error) {
	if password == "" {
		password = NewPassword()
	}
	if _, err := s.setPassword(ctx, name, password, true); err != nil {
		return "", err
	}
	s.mu.Lock()
	delete(s.failures, "user:"+NormalName(name))
	s.mu.Unlock()
	s.firstAdminChanged(NormalName(name))
	return password, nil
}

// UpdateUser changes an account's role or disables it; a person cannot
// disable themselves or give up their own admin role.
func (s *Service) UpdateUser(by Principal, name string, role *Role, disabled *bool) (UserRecord, error) {
	if by.Kind == Person && NormalName(name) == by.Name {
		if (disabled != nil && *disabled) || (role != nil && *role != Admin && by.Role == Admin) {
			return UserRecord{}, fmt.Errorf("%w: you cannot disable yourself or give up your own admin role", ErrConflict)
		}
	}
	return s.accounts.Update(name, role, disabled)
}

// UserInfo is an account as the API lists it.
func (s *Service) UserInfo(u UserRecord) wire.User {
	out := wire.User{Name: u.Name, Role: u.Role.String(), Disabled: u.Disabled, MustChange: u.MustChange,
		Created: u.Created, PasswordChanged: u.PasswordChanged}
	s.mu.Lock()
	if t, ok := s.lastSignIn[u.Name]; ok {
		out.LastSignIn = t.UnixMilli()
	}
	s.mu.Unlock()
	if t := s.LockedUntil(u.Name); !t.IsZero() {
		out.LockedUntil = t.UnixMilli()
	}
	return out
}

// TokenInfo is a token as the API lists it.
func (s *Service) TokenInfo(t TokenRecord) wire.Token {
	out := wire.Token{ID: t.ID, Name: t.Name, Role: t.Role.String(), Created: t.Created, Revoked: t.Revoked}
	s.mu.Lock()
	if at, ok := s.tokenUsed[t.ID]; ok {
		out.LastUsed = at.UnixMilli()
	}
	s.mu.Unlock()
	return out
}

func constantEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
