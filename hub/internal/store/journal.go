package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// JournalName is the units journal inside the data directory: every
// enrolment and revocation, one checksummed JSON line each, appended and
// fsynced beside the database. With hub.db and units.log each holding every
// enrolment, the loss or damage of either file does not lock the fleet out:
// a unit's secret hash survives in the other.
const JournalName = "units.log"

// journalLine is one line of the journal: the unit record as it was written
// to the database, and the CRC-32 (Castagnoli) of its JSON.
type journalLine struct {
	CRC  uint32          `json:"crc"`
	Unit json.RawMessage `json:"unit"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// unitsJournal appends unit records to units.log.
type unitsJournal struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// openJournal opens units.log for appending, creating it if missing.
func openJournal(dir string) (*unitsJournal, error) {
	path := filepath.Join(dir, JournalName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("units journal: %w", err)
	}
	return &unitsJournal{path: path, f: f}, nil
}

func encodeJournalLine(u Unit) ([]byte, error) {
	rec, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	line, err := json.Marshal(journalLine{CRC: crc32.Checksum(rec, castagnoli), Unit: rec})
	if err != nil {
		return nil, err
	}
	return append(line, '\n'), nil
}

// append writes units to the journal and fsyncs it.
func (j *unitsJournal) append(units ...Unit) error {
	var buf bytes.Buffer
	for _, u := range units {
		line, err := encodeJournalLine(u)
		if err != nil {
			return fmt.Errorf("units journal: %w", err)
		}
		buf.Write(line)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("units journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("units journal: %w", err)
	}
	return nil
}

func (j *unitsJournal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Close()
}

// readJournal returns the latest record of every unit in the journal at
// path, and how many lines it had to skip as damaged (a torn last line, a
// checksum that does not match, a record that does not check). A missing
// journal is empty.
func readJournal(path string) (units map[string]Unit, damaged int, err error) {
	units = make(map[string]Unit)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return units, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("units journal: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for {
		line, rerr := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			// Lines are in the order they were written: the last is the
			// unit's state.
			if u, ok := decodeJournalLine(line); ok {
				units[u.ID] = u
			} else {
				damaged++
			}
		}
		if rerr == io.EOF {
			return units, damaged, nil
		}
		if rerr != nil {
			return nil, 0, fmt.Errorf("units journal: %w", rerr)
		}
	}
}

func decodeJournalLine(line []byte) (Unit, bool) {
	var jl journalLine
	if json.Unmarshal(line, &jl) != nil || crc32.Checksum(jl.Unit, castagnoli) != jl.CRC {
		return Unit{}, false
	}
	var u Unit
	if json.Unmarshal(jl.Unit, &u) != nil || u.check() != nil {
		return Unit{}, false
	}
	return u, true
}

// later reports whether a is a later state of a unit than b, where the
// database and the journal disagree (one was damaged, or a journal write
// failed): the record whose last step (enrolment, secret rotation or
// revocation) is latest;
// at a tie, the revocation, so a damaged file never lets a revoked device
// back in.
func later(a, b Unit) bool {
	return a.lastStep() > b.lastStep() || a.lastStep() == b.lastStep() && a.Revoked != 0 && b.Revoked == 0
}

func (u Unit) lastStep() int64 { return max(u.Enrolled, u.Revoked, u.SecretSet) }
