// Package fleet is the hub's live picture of every enrolled unit: who it is,
// where it is, its status and whether it is online. It keeps that picture in
// memory for fast reads, durably in the store, and spatially in the match
// index, and it is the only writer of all three.
package fleet

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"kuaifan/hub/internal/brokerconf"
	"kuaifan/hub/internal/clip"
	"kuaifan/hub/internal/match"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// Errors returned by Fleet; ErrInvalid wraps a message meant for the caller.
var (
	ErrInvalid  = errors.New("invalid")
	ErrExists   = store.ErrExists
	ErrNotFound = store.ErrNotFound
	ErrRevoked  = store.ErrRevoked
)

// Config wires a fleet to its store.
type Config struct {
	Store        *store.Store
	Match        match.Config
	MaxSeqRanges int // per unit; default 1024 (see protocol.Ranges.Trim)
	Logger       *slog.Logger
	// OnChange, if set, hears which units' views changed (or were removed).
	// It is called after the change is visible and must not block.
	OnChange func(ids ...string)
}

// Fleet is safe for concurrent use. Apply must be called from one goroutine at a time.
type Fleet struct {
	cfg   Config
	store *store.Store
	index *match.Index
	log   *slog.Logger

	mu    sync.RWMutex
	units map[string]*unit

	// indexMu orders the index's updates. It is taken before mu is released,
	// so updates reach the index in the order they were made, while readers
	// of mu (every incoming message asks Known) do not wait for the index.
	indexMu sync.Mutex

	// rotateMu orders rotations: two at once must leave in memory the hash
	// the store kept last.
	rotateMu sync.Mutex

	applyMu sync.Mutex   // one Apply at a time: they share scratch
	scratch applyScratch // guarded by applyMu
}

// unit is the in-memory state of one enrolled unit.
type unit struct {
	meta     store.Unit
	live     store.Live
	online   bool
	boot     string  // of the agent run that last said it is online
	agent    string  // the software it named then ("kuaifan-agent/1.1"), in memory only
	lastSeen int64   // hub time of the last accepted message, Unix ms
	incident string  // the incident the unit is assigned to, if any (dispatch's record)
	reportS  float64 // the reporting interval dispatch last commanded, seconds (0: none since start)
	// reposition is the move-up dispatch sent the unit and it has not
	// finished (dispatch's record, in memory only).
	reposition *api.Reposition
	// The broker's last admitted and refused connection attempts, in
	// memory only (see Connected).
	lastConnect, lastRefused *api.Connection
}

// Open loads the enrolled units and their live records. Every unit starts
// offline: presence is re-learnt from the broker (retained state or reconnects).
func Open(cfg Config) (*Fleet, error) {
	if cfg.Store == nil {
		return nil, errors.New("fleet: no store")
	}
	if cfg.MaxSeqRanges == 0 {
		cfg.MaxSeqRanges = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	index, err := match.NewIndex(cfg.Match)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	f := &Fleet{cfg: cfg, store: cfg.Store, index: index, log: cfg.Logger, units: make(map[string]*unit)}
	metas, err := cfg.Store.Units()
	if err != nil {
		index.Close()
		return nil, fmt.Errorf("fleet: %w", err)
	}
	lives, err := cfg.Store.Lives()
	if err != nil {
		index.Close()
		return nil, fmt.Errorf("fleet: %w", err)
	}
	for _, m := range metas {
		if m.Revoked != 0 {
			continue
		}
		u := &unit{meta: m, live: lives[m.ID]}
		f.units[m.ID] = u
		// The spatial index is not persisted (buntdb issue 86): rebuild it.
		if err := f.index.Upsert(u.matchUnit()); err != nil {
			f.log.Error("fleet: stored position refused by the index", "unit", m.ID, "err", err)
		}
	}
	f.log.Info("fleet loaded", "units", len(f.units))
	return f, nil
}

// Close releases the match index.
func (f *Fleet) Close() error { return f.index.Close() }

func (u *unit) matchUnit() match.Unit {
	m := match.Unit{ID: u.meta.ID, Type: u.meta.Type, Capabilities: u.meta.Capabilities,
		Online: u.online, Status: u.live.Status}
	if u.incident != "" {
		// Taken from the moment it is dispatched, before its own status says so.
		m.Status = protocol.StatusEnroute
	}
	if fix := u.live.Fix; fix != nil {
		m.Lat, m.Lon, m.FixTS = fix.Lat, fix.Lon, fix.TS
	}
	return m
}

// Enrolment is what an operator supplies to enrol a device: the body of
// POST /api/units (kuaifan/protocol/api).
type Enrolment = api.Enrolment

const (
	maxCallsign     = 64
	maxCapabilities = 16
)

// validate reports the first thing wrong with an enrolment.
func validate(e *Enrolment) error {
	if !protocol.ValidUnitID(e.ID) {
		return fmt.Errorf("%w: id %s is not [A-Za-z0-9_-]{1,32}", ErrInvalid, clip.Quote(e.ID))
	}
	if !e.Type.Valid() {
		return fmt.Errorf("%w: type %s is not car, motorcycle, foot or volunteer", ErrInvalid, clip.Quote(string(e.Type)))
	}
	if len(e.Callsign) > maxCallsign {
		return fmt.Errorf("%w: callsign longer than %d bytes", ErrInvalid, maxCallsign)
	}
	if len(e.Capabilities) > maxCapabilities {
		return fmt.Errorf("%w: more than %d capabilities", ErrInvalid, maxCapabilities)
	}
	for _, c := range e.Capabilities {
		if !protocol.ValidCapability(c) {
			return fmt.Errorf("%w: capability %s is not [a-z0-9_-]{1,32}", ErrInvalid, clip.Quote(c))
		}
	}
	if e.Protocol != "" && !e.Protocol.Valid() {
		return fmt.Errorf("%w: protocol %s is not kuaifan, owntracks or osmand", ErrInvalid, clip.Quote(string(e.Protocol)))
	}
	return nil
}

// Enrol registers a unit and returns its MQTT secret, which is not kept: only
// its hash is stored.
func (f *Fleet) Enrol(e Enrolment, now time.Time) (secret string, err error) {
	if err := validate(&e); err != nil {
		return "", err
	}
	caps := slices.Clone(e.Capabilities)
	slices.Sort(caps)
	caps = slices.Compact(caps)
	secret, err = newSecret()
	if err != nil {
		return "", err
	}
	hashes, err := hashSecret(secret)
	if err != nil {
		return "", err
	}
	meta := store.Unit{ID: e.ID, Type: e.Type, Callsign: e.Callsign, Capabilities: caps,
		SecretHash: hashes.Hash, BcryptHash: hashes.BcryptHash, MosquittoHash: hashes.MosquittoHash, Enrolled: now.UnixMilli()}
	if e.Protocol != api.ReportKuaifan {
		meta.Protocol = string(e.Protocol) // kuaifan is stored as "", as before the field existed
	}

	// The store decides whether the id is free; its fsync happens outside mu.
	if err := f.store.CreateUnit(meta); err != nil {
		return "", fmt.Errorf("fleet: enrol: %w", err)
	}
	// A re-enrolled unit keeps what the store remembers of it (its history and
	// committed sequence numbers), so its agent's resends are still recognised.
	live, err := f.store.Live(e.ID)
	if err != nil {
		f.log.Error("fleet: live state of re-enrolled unit unreadable", "unit", e.ID, "err", err)
	}
	u := &unit{meta: meta, live: live}
	f.mu.Lock()
	f.units[e.ID] = u
	f.upsertAndUnlock(u.matchUnit())
	f.log.Info("unit enrolled", "unit", e.ID, "type", e.Type)
	f.changed(e.ID)
	return secret, nil
}

// newSecret is 256 random bits in unpadded base64url (43 characters).
func newSecret() (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("fleet: secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// Rotate gives an active unit a new secret and returns it; like Enrol's, it
// is not kept. The new hash is on disk before Rotate returns, and from then
// on Verify takes only the new secret: a connection already admitted is not
// cut here (the caller decides). An unknown unit is ErrNotFound, a revoked
// one ErrRevoked.
func (f *Fleet) Rotate(id string, now time.Time) (secret string, err error) {
	if !f.Known(id) {
		// Revoked, or never enrolled: the store tells which.
		metas, err := f.store.Units()
		if err != nil {
			return "", fmt.Errorf("fleet: rotate: %w", err)
		}
		if slices.ContainsFunc(metas, func(m store.Unit) bool { return m.ID == id && m.Revoked != 0 }) {
			return "", fmt.Errorf("fleet: unit %s: %w", id, ErrRevoked)
		}
		return "", fmt.Errorf("fleet: unit %s: %w", id, ErrNotFound)
	}
	if secret, err = newSecret(); err != nil {
		return "", err
	}
	hashes, err := hashSecret(secret)
	if err != nil {
		return "", err
	}
	f.rotateMu.Lock()
	defer f.rotateMu.Unlock()
	meta, err := f.store.RotateSecret(id, hashes, now)
	if err != nil {
		return "", fmt.Errorf("fleet: rotate: %w", err)
	}
	f.mu.Lock()
	if u, ok := f.units[id]; ok { // else revoked meanwhile: nothing to verify against
		u.meta = meta
	}
	f.mu.Unlock()
	f.log.Info("unit secret rotated", "unit", id)
	return secret, nil
}

// upsertAndUnlock updates the index and releases mu, handing over to indexMu
// first so the index sees updates in order.
func (f *Fleet) upsertAndUnlock(units ...match.Unit) {
	f.indexMu.Lock()
	f.mu.Unlock()
	defer f.indexMu.Unlock()
	if err := f.index.Upsert(units...); err != nil {
		f.log.Error("fleet: index refused units", "err", err)
	}
}

// hashSecret is every hash the store keeps of a secret: the hub's own and
// the external brokers' (made now: the secret is not kept to make them
// later). Secrets are 256 random bits, so a plain SHA-256 is enough to keep
// them from being read back, and cheap enough for a city's fleet
// reconnecting at once; the brokers' are as cheap as their formats allow
// (brokerconf.UnitBcryptCost).
func hashSecret(secret string) (store.Secret, error) {
	sum := sha256.Sum256([]byte(secret))
	b, err := brokerconf.HashSecret(secret)
	if err != nil {
		return store.Secret{}, fmt.Errorf("fleet: %w", err)
	}
	return store.Secret{Hash: hex.EncodeToString(sum[:]), BcryptHash: b.Bcrypt, MosquittoHash: b.Mosquitto}, nil
}

// BrokerAccounts are the active units that report over MQTT (kuaifan's
// agent; phone apps report over HTTP to a hub on an external broker), by
// id, with their secrets' hashes for external brokers — none for a unit
// enrolled before the hub kept them.
func (f *Fleet) BrokerAccounts() []brokerconf.Account {
	f.mu.RLock()
	accs := make([]brokerconf.Account, 0, len(f.units))
	for id, u := range f.units {
		if u.reportsBy() != api.ReportKuaifan {
			continue
		}
		accs = append(accs, brokerconf.Account{User: id,
			Hashes: brokerconf.Hashes{Bcrypt: u.meta.BcryptHash, Mosquitto: u.meta.MosquittoHash}})
	}
	f.mu.RUnlock()
	slices.SortFunc(accs, func(a, b brokerconf.Account) int { return strings.Compare(a.User, b.User) })
	return accs
}

// Revoke removes a unit: it can no longer authenticate and its messages are
// rejected. Its history stays in the store.
func (f *Fleet) Revoke(id string, now time.Time) error {
	if !f.Known(id) {
		return fmt.Errorf("fleet: unit %s: %w", id, ErrNotFound)
	}
	if _, err := f.store.RevokeUnit(id, now); err != nil {
		return fmt.Errorf("fleet: revoke: %w", err)
	}
	f.mu.Lock()
	delete(f.units, id)
	f.indexMu.Lock()
	f.mu.Unlock()
	f.index.Remove(id)
	f.indexMu.Unlock()
	f.log.Info("unit revoked", "unit", id)
	f.changed(id)
	return nil
}

// Verify reports whether secret is the enrolled secret of an active unit.
// It is the embedded broker's Credentials.
func (f *Fleet) Verify(id, secret string) bool {
	f.mu.RLock()
	var hash string
	u, ok := f.units[id]
	if ok {
		hash = u.meta.SecretHash // Rotate replaces meta under mu
	}
	f.mu.RUnlock()
	if !ok || secret == "" {
		return false
	}
	want, err := hex.DecodeString(hash)
	if err != nil {
		return false
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}

// Connected records an active unit's connection that the broker admitted:
// its peer's address and the time. Unknown ids are ignored, so refused
// strangers cannot grow the fleet's memory. Only memory keeps it: a
// reconnecting fleet would otherwise cost a store write per connection, and
// the broker's log keeps the history. Watchers hear of it with the unit's
// next change (its online state follows at once).
func (f *Fleet) Connected(unit, addr string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.units[unit]; ok {
		u.lastConnect = &api.Connection{Addr: addr, At: at.UnixMilli()}
	}
}

// Refused records a connection attempt under an active unit's id that the
// broker refused, and why (see Connected). It never tells a watcher: an
// attacker's retries must not drive the dashboard's stream.
func (f *Fleet) Refused(unit, addr, reason string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.units[unit]; ok {
		u.lastRefused = &api.Connection{Addr: addr, At: at.UnixMilli(), Reason: reason}
	}
}

// ReportsBy returns how an active unit reports (kuaifan for one enrolled
// before the choice existed) and its current status; ok is false for an
// unknown or revoked unit.
func (f *Fleet) ReportsBy(id string) (p api.ReportProtocol, status protocol.Status, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	u, ok := f.units[id]
	if !ok {
		return "", "", false
	}
	return u.reportsBy(), u.live.Status, true
}

func (u *unit) reportsBy() api.ReportProtocol {
	if u.meta.Protocol == "" {
		return api.ReportKuaifan
	}
	return api.ReportProtocol(u.meta.Protocol)
}

// Known reports whether id is an enrolled, active unit.
func (f *Fleet) Known(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.units[id]
	return ok
}

// View is a unit as the API and the stream show it (kuaifan/protocol/api).
// Position fields are absent until the unit has reported a fix.
type View = api.Unit

func (u *unit) view() View {
	v := View{ID: u.meta.ID, Type: u.meta.Type, Callsign: u.meta.Callsign, Capabilities: u.meta.Capabilities,
		Status: u.live.Status, Online: u.online, LastSeen: u.lastSeen, Incident: u.incident,
		ReportS: u.reportS, Agent: u.agent}
	if v.Capabilities == nil {
		v.Capabilities = []string{}
	}
	if p := u.reportsBy(); p != api.ReportKuaifan {
		v.Protocol = p
	}
	// Copies: a view outlives mu.
	if c := u.lastConnect; c != nil {
		v.LastConnect = new(*c)
	}
	if c := u.lastRefused; c != nil {
		v.LastRefused = new(*c)
	}
	if r := u.reposition; r != nil {
		v.Reposition = new(*r)
	}
	if fix := u.live.Fix; fix != nil {
		v.Lat, v.Lon, v.TS, v.Seq = &fix.Lat, &fix.Lon, &fix.TS, &fix.Seq
		v.AccM, v.SpeedMPS, v.HeadingDeg, v.Battery = fix.AccM, fix.SpeedMPS, fix.HeadingDeg, fix.Battery
	}
	return v
}

// List returns every active unit, by id.
func (f *Fleet) List() []View {
	f.mu.RLock()
	views := make([]View, 0, len(f.units))
	for _, u := range f.units {
		views = append(views, u.view())
	}
	f.mu.RUnlock()
	sort.Slice(views, func(i, j int) bool { return views[i].ID < views[j].ID })
	return views
}

// Views returns the views of the given active units; unknown ids are left out.
func (f *Fleet) Views(ids []string) []View {
	f.mu.RLock()
	defer f.mu.RUnlock()
	views := make([]View, 0, len(ids))
	for _, id := range ids {
		if u, ok := f.units[id]; ok {
			views = append(views, u.view())
		}
	}
	return views
}

// Get returns one active unit.
func (f *Fleet) Get(id string) (View, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	u, ok := f.units[id]
	if !ok {
		return View{}, false
	}
	return u.view(), true
}

// Track returns a unit's stored positions, oldest first. Revoked units keep
// their history; a unit never enrolled is ErrNotFound.
func (f *Fleet) Track(id string, since, until int64, limit int) ([]store.Position, error) {
	if !f.Known(id) {
		metas, err := f.store.Units()
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(metas, func(m store.Unit) bool { return m.ID == id }) {
			return nil, fmt.Errorf("fleet: unit %s: %w", id, ErrNotFound)
		}
	}
	return f.store.Track(id, since, until, limit)
}

// SetIncident records that a unit is assigned to an incident (or, with "",
// that it is free again). Dispatch owns assignments; the fleet only shows
// them and keeps an assigned unit out of matching.
func (f *Fleet) SetIncident(id, incident string) error {
	f.mu.Lock()
	u, ok := f.units[id]
	if ok && u.incident != incident {
		u.incident = incident
		f.upsertAndUnlock(u.matchUnit())
	} else {
		f.mu.Unlock()
	}
	if !ok {
		return fmt.Errorf("fleet: unit %s: %w", id, ErrNotFound)
	}
	f.changed(id)
	return nil
}

// SetReposition records the move-up a unit is on (nil: none), for its
// view; dispatch owns move-ups.
func (f *Fleet) SetReposition(id string, r *api.Reposition) error {
	f.mu.Lock()
	u, ok := f.units[id]
	if ok {
		if r != nil {
			r = new(*r)
		}
		u.reposition = r
	}
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("fleet: unit %s: %w", id, ErrNotFound)
	}
	f.changed(id)
	return nil
}

// SetReport records the reporting interval dispatch commanded a unit
// (seconds), for its view; it changes nothing else.
func (f *Fleet) SetReport(id string, seconds float64) error {
	f.mu.Lock()
	u, ok := f.units[id]
	changed := ok && u.reportS != seconds
	if changed {
		u.reportS = seconds
	}
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("fleet: unit %s: %w", id, ErrNotFound)
	}
	if changed {
		f.changed(id)
	}
	return nil
}

func (f *Fleet) changed(ids ...string) {
	if f.cfg.OnChange != nil && len(ids) > 0 {
		f.cfg.OnChange(ids...)
	}
}

// Match ranks the candidates for a place.
func (f *Fleet) Match(q match.Query) ([]match.Candidate, error) {
	return f.index.Query(q)
}

// Sync makes everything applied so far durable; see store.Store.Sync.
func (f *Fleet) Sync() error { return f.store.Sync() }

// EachFree calls visit for every unit free to respond at now, as matching
// counts them: online, available, not assigned, with a fix no older than
// maxAge. It holds the fleet's read lock: visit must be quick and must not
// call the fleet.
func (f *Fleet) EachFree(now time.Time, maxAge time.Duration, visit func(id string, t protocol.UnitType, lat, lon float64)) {
	since := now.Add(-maxAge).UnixMilli()
	f.mu.RLock()
	defer f.mu.RUnlock()
	for id, u := range f.units {
		fix := u.live.Fix
		if !u.online || u.live.Status != protocol.StatusAvailable || u.incident != "" || fix == nil || fix.TS < since {
			continue
		}
		visit(id, u.meta.Type, fix.Lat, fix.Lon)
	}
}
