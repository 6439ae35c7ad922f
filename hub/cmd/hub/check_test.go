package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
)

// storeWithData writes a store as a hub leaves it: units, batches of positions.
func storeWithData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, err := store.Open(store.Config{Dir: dir, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUnit(store.Unit{ID: "car-1", Type: protocol.TypeCar, SecretHash: strings.Repeat("ab", 32), Enrolled: 1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 200 {
		p := store.Position{Seq: uint64(i + 1), TS: now.UnixMilli() + int64(i), Lat: 28.2, Lon: 112.9, Status: protocol.StatusAvailable}
		if _, err := s.Commit(&store.Batch{Points: []store.UnitPosition{{Unit: "car-1", Position: p}}}, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func run(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := check(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// hub check on a clean store, on a damaged one, -repair, and while a hub holds the directory.
func TestCheckCommand(t *testing.T) {
	dir := storeWithData(t)
	if code, out, errOut := run("-data", dir); code != 0 || !strings.HasSuffix(out, "ok\n") {
		t.Fatalf("clean store: exit %d\n%s%s", code, out, errOut)
	}

	path := filepath.Join(dir, store.FileName)
	data, _ := os.ReadFile(path)
	copy(data[len(data)/2:], "\x00\x00garbage garbage garbage\x00\x00")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run("-data", dir)
	t.Logf("hub check -data DIR (exit %d):\n%s", code, out)
	if code != 1 || !strings.Contains(out, "1 unreadable region") || !strings.Contains(out, "DAMAGED") {
		t.Errorf("damaged store: exit %d", code)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Error("check without -repair changed the file")
	}

	code, out, _ = run("-data", dir, "-repair")
	t.Logf("hub check -data DIR -repair (exit %d):\n%s", code, out)
	if code != 0 || !strings.Contains(out, "repaired: the damaged file is kept as") {
		t.Errorf("repair: exit %d", code)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 1 {
		t.Errorf("damaged file kept as %v", aside)
	}
	if code, out, _ := run("-data", dir); code != 0 || !strings.HasSuffix(out, "ok\n") {
		t.Errorf("after repair: exit %d\n%s", code, out)
	}

	// A running hub holds the directory.
	s, err := store.Open(store.Config{Dir: dir, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if code, _, errOut := run("-data", dir); code != 2 || !strings.Contains(errOut, "stop it first") {
		t.Errorf("while the store is open: exit %d, %s", code, errOut)
	}
	if code, _, _ := run("-data", t.TempDir()); code != 2 {
		t.Errorf("no store: exit %d", code)
	}
}

// A value damaged inside an intact frame reads as a record but does not
// decode: check lists it and says what the hub will do about it.
func TestCheckCommandDamagedValue(t *testing.T) {
	dir := storeWithData(t)
	path := filepath.Join(dir, store.FileName)
	data, _ := os.ReadFile(path)
	i := bytes.Index(data, []byte(`"type":"car"`))
	copy(data[i:], `"type":"c#r"`)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run("-data", dir)
	if code != 1 || !strings.Contains(out, `damaged value "unit:car-1"`) || !strings.Contains(out, "units.log is used") ||
		!strings.Contains(out, "DAMAGED VALUES") {
		t.Errorf("exit %d, want 1 naming unit:car-1 and its journalled enrolment:\n%s", code, out)
	}
	os.Remove(filepath.Join(dir, store.JournalName))
	if _, out, _ := run("-data", dir); !strings.Contains(out, "must be enrolled again") {
		t.Errorf("without units.log, check does not say car-1 must be enrolled again:\n%s", out)
	}
}

// hub check reads the history too: a day that does not open is named
// (exit 1), and -repair sets it aside (exit 0, the rest of the history kept).
func TestCheckHistory(t *testing.T) {
	dir := storeWithData(t)
	if code, out, errOut := run("-data", dir); code != 0 || !strings.Contains(out, "(200 positions)") {
		t.Fatalf("clean store: exit %d\n%s%s", code, out, errOut)
	}
	manifests, _ := filepath.Glob(filepath.Join(dir, store.HistoryDir, "positions", "*", "MANIFEST-*"))
	if len(manifests) == 0 {
		t.Fatal("no history day")
	}
	for _, m := range manifests {
		os.Remove(m)
	}
	code, out, _ := run("-data", dir)
	t.Logf("hub check, a day of history without its MANIFEST (exit %d):\n%s", code, out)
	if code != 1 || !strings.Contains(out, "DAMAGED HISTORY") {
		t.Errorf("exit %d, want 1 and the damage named", code)
	}
	code, out, _ = run("-data", dir, "-repair")
	t.Logf("hub check -repair (exit %d):\n%s", code, out)
	if code != 0 || !strings.Contains(out, "set aside as") {
		t.Errorf("-repair: exit %d, want 0 and the day set aside", code)
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, store.HistoryDir, "positions", "*.corrupt-*")); len(aside) != 1 {
		t.Errorf("set aside: %v", aside)
	}
	if code, out, _ := run("-data", dir); code != 0 {
		t.Errorf("after -repair: exit %d\n%s", code, out)
	}
}
