package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/buntdb"

	"kuaifan/hub/internal/history"

	"kuaifan/protocol"
)

// Unit is an enrolled device. SecretHash is the SHA-256 of its MQTT password:
// the secret itself is shown once at enrolment and never stored.
type Unit struct {
	ID           string            `json:"id"`
	Type         protocol.UnitType `json:"type"`
	Callsign     string            `json:"callsign,omitempty"`
	Capabilities []string          `json:"capabilities,omitempty"`
	SecretHash   string            `json:"secret_hash"`
	Enrolled     int64             `json:"enrolled"`          // Unix ms
	Revoked      int64             `json:"revoked,omitempty"` // Unix ms; 0 while active
	// Protocol is how the unit reports (api.ReportProtocol, additive
	// 2026-12); "" in records written before it, which means kuaifan.
	Protocol string `json:"protocol,omitempty"`
	// SecretSet is when SecretHash was last replaced by a rotation, Unix ms
	// (additive, 2026-12); 0: the enrolment's secret.
	SecretSet int64 `json:"secret_set,omitempty"`
	// BcryptHash and MosquittoHash are the same secret hashed for external
	// brokers (additive, 2026-12; hub/internal/brokerconf): bcrypt for NATS
	// and EMQX, Mosquitto 2's password-file hash. Absent in records written
	// before, and never checked here: a unit without them needs a rotation
	// before an external broker can admit it.
	BcryptHash    string `json:"bcrypt_hash,omitempty"`
	MosquittoHash string `json:"mosquitto_hash,omitempty"`
}

// Secret is a unit's secret as the store keeps it: hashes only.
type Secret struct {
	Hash          string // SHA-256, hex: what the hub checks (Unit.SecretHash)
	BcryptHash    string // for external brokers; "" leaves the record without one
	MosquittoHash string
}

// Position is one fix as stored in a unit's history and as its latest.
type Position struct {
	Seq        uint64          `json:"seq"`
	TS         int64           `json:"ts"`
	Lat        float64         `json:"lat"`
	Lon        float64         `json:"lon"`
	Status     protocol.Status `json:"status"`
	AccM       *float64        `json:"acc_m,omitempty"`
	SpeedMPS   *float64        `json:"speed_mps,omitempty"`
	HeadingDeg *float64        `json:"heading_deg,omitempty"`
	Battery    *float64        `json:"battery,omitempty"`
}

// PositionOf is the stored form of a telemetry message.
func PositionOf(t protocol.Telemetry) Position {
	return Position{Seq: t.Seq, TS: t.TS, Lat: t.Lat, Lon: t.Lon, Status: t.Status,
		AccM: t.AccM, SpeedMPS: t.SpeedMPS, HeadingDeg: t.HeadingDeg, Battery: t.Battery}
}

// Newer reports whether p is a later fix than q: by time, then by sequence.
func (p Position) Newer(q Position) bool {
	return p.TS > q.TS || p.TS == q.TS && p.Seq > q.Seq
}

// Live is what the hub keeps of a unit between restarts: its latest fix, its
// status and when that was set, and the sequence numbers it has committed
// (so a message resent after a restart is still recognised as a duplicate).
// Seqs is exact from SeqFloor up; below it, only the history knows.
type Live struct {
	Fix      *Position        `json:"fix,omitempty"`
	Status   protocol.Status  `json:"status,omitempty"`
	StatusTS int64            `json:"status_ts,omitempty"`
	Seqs     []protocol.Range `json:"seqs,omitempty"`
	SeqFloor uint64           `json:"seq_floor,omitempty"`
}

// Batch is one group commit: history to append and live records to replace.
type Batch struct {
	Points []UnitPosition
	Events []protocol.Event
	Lives  map[string]Live
}

// UnitPosition is a history point of one unit.
type UnitPosition struct {
	Unit string
	Position
}

// Key schema. Ids never contain ':' so a unit's keys form one contiguous range.
func unitKey(id string) string { return "unit:" + id }
func liveKey(id string) string { return "live:" + id }

// CreateUnit enrols u. An active unit with the same id is ErrExists; a revoked
// one is enrolled again (a replaced device keeps its history).
func (s *Store) CreateUnit(u Unit) error {
	if err := u.check(); err != nil {
		return fmt.Errorf("store: unit %s: %w", u.ID, err)
	}
	err := s.update([]string{unitKey(u.ID)}, func(tx *buntdb.Tx) error {
		if v, err := tx.Get(unitKey(u.ID)); err == nil {
			var old Unit
			if json.Unmarshal([]byte(v), &old) == nil && old.Revoked == 0 {
				return fmt.Errorf("unit %s: %w", u.ID, ErrExists)
			}
		}
		return setJSON(tx, unitKey(u.ID), u, nil)
	})
	if err != nil {
		return err
	}
	return s.journal(u)
}

// RevokeUnit marks a unit revoked at the given time.
func (s *Store) RevokeUnit(id string, at time.Time) (Unit, error) {
	var u Unit
	err := s.update([]string{unitKey(id)}, func(tx *buntdb.Tx) error {
		v, err := tx.Get(unitKey(id))
		if errors.Is(err, buntdb.ErrNotFound) {
			return fmt.Errorf("unit %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(v), &u); err != nil {
			return fmt.Errorf("unit %s: %w", id, err)
		}
		if u.Revoked != 0 {
			return fmt.Errorf("unit %s: %w", id, ErrNotFound)
		}
		// Never before a rotation it follows (see RotateSecret), so that
		// reconcileUnits cannot take the rotation for the later record.
		u.Revoked = max(at.UnixMilli(), u.lastStep())
		return setJSON(tx, unitKey(id), u, nil)
	})
	if err != nil {
		return u, err
	}
	return u, s.journal(u)
}

// RotateSecret replaces an active unit's secret hashes — all of them, so no
// broker hash of the old secret stays — durably (database and journal)
// before it returns. An unknown unit is ErrNotFound, a revoked one
// ErrRevoked.
func (s *Store) RotateSecret(id string, secret Secret, at time.Time) (Unit, error) {
	var u Unit
	err := s.update([]string{unitKey(id)}, func(tx *buntdb.Tx) error {
		v, err := tx.Get(unitKey(id))
		if errors.Is(err, buntdb.ErrNotFound) {
			return fmt.Errorf("unit %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(v), &u); err != nil {
			return fmt.Errorf("unit %s: %w", id, err)
		}
		if u.Revoked != 0 {
			return fmt.Errorf("unit %s: %w", id, ErrRevoked)
		}
		// Strictly later than the record it replaces, so that reconcileUnits
		// tells the two apart even within one millisecond.
		u.SecretHash, u.SecretSet = secret.Hash, max(at.UnixMilli(), u.lastStep()+1)
		u.BcryptHash, u.MosquittoHash = secret.BcryptHash, secret.MosquittoHash
		if err := u.check(); err != nil {
			return fmt.Errorf("unit %s: %w", id, err)
		}
		return setJSON(tx, unitKey(id), u, nil)
	})
	if err != nil {
		return Unit{}, err
	}
	return u, s.journal(u)
}

// journal appends a unit's new state to units.log. The database has it
// already; a journal that cannot be written leaves the enrolment standing
// but no longer doubly kept, which Damage reports.
func (s *Store) journal(u Unit) error {
	if err := s.units.append(u); err != nil {
		s.noteDamage(fmt.Sprintf("%s not written (%v): enrolments are kept in %s only until the next start", JournalName, err, FileName))
		s.cfg.Logger.Error("store: units journal not written", "unit", u.ID, "err", err)
	}
	return nil
}

// check reports what makes a stored unit record unusable: an id, a type
// and a secret hash the fleet can verify against.
func (u Unit) check() error {
	switch {
	case !protocol.ValidUnitID(u.ID):
		return errors.New("bad id")
	case !u.Type.Valid():
		return fmt.Errorf("bad type %q", u.Type)
	case len(u.SecretHash) != 64 || strings.Trim(u.SecretHash, "0123456789abcdef") != "":
		return errors.New("secret_hash is not a SHA-256 in hex")
	case u.Enrolled <= 0:
		return errors.New("no enrolment time")
	}
	return nil
}

// reconcileUnits brings the database and the units journal together at
// Open: each unit's latest state in either (so a revocation recorded in only
// one of them stands) is written to both. A record that does not decode or
// check is skipped and reported by Damage; a unit whose record is damaged in
// the database and absent from the journal needs enrolling again (Reenrol).
func (s *Store) reconcileUnits() error {
	byID, damaged, err := readJournal(s.units.path)
	if err != nil {
		return fmt.Errorf("store: units: %w", err)
	}
	if damaged > 0 {
		s.noteDamage(fmt.Sprintf("%s: %d damaged lines skipped", JournalName, damaged))
	}
	inJournal := len(byID)
	var missing []Unit          // in the database, not (so) in the journal: to be journalled
	fromDB := map[string]Unit{} // readable database records
	err = s.db.View(func(tx *buntdb.Tx) error {
		return ascendPrefix(tx, "unit:", func(key, val string) error {
			id := key[len("unit:"):]
			var u Unit
			err := json.Unmarshal([]byte(val), &u)
			if err == nil {
				err = u.check()
			}
			if err == nil && u.ID != id {
				err = fmt.Errorf("record of unit %q", u.ID)
			}
			if err != nil {
				if _, ok := byID[id]; ok {
					s.noteDamage(fmt.Sprintf("%s: %v; the units journal's record is used", clipKey(key), err))
				} else {
					s.noteDamage(fmt.Sprintf("%s: %v; unit %s must be enrolled again", clipKey(key), err, clipKey(id)))
					s.reenrol = append(s.reenrol, id)
				}
				return nil
			}
			fromDB[id] = u
			if j, ok := byID[id]; !ok || later(u, j) {
				byID[id] = u
				missing = append(missing, u)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store: units: %w", err)
	}
	// A journal lost or behind (written before it existed, or a write that
	// failed) is made whole again, so the next loss of either file is
	// survived too.
	if len(missing) > 0 {
		if err := s.units.append(missing...); err != nil {
			s.noteDamage(fmt.Sprintf("%s not written (%v)", JournalName, err))
		} else if inJournal > 0 {
			s.cfg.Logger.Warn("store: units journal was behind the database; brought up to date", "units", len(missing))
		}
	}
	// The database is made whole from the journal too: a unit it lost, or
	// a revocation it lost, is written back, so enrolling and revoking
	// work on what the fleet loads.
	var behind []Unit
	for id, u := range byID {
		if d, ok := fromDB[id]; !ok || later(u, d) {
			behind = append(behind, u)
		}
	}
	if len(behind) > 0 {
		keys := make([]string, len(behind))
		for i, u := range behind {
			keys[i] = unitKey(u.ID)
		}
		err := s.update(keys, func(tx *buntdb.Tx) error {
			for _, u := range behind {
				if err := setJSON(tx, unitKey(u.ID), u, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: units: restoring from %s: %w", JournalName, err)
		}
		s.cfg.Logger.Warn("store: unit records restored from the units journal", "units", len(behind))
	}
	return nil
}

// Units returns every unit ever enrolled, revoked ones included. A record
// that does not decode or check is left out: Open reported it (Damage), and
// its unit is to be enrolled again (Reenrol).
func (s *Store) Units() ([]Unit, error) {
	var units []Unit
	err := s.db.View(func(tx *buntdb.Tx) error {
		return ascendPrefix(tx, "unit:", func(key, val string) error {
			var u Unit
			if json.Unmarshal([]byte(val), &u) == nil && u.check() == nil && unitKey(u.ID) == key {
				units = append(units, u)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: units: %w", err)
	}
	return units, nil
}

// Lives returns every unit's live record by unit id. A record that does not
// decode is reported by Damage and replaced by one that knows nothing: no
// position, and every seq below its floor, so each resent report is looked
// up in the history rather than trusted or refused.
func (s *Store) Lives() (map[string]Live, error) {
	lives := make(map[string]Live)
	err := s.db.View(func(tx *buntdb.Tx) error {
		return ascendPrefix(tx, "live:", func(key, val string) error {
			var l Live
			if err := json.Unmarshal([]byte(val), &l); err != nil {
				s.noteDamage(fmt.Sprintf("%s: %v; its position is unknown until it reports", clipKey(key), err))
				l = Live{SeqFloor: math.MaxUint64}
			}
			lives[key[len("live:"):]] = l
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: live state: %w", err)
	}
	return lives, nil
}

// Damage lists the damaged records the store has met since it opened, and
// whatever keeps it from holding enrolments twice: empty when all is well.
func (s *Store) Damage() []string {
	s.damageMu.Lock()
	d := slices.Clone(s.damage)
	s.damageMu.Unlock()
	if s.hist != nil {
		for _, note := range s.hist.Damage() {
			d = append(d, "history: "+note)
		}
	}
	return d
}

// Reenrol lists the units whose enrolment was lost to damage: their devices
// cannot sign in until an operator enrols them again.
func (s *Store) Reenrol() []string {
	s.damageMu.Lock()
	defer s.damageMu.Unlock()
	return slices.Clone(s.reenrol)
}

// maxDamageNotes bounds what Damage keeps: the count goes on.
const maxDamageNotes = 100

func (s *Store) noteDamage(note string) {
	s.damageMu.Lock()
	defer s.damageMu.Unlock()
	if slices.Contains(s.damage, note) {
		return // the same record read again
	}
	s.damaged++
	if len(s.damage) < maxDamageNotes {
		s.damage = append(s.damage, note)
	}
}

// Damaged is how many damaged records the store has met since it opened.
func (s *Store) Damaged() int {
	s.damageMu.Lock()
	n := s.damaged
	s.damageMu.Unlock()
	if s.hist != nil {
		n += s.hist.Damaged()
	}
	return n
}

// clipKey keeps a damaged key short enough to log.
func clipKey(k string) string {
	if len(k) > 80 {
		return fmt.Sprintf("%q…", k[:80])
	}
	return fmt.Sprintf("%q", k)
}

// Live returns one unit's live record; a unit that never reported has none.
func (s *Store) Live(id string) (Live, error) {
	var l Live
	err := s.db.View(func(tx *buntdb.Tx) error {
		v, err := tx.Get(liveKey(id))
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal([]byte(v), &l)
	})
	if err != nil {
		return Live{}, fmt.Errorf("store: live state of %s: %w", id, err)
	}
	return l, nil
}

// Commit writes a batch: its positions and events to the history first
// (pebble, synced), then its live records in one buntdb transaction,
// visible at once and durable after the next Sync. In that order a crash
// between the two leaves history records whose seqs no live record holds
// yet: never confirmed, the agent resends them, and writing a record again
// sets the same (unit, ts, seq) key to the same value. A history write
// that fails fails the commit: nothing of it is confirmed.
// History older than the retention is not written (Prune would drop it at
// once); Commit returns how many records it skipped that way.
func (s *Store) Commit(b *Batch, now time.Time) (expired int, err error) {
	oldestPosition := now.Add(-s.cfg.Retention).UnixMilli()
	oldestEvent := now.Add(-s.cfg.EventRetention).UnixMilli()
	var hb history.Batch
	for _, p := range b.Points {
		if p.TS < oldestPosition {
			expired++
			continue
		}
		hb.Positions = append(hb.Positions, toHistory(p))
	}
	for _, e := range b.Events {
		if e.TS < oldestEvent {
			expired++
			continue
		}
		hb.Events = append(hb.Events, e)
	}
	if len(hb.Positions) > 0 || len(hb.Events) > 0 {
		if err := s.appendHistory(hb); err != nil {
			return 0, s.health.failed(OpCommit, fmt.Errorf("store: commit: %w", err))
		}
	}
	var fnErr error
	err = s.db.Update(func(tx *buntdb.Tx) error {
		fnErr = commitTx(tx, b)
		return fnErr
	})
	switch {
	case err != nil && fnErr != nil:
		return 0, fmt.Errorf("store: commit: %w", err)
	case err != nil:
		// Not confirmed: the agents resend. What reached the file without
		// its marker is a duplicate of their resends, or cut off at start.
		return 0, s.health.failed(OpCommit, fmt.Errorf("store: commit: %w", err))
	}
	return expired, nil
}

// commitTx writes a batch's live records in tx.
func commitTx(tx *buntdb.Tx, b *Batch) error {
	// One encoder and buffer for the batch's live records: a record then
	// costs one allocation, the string buntdb keeps.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for id, l := range b.Lives {
		buf.Reset()
		if err := enc.Encode(l); err != nil {
			return fmt.Errorf("%s: %w", liveKey(id), err)
		}
		val := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if _, _, err := tx.Set(liveKey(id), string(val), nil); err != nil {
			return err
		}
	}
	return nil
}

func setJSON(tx *buntdb.Tx, key string, v any, opts *buntdb.SetOptions) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	_, _, err = tx.Set(key, string(b), opts)
	return err
}

// ascendPrefix visits every key starting with prefix, in key order.
func ascendPrefix(tx *buntdb.Tx, prefix string, fn func(key, val string) error) error {
	var ferr error
	err := tx.AscendGreaterOrEqual("", prefix, func(key, val string) bool {
		if len(key) < len(prefix) || key[:len(prefix)] != prefix {
			return false
		}
		ferr = fn(key, val)
		return ferr == nil
	})
	if err != nil {
		return err
	}
	return ferr
}
