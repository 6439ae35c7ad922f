package store

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"kuaifan/protocol"
)

// fleetOf enrols car-1..car-3, revokes car-2 and enrols car-3 again (a new
// device): the states a lost file must not undo.
func fleetOf(t *testing.T, dir string) []Unit {
	t.Helper()
	s, err := Open(Config{Dir: dir, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []string{"car-1", "car-2", "car-3"} {
		if err := s.CreateUnit(testUnit(id, protocol.TypeCar)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RevokeUnit("car-2", now.Add(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeUnit("car-3", now.Add(2)); err != nil {
		t.Fatal(err)
	}
	again := testUnit("car-3", protocol.TypeCar)
	again.SecretHash, again.Enrolled = strings.Repeat("cd", 32), now.Add(3).UnixMilli()
	if err := s.CreateUnit(again); err != nil {
		t.Fatal(err)
	}
	units, err := s.Units()
	if err != nil {
		t.Fatal(err)
	}
	return units
}

func sameUnits(t *testing.T, what string, got, want []Unit) {
	t.Helper()
	if !slices.EqualFunc(got, want, func(a, b Unit) bool {
		return a.ID == b.ID && a.SecretHash == b.SecretHash && a.Revoked == b.Revoked && a.Enrolled == b.Enrolled
	}) {
		t.Errorf("%s: units = %+v\nwant %+v", what, got, want)
	}
}

// Enrolments survive the loss of either file, and the lost one is made
// whole again at the next start, so a second loss is survived too.
func TestEnrolmentsSurviveTheLossOfEitherFile(t *testing.T) {
	for _, lose := range []string{FileName, JournalName} {
		t.Run(lose, func(t *testing.T) {
			dir := t.TempDir()
			want := fleetOf(t, dir)
			if err := os.Remove(filepath.Join(dir, lose)); err != nil {
				t.Fatal(err)
			}
			s := open(t, dir)
			got, err := s.Units()
			if err != nil {
				t.Fatal(err)
			}
			sameUnits(t, "after losing "+lose, got, want)
			s.Close()

			// The other file now: what the first start rebuilt carries it.
			other := map[string]string{FileName: JournalName, JournalName: FileName}[lose]
			if err := os.Remove(filepath.Join(dir, other)); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir)
			got, err = s.Units()
			if err != nil {
				t.Fatal(err)
			}
			sameUnits(t, "after losing "+other+" next", got, want)
		})
	}
}

// damageValue overwrites part of a record's value inside hub.db without
// changing its length: the file stays loadable, the record does not decode
// or check.
func damageValue(t *testing.T, dir, old, new string) {
	t.Helper()
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != len(new) || !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%q not in %s, or %q not the same length", old, path, new)
	}
	// The last copy: the record the database holds now.
	i := bytes.LastIndex(data, []byte(old))
	copy(data[i:], new)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A record whose value is damaged is skipped and reported, never a reason
// to stop: a unit record is taken from the journal (or, if the journal lost
// it too, the unit is listed to be enrolled again), a live record is
// replaced by one that trusts no seq.
func TestDamagedRecordsAreSkippedAndReported(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		dropJournal    bool
		wantUnits      []string
		wantReenrol    []string
		wantNote       string
	}{
		{name: "callsign with a newline", old: `"callsign":"c18"`, new: `"callsign":"c1` + "\n" + `"`,
			wantUnits: []string{"car-1", "car-2", "car-3"}, wantNote: "journal's record is used"},
		{name: "secret hash damaged", old: `"secret_hash":"abab`, new: `"secret_hash":"ab#b`,
			wantUnits: []string{"car-1", "car-2", "car-3"}, wantNote: "journal's record is used"},
		{name: "journal lost too", old: `"callsign":"c18"`, new: `"callsign":"c1` + "\n" + `"`, dropJournal: true,
			wantUnits: []string{"car-1", "car-2"}, wantReenrol: []string{"car-3"}, wantNote: "must be enrolled again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			for _, id := range []string{"car-1", "car-2", "car-3"} {
				u := testUnit(id, protocol.TypeCar)
				if id == "car-3" {
					u.Callsign = "c18"
				}
				if err := s.CreateUnit(u); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			if tc.dropJournal {
				os.Remove(filepath.Join(dir, JournalName))
			}
			if tc.name == "secret hash damaged" {
				// Only car-3's: the last unit record written.
				damageValue(t, dir, `"car-3","type":"car","callsign":"c18","secret_hash":"abab`, `"car-3","type":"car","callsign":"c18","secret_hash":"ab#b`)
			} else {
				damageValue(t, dir, tc.old, tc.new)
			}

			s = open(t, dir)
			units, err := s.Units()
			if err != nil {
				t.Fatalf("Units: %v (a damaged record must not stop the store)", err)
			}
			var ids []string
			for _, u := range units {
				ids = append(ids, u.ID)
				if u.SecretHash != strings.Repeat("ab", 32) {
					t.Errorf("%s: secret hash %q", u.ID, u.SecretHash)
				}
			}
			if !slices.Equal(ids, tc.wantUnits) {
				t.Errorf("units %v, want %v", ids, tc.wantUnits)
			}
			if got := s.Reenrol(); !slices.Equal(got, tc.wantReenrol) {
				t.Errorf("to enrol again: %v, want %v", got, tc.wantReenrol)
			}
			if d := s.Damage(); len(d) != 1 || !strings.Contains(d[0], tc.wantNote) || s.Damaged() != 1 {
				t.Errorf("damage = %q (%d), want one note saying %q", d, s.Damaged(), tc.wantNote)
			}
		})
	}
}

func TestDamagedLiveRecordTrustsNoSeq(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.CreateUnit(testUnit("u1", protocol.TypeCar))
	b := &Batch{Lives: map[string]Live{"u1": {Status: protocol.StatusAvailable, Seqs: []protocol.Range{{1, 9}}}}}
	if _, err := s.Commit(b, now); err != nil {
		t.Fatal(err)
	}
	s.Close()
	damageValue(t, dir, `"seqs":[[1,9]]`, `"seqs":[[1,9}]`)

	s = open(t, dir)
	lives, err := s.Lives()
	if err != nil {
		t.Fatalf("Lives: %v", err)
	}
	if l := lives["u1"]; l.SeqFloor != math.MaxUint64 || len(l.Seqs) != 0 || l.Fix != nil {
		t.Errorf("damaged live record read as %+v, want one that trusts no seq", l)
	}
	if s.Damaged() != 1 {
		t.Errorf("damage = %q", s.Damage())
	}
}

// A revocation the database lost (its record rolled back by damage) stands
// from the journal, and is written back: a revoked device never comes back
// in because one file was damaged.
func TestRevocationInEitherFileStands(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	u := testUnit("stolen", protocol.TypeFoot)
	s.CreateUnit(u)
	s.Close()
	enrolled, _ := os.ReadFile(filepath.Join(dir, FileName))

	s = open(t, dir)
	if _, err := s.RevokeUnit("stolen", now.Add(1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The database as it was before the revocation: the journal has it.
	os.WriteFile(filepath.Join(dir, FileName), enrolled, 0o600)

	s = open(t, dir)
	units, _ := s.Units()
	if len(units) != 1 || units[0].Revoked == 0 {
		t.Fatalf("units = %+v, want stolen revoked", units)
	}
	if err := s.CreateUnit(testUnit("stolen", protocol.TypeFoot)); err != nil {
		t.Errorf("enrolling the revoked unit again: %v (the database must know it is revoked)", err)
	}
}

// A damaged position costs that position, not the unit's track.
func TestDamagedPositionIsSkipped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.CreateUnit(testUnit("u1", protocol.TypeCar))
	b := &Batch{}
	for i, lat := range []float64{28.1, 28.2345, 28.3} {
		b.Points = append(b.Points, UnitPosition{Unit: "u1", Position: Position{Seq: uint64(i + 1), TS: now.UnixMilli() + int64(i),
			Lat: lat, Lon: 112.9, Status: protocol.StatusAvailable}})
	}
	commitV1(t, s, b) // a v1 hub.db: the damaged record stays there when the rest moves to the history
	s.Close()
	damageValue(t, dir, "28.2345,112.9,a", "28.2345,112.9,?")

	s = open(t, dir)
	for range 2 { // read twice: counted once
		track, err := s.Track("u1", 0, math.MaxInt64, 10)
		if err != nil {
			t.Fatalf("Track: %v", err)
		}
		if len(track) != 2 || track[0].Seq != 1 || track[1].Seq != 3 {
			t.Errorf("track = %+v, want seqs 1 and 3", track)
		}
	}
	if s.Damaged() != 1 {
		t.Errorf("damage = %q", s.Damage())
	}
}
